"""Model workers: the only threads that run the model, with micro-batching of decodes.

A server answers many people at once from many threads (Gradio's workers). If each ran the
model itself, two forward passes would each use every torch thread and fight over the cores.
Instead request threads hand their model calls to `ModelWorkers`: `workers` threads, each using
`threads` torch threads (workers x threads <= cores). While calls come one at a time (fewer
than CROWD_CALLS arrived in the last `crowd_s` while another was running or waiting), they run
one after another, each on all workers x threads (at most OMP_NUM_THREADS, where it is set):
one person moving a slider gets both cores of a 2-core machine (a 512 px decode in about 60% of
the time, AVX2 float32); under load each worker runs its own calls side by side on its own
threads. A call submitted with a batch key waits
up to `window_s` for others with the same key (the same canvas shape, style shape and
tiling); those run through the model as one batch. Everything else a request does (loading,
PNG writing) stays in its own thread, alongside. With `workers=0` every call runs inline in
its caller's thread, unbatched: for ZeroGPU Spaces, where model calls must run inside the
`spaces.GPU` function itself.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cache

import torch

CROWD_CALLS = 4  # calls arriving beside others within `crowd_s` that make the workers side by side


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(concurrency: int, device: torch.device, zero_gpu: bool = False) -> int:
    """Model workers when none are asked for. On a ZeroGPU Space 0: each request runs the model
    inside its own `spaces.GPU` call. On a CPU one per request in flight, up to one per core,
    the cores split between them: two single-threaded workers do more work than one with both
    threads (`bench --load`, 8 clients: 15.0 against 12.2 requests/s on the 2-core Xeon of
    2026-12-05; 10.7 against 10.0 on the EPYC of 2026-12-02), and a call that runs alone gets
    both threads all the same (`ModelWorkers`: a 512 px decode 213 -> 133 ms on 2 AVX2 cores
    in float32). On an accelerator 1: it runs one forward at a time anyway, and batches carry
    the rest."""
    if zero_gpu:
        return 0
    if device.type != "cpu":
        return 1
    return max(1, min(concurrency, available_cores()))


@dataclass
class _Job:
    key: Hashable | None  # jobs with equal keys may run as one batch; None: always alone
    run: Callable  # batched: list of items -> list of results; alone: () -> result
    item: object = None
    future: Future = field(default_factory=Future)


class ModelWorkers:
    """`workers` threads running model calls, `threads` torch threads each; decodes of the
    same kind arriving within `window_s` of each other run as one batch of <= `max_batch`."""

    def __init__(self, workers: int = 1, threads: int | None = None, window_s: float = 0.005,
                 max_batch: int = 8, crowd_s: float = 1.0):
        self.workers = max(0, workers)
        self.threads = threads or max(1, available_cores() // max(1, self.workers))
        self.window_s, self.max_batch = window_s, max(1, max_batch)
        self.crowd_s = crowd_s
        # what a call coming alone may take: every worker's threads, within OMP_NUM_THREADS
        limit = os.environ.get("OMP_NUM_THREADS", "")
        self.most = self.threads * max(1, self.workers)
        if limit.isdigit() and int(limit) > 0:
            self.most = max(self.threads, min(self.most, int(limit)))
        self.batches = 0  # model calls run, and the items they carried: the batching's effect
        self.items = 0
        self._jobs: deque[_Job] = deque()
        self._busy = 0  # workers running a job
        self._crowded: deque[float] = deque()  # when calls arrived while another ran or waited
        self._cond = threading.Condition()
        self._started_in: int | None = None  # the process the threads run in
        if hasattr(os, "register_at_fork"):  # a forked child has no workers and a fresh lock
            me = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: (w := me()) is not None and w._reset())

    def _reset(self) -> None:
        self._jobs, self._cond, self._started_in = deque(), threading.Condition(), None
        self._busy, self._crowded = 0, deque()

    def call(self, fn: Callable, *args, **kwargs):
        """fn(*args, **kwargs) on a model worker, alone; its result (or its exception)."""
        if not self.workers:
            return fn(*args, **kwargs)
        return self._submit(_Job(None, lambda: fn(*args, **kwargs)))

    def batched(self, key: Hashable, run: Callable[[list], list], item):
        """`run([item, ...])[i]` for this item, run with others of the same `key`."""
        if not self.workers:
            return run([item])[0]
        return self._submit(_Job(key, run, item))

    def _submit(self, job: _Job):
        with self._cond:
            if self._started_in != os.getpid():  # on first use: an idle engine has no threads
                self._started_in = os.getpid()
                for i in range(self.workers):
                    threading.Thread(target=self._work, name=f"artvae-model-{i}",
                                     daemon=True).start()
            if self._busy or self._jobs:
                self._crowded.append(time.monotonic())
            self._jobs.append(job)
            self._cond.notify_all()  # a worker holding a window open must not take the wake-up
        return job.future.result()

    def _take(self) -> tuple[list[_Job], int]:
        """(the next job and the others of its key that come within the window, the torch
        threads to run them on). While calls come one at a time (`_serial`), a job waits for the
        one running and takes every worker's threads."""
        with self._cond:
            while not self._jobs or (self._busy and self._serial()):
                self._cond.wait()
            batch = [self._jobs.popleft()]
            key = batch[0].key
            deadline = time.monotonic() + self.window_s
            while key is not None:
                for job in [j for j in self._jobs if j.key == key][:self.max_batch - len(batch)]:
                    self._jobs.remove(job)
                    batch.append(job)
                left = deadline - time.monotonic()
                if len(batch) >= self.max_batch or left <= 0:
                    break
                self._cond.wait(left)
            self._busy += 1
            return batch, self.most if self._serial() else self.threads

    def _serial(self) -> bool:
        """Whether calls come one at a time: fewer than CROWD_CALLS arrived beside others in
        the last crowd_s (hold the lock)."""
        now = time.monotonic()
        while self._crowded and now - self._crowded[0] > self.crowd_s:
            self._crowded.popleft()
        return len(self._crowded) < CROWD_CALLS

    def _work(self) -> None:
        threads = 0
        while True:
            batch, wanted = self._take()
            if wanted != threads:  # per thread: OpenMP's setting is thread-local
                torch.set_num_threads(threads := wanted)
            self.batches, self.items = self.batches + 1, self.items + len(batch)
            try:
                if batch[0].key is None:
                    results = [batch[0].run()]
                else:
                    results = batch[0].run([job.item for job in batch])
            except BaseException as e:  # each caller gets the error, the worker goes on
                for job in batch:
                    job.future.set_exception(e)
                continue
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()  # a job waiting for this one (`_serial`) goes next
            for job, result in zip(batch, results, strict=True):
                job.future.set_result(result)
            del results, batch
            release_memory()


@cache
def _libc():
    """glibc's C library, or None (musl, macOS, Windows: nothing to tune)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def steady_memory(arenas_per_core: int = 2) -> bool:
    """Bound a long-running server's heap (glibc only; False elsewhere): at most
    `arenas_per_core` malloc arenas per core, however many request threads there are. With
    `release_memory` after model calls, freed image-sized buffers go back to the system
    instead of staying in per-thread heaps (a fixed low mmap threshold would do it too, but
    page-faulting every buffer afresh halved decode speed here)."""
    libc = _libc()
    m_arena_max = -8  # from malloc.h
    return libc is not None and libc.mallopt(m_arena_max, arenas_per_core * available_cores()) == 1


_trimmed = [0.0]


def release_memory(every_s: float = 1.0) -> None:
    """malloc_trim: hand freed heap pages back to the system, at most once per `every_s`."""
    now = time.monotonic()
    if now - _trimmed[0] < every_s:
        return
    _trimmed[0] = now
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

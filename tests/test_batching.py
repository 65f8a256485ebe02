"""Model workers: the only threads that run the model; concurrent decodes share a batch."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from artvae.measure.loadtest import ROOT
from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops.latent import Code
from artvae.serve.batching import CROWD_CALLS, ModelWorkers
from artvae.serve.engine import Engine


def codes(n: int, seed: int = 0) -> list[Code]:
    g = torch.Generator().manual_seed(seed)
    return [Code(torch.randn(1, 4, 5, 6, generator=g), torch.randn(1, 8, generator=g), (40, 44))
            for _ in range(n)]


def concurrently(fn, args: list) -> list:
    results = [None] * len(args)

    def run(i):
        results[i] = fn(args[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_decodes_share_one_batch_and_match_their_single_decodes():
    torch.manual_seed(0)
    # a long window that closes as soon as the batch is full: no timing in the test
    engine = Engine(model=ArtVAE(ModelConfig.tiny()), device="cpu", batch_window_ms=60_000,
                    max_batch=4)
    batch = codes(4)
    together = concurrently(lambda c: engine.decode_tensor(c, tileable=True), batch)
    assert (engine.workers.batches, engine.workers.items) == (1, 4)
    alone = Engine(model=engine.model, device="cpu", max_batch=1)
    for code, image in zip(batch, together, strict=True):
        assert image.shape == (1, 3, 40, 44)
        assert torch.allclose(image, alone.decode_tensor(code, tileable=True), atol=1e-5)


def test_decodes_of_different_kinds_are_not_batched_together():
    engine = Engine(model=ArtVAE(ModelConfig.tiny()), device="cpu", batch_window_ms=0)
    a, b = codes(2)
    engine.decode_tensor(a, tileable=True)
    engine.decode_tensor(b, tileable=False)
    assert (engine.workers.batches, engine.workers.items) == (2, 2)


def test_an_error_reaches_its_caller_and_the_worker_goes_on():
    workers = ModelWorkers(workers=1, threads=1)

    def fail():
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        workers.call(fail)
    assert workers.call(lambda: 2 + 2) == 4


def test_workers_run_with_their_own_torch_thread_count():
    before = torch.get_num_threads()
    assert ModelWorkers(workers=1, threads=1).call(torch.get_num_threads) == 1
    assert torch.get_num_threads() == before  # the request's thread keeps its own


def test_calls_one_at_a_time_run_in_turn_on_every_workers_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # set for test workers (conftest)
    assert ModelWorkers(workers=2, threads=1).most == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a limit the process was given holds
    assert ModelWorkers(workers=2, threads=1).most == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    workers = ModelWorkers(workers=2, threads=1)
    assert workers.call(torch.get_num_threads) == 2  # nothing else running: both cores
    started, go, out = threading.Event(), threading.Event(), {}

    def first():
        threads = torch.get_num_threads()  # read at once: torch reports the last one set
        started.set()
        go.wait(10)
        return threads

    a = threading.Thread(target=lambda: out.update(first=workers.call(first)))
    a.start()
    assert started.wait(10)
    b = threading.Thread(target=lambda: out.update(second=workers.call(torch.get_num_threads)))
    b.start()
    b.join(0.3)
    assert b.is_alive()  # one call beside another is not a crowd: it waits its turn
    go.set()
    a.join(10)
    b.join(10)
    assert out == {"first": 2, "second": 2}


def test_crowded_calls_run_side_by_side_on_their_own_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    workers = ModelWorkers(workers=2, threads=1, crowd_s=60)
    started, go = threading.Event(), threading.Event()
    blocker = threading.Thread(target=lambda: workers.call(
        lambda: started.set() or go.wait(10)))
    blocker.start()
    assert started.wait(10)
    answers = []
    callers = [threading.Thread(target=lambda: answers.append(
        workers.call(torch.get_num_threads))) for _ in range(CROWD_CALLS)]
    try:
        for caller in callers:
            caller.start()
        for caller in callers:  # answered by the other worker while the first call still runs
            caller.join(10)
        assert answers == [1] * CROWD_CALLS
    finally:
        go.set()
        blocker.join(10)


def test_no_workers_runs_calls_inline_in_the_callers_thread():
    workers = ModelWorkers(workers=0)
    assert workers.call(threading.get_ident) == threading.get_ident()
    assert workers.batched("k", lambda items: [x * 2 for x in items], 21) == 42


def test_bench_canvas_times_a_tileable_blend_and_reports_peak_memory(monkeypatch):
    """One warm-up blend, then `repeats` tileable blends on the canvas, each timed; the peak is
    the process's, in MB."""
    import resource

    from artvae.measure.bench import bench_canvas

    engine = Engine(model=ArtVAE(ModelConfig.tiny()), device="cpu")
    blends, blend = [], engine.blend
    monkeypatch.setattr(engine, "blend", lambda *a, **k: blends.append(k) or blend(*a, **k))
    mb_before = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    start = time.perf_counter()
    result = bench_canvas(engine, 64, repeats=2)
    seconds = time.perf_counter() - start
    mb_after = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    assert blends == [{"tileable": True},
                      {"tileable": True, "size": (64, 64)}, {"tileable": True, "size": (64, 64)}]
    assert result["side"] == 64 and len(result["blend_tileable_seconds"]) == 2
    assert sum(result["blend_tileable_seconds"]) <= seconds + 0.01  # each rounded to 0.01 s
    assert mb_before <= result["rss_before_mb"] <= result["peak_rss_mb"] <= mb_after


def test_load_benchmark_mixes_endpoints_with_fresh_parameters():
    import itertools
    import random

    from artvae.measure.loadtest import _quantile, _requests

    files = [{"path": str(i)} for i in range(4)]
    calls = list(itertools.islice(_requests(files, itertools.count(), random.Random(0)), 400))
    kinds = [k for k, _ in calls]
    assert (kinds.count("blend"), kinds.count("encode"), kinds.count("sample")) == (200, 100, 100)
    ts = [data[2] for k, data in calls if k == "blend"]
    seeds = [data[0] for k, data in calls if k == "sample"]
    assert len(set(ts)) == len(ts) and len(set(seeds)) == len(seeds)  # no result repeats
    assert _quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) == 10


def test_load_benchmark_sends_every_parameter_of_each_endpoint():
    """Over plain HTTP Gradio wants every input in order: a call one value short fails (as
    /sample did once it gained `offsets`), so each request must match its endpoint's signature."""
    import inspect
    import itertools
    import random

    from artvae.measure.loadtest import _requests
    from artvae.serve.webapi import endpoints

    signatures = {fn.__name__: inspect.signature(fn) for fn in endpoints(None, None)}
    files = [{"path": str(i)} for i in range(4)]
    for kind, data in itertools.islice(_requests(files, itertools.count(), random.Random(0)), 8):
        assert len(data) == len(signatures[kind].parameters), kind


def test_http_calls_share_a_session_when_given_one():
    """A load client keeps one Gradio session (`session_hash`), as a page does; without one
    the server opens a session per call."""
    from artvae.measure.bench import call_over_http

    class Recorder:
        """Just enough of httpx.Client: records each post's body, answers with a result."""

        def __init__(self):
            self.bodies = []

        def post(self, url, json):
            self.bodies.append(json)
            return FakeAnswer({"event_id": "e1"})

        def stream(self, method, url):
            return FakeStream(['event: complete', 'data: [{"url": "/file=r.png"}, {}]'])

        def get(self, url):
            return FakeAnswer(None, content=b"png")

    http = Recorder()
    assert call_over_http(http, "blend", [1], session="s1") == b"png"
    call_over_http(http, "blend", [2])
    assert http.bodies == [{"data": [1], "session_hash": "s1"}, {"data": [2]}]


class FakeAnswer:
    def __init__(self, payload, content=b""):
        self.payload, self.content = payload, content

    def raise_for_status(self):
        return self

    def json(self):
        return self.payload


class FakeStream:
    def __init__(self, lines):
        self.lines = lines

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_lines(self):
        return iter(self.lines)


def test_app_serving_options_default_to_the_measured_settings():
    from app import parse_args  # `python -m pytest` runs from the repository root

    args = parse_args([])
    assert (args.concurrency, args.queue_size, args.sessions) == (2, 64, 500)
    assert args.workers is None and args.batch_window_ms is None  # chosen for the device
    args = parse_args(["--workers", "2", "--threads", "1", "--precision", "bfloat16"])
    assert (args.workers, args.threads, args.precision) == (2, 1, "bfloat16")


FAKE_APP = """
import sys, time
print("Running on local URL:  http://127.0.0.1:1", flush=True)
time.sleep(600)
"""

BENCH = """
import sys, tempfile
from pathlib import Path
from artvae.measure.loadtest import serving
with tempfile.TemporaryDirectory() as scratch, \\
        serving([], Path(scratch), program=(sys.argv[1],)) as (proc, url):
    print(proc.pid, flush=True)
    import time
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended, its parent just has not reaped it


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_benchmark_that_is_stopped_stops_the_app_it_started(tmp_path, how):
    fake = tmp_path / "fake_app.py"
    fake.write_text(FAKE_APP)
    bench = subprocess.Popen([sys.executable, "-c", BENCH, str(fake)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        app_pid = int(bench.stdout.readline())
        assert _alive(app_pid)
        bench.send_signal(how)
        bench.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(app_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(app_pid), f"the app outlived a benchmark stopped by {how.name}"
    finally:
        bench.kill()


def test_default_workers_one_per_request_in_flight_up_to_the_cores(monkeypatch):
    import artvae.serve.batching as batching

    monkeypatch.setattr(batching, "available_cores", lambda: 2)
    cpu = torch.device("cpu")
    assert batching.default_workers(2, cpu) == 2  # each single-threaded
    assert batching.default_workers(8, cpu) == 2  # never more than the cores
    assert batching.default_workers(1, cpu) == 1
    assert batching.default_workers(2, torch.device("cuda")) == 1  # batches carry the rest
    assert batching.default_workers(2, cpu, zero_gpu=True) == 0  # spaces.GPU in the request
    assert ModelWorkers(batching.default_workers(2, cpu)).threads == 1


def test_a_call_is_fitted_to_the_endpoints_inputs():
    """A revision measured as --baseline may take fewer or more inputs than this one."""
    from artvae.measure.loadtest import fitted

    assert fitted([1, 2, 3], 2) == [1, 2]
    assert fitted([1, 2], 4) == [1, 2, None, None]
    assert fitted([1, 2], None) == [1, 2]


def test_a_baseline_revision_is_checked_out_beside_and_removed_after():
    import subprocess

    from artvae.measure.loadtest import revision_tree

    with revision_tree("HEAD") as tree:
        assert (tree / "app.py").is_file() and (tree / "artvae" / "__init__.py").is_file()
        listed = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"],
                                capture_output=True, text=True, check=True).stdout
        assert str(tree) in listed
    assert not tree.exists()


def test_speed_figures_name_the_cpu_and_its_kernels(monkeypatch):
    from artvae.model.device import ISA_FLAGS, cpu_description

    monkeypatch.setenv("ARTVAE_PRECISION", "float32")
    machine = cpu_description()
    assert machine["precision"] == "float32" and machine["cores"] >= 1
    assert set(machine["instruction_sets"]) <= set(ISA_FLAGS)
    assert machine["aten_kernels"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON",
                                       "SVE256")

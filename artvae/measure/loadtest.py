"""Load benchmark: many clients at once against `python app.py`, over plain HTTP on loopback.

`python -m artvae bench --load --clients 16 --requests 300 --max-seconds 600` starts the app
itself on a free 127.0.0.1 port, uploads a few 512 px textures once, then lets each client send
`requests` calls in turn, a mix of /blend (half), /encode and /sample, each with parameters no
other call used (t, seeds), so every call runs the model. A call is what a page or curl does:
post, read the event stream to its result, download the PNG. Each client keeps one Gradio
session for its calls, as a page and a gradio_client do (`--session-per-call`: a new session
for every call, as curl without a `session_hash` gets; the server then builds a session state
per call). Bounded in count and in time (no new call starts after --max-seconds). Prints
errors, requests per second, p50/p95 per endpoint and the server's resident memory at start,
after warm-up, at call 1000 and at the end; the last line is one JSON object. A benchmark to
report, not a test: timings on a shared machine vary.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import select
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from artvae.model.device import cpu_description

from .bench import call_over_http

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py, examples/
EXAMPLES = ("bricks", "wood", "marble", "cells")
SIDE = 512  # input and output side of every call
WARM_UP = 50  # calls before the "after warm-up" memory reading
MARK = 1000  # the call count the memory growth is measured from


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def _die_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when the benchmark dies, however it
    dies (even SIGKILL), so no app is left serving on its own."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextmanager
def _stopped_by_signals():
    """SIGTERM and SIGHUP end the benchmark as Ctrl-C does (SystemExit runs the `finally`
    blocks that stop the app); Python's default would end it on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextmanager
def serving(app_args: list[str], scratch: Path, startup_s: float = 300,
            program: tuple[str, ...] = ("app.py",), root: Path = ROOT):
    """`python app.py --port P APP_ARGS` on 127.0.0.1, run in `root` (a checkout); yields
    (process, url). The app stops when this ends, also on SIGTERM or SIGHUP, and with the
    benchmark's process on Linux. `program`: what python runs instead of app.py (tests)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "GRADIO_TEMP_DIR": str(scratch / "gradio"), "TMPDIR": str(scratch),
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root)}
    with _stopped_by_signals():
        proc = subprocess.Popen(
            [sys.executable, *program, "--host", "127.0.0.1", "--port", str(_free_port()),
             *app_args], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        yield from _until_stopped(proc, startup_s)


def _until_stopped(proc: subprocess.Popen, startup_s: float):
    """`serving`'s body: wait for the app's URL, yield it, and stop the app afterwards."""
    try:
        seen, deadline, url = [], time.monotonic() + startup_s, None
        while url is None and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
            line = proc.stdout.readline() if ready else ""
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            found = re.search(r"Running on local URL:\s+(\S+)", line)
            url = found[1].rstrip("/") if found else None
        if url is None:
            raise RuntimeError("the app did not start:\n" + "".join(seen[-30:]))
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # never block its pipe
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def call(http, api: str, data: list, session: str | None = None) -> float:
    """One call in Gradio's HTTP protocol, result PNG downloaded; returns seconds taken."""
    start = time.perf_counter()
    call_over_http(http, api, data, session)
    return time.perf_counter() - start


def _inputs(scratch: Path) -> list[Path]:
    """The example textures at SIDE px (they ship at 256)."""
    from PIL import Image

    paths = []
    for name in EXAMPLES:
        path = scratch / f"{name}-{SIDE}.png"
        Image.open(ROOT / "examples" / f"{name}.png").convert("RGB").resize(
            (SIDE, SIDE), Image.Resampling.LANCZOS).save(path)
        paths.append(path)
    return paths


def fitted(data: list, count: int | None) -> list:
    """A call's values cut or padded (None: the parameter's default) to the `count` inputs an
    endpoint has: over plain HTTP Gradio wants every one, and a revision measured as
    `--baseline` may have fewer or more than this one."""
    if count is None:
        return data
    return data[:count] + [None] * (count - len(data))


def parameter_counts(http) -> dict[str, int]:
    """{endpoint: how many inputs it takes} from the running app's API description."""
    info = http.get("/gradio_api/info").raise_for_status().json()["named_endpoints"]
    return {name.lstrip("/"): len(spec["parameters"]) for name, spec in info.items()}


@contextmanager
def revision_tree(rev: str):
    """A checkout of git revision `rev` of this repository in a temporary folder (a detached
    git worktree, removed afterwards); yields its path."""
    folder = Path(tempfile.mkdtemp(prefix="artvae-baseline-"))
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "--detach", str(folder), rev], check=True,
                   capture_output=True, text=True)
    try:
        yield folder
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(folder)],
                       capture_output=True, text=True)


def _requests(files: list[dict], seeds: itertools.count, rng: random.Random):
    """An endless mix: blend, encode, blend, sample, ... each with fresh parameters."""
    for i in itertools.count():
        kind = ("blend", "encode", "blend", "sample")[i % 4]
        if kind == "blend":
            a, b = rng.sample(files, 2)
            yield kind, [a, b, round(rng.random(), 6), "full", "left-right", None, False, None]
        elif kind == "encode":
            yield kind, [rng.choice(files), False, None]
        else:
            yield kind, [next(seeds), SIDE, False, 1.0, None, False, None, None]


def run_load(clients: int = 16, requests: int = 300, max_seconds: float = 600,
             app_args: list[str] | None = None, session_per_call: bool = False,
             root: Path = ROOT) -> dict:
    """Start the app (of the checkout `root`), run `clients` x `requests` mixed calls, report
    (see the module doc) with the CPU it ran on."""
    import httpx

    with tempfile.TemporaryDirectory(prefix="artvae-load-") as tmp, \
            serving(app_args or [], Path(tmp), root=root) as (proc, url):
        scratch = Path(tmp)
        rss = {"start": _rss_mb(proc.pid)}
        with httpx.Client(base_url=url, timeout=120) as http:
            files = []
            for path in _inputs(scratch):
                with open(path, "rb") as f:
                    sent = http.post("/gradio_api/upload", files={"files": f}).raise_for_status()
                files.append({"path": sent.json()[0], "meta": {"_type": "gradio.FileData"}})
            counts = parameter_counts(http)
            for file in files:  # encodings cached before the clock starts, as after a first use
                call(http, "encode", fitted([file, False], counts.get("encode")))

        lock = threading.Lock()
        times: dict[str, list[float]] = {"blend": [], "encode": [], "sample": []}
        errors: list[str] = []
        done = itertools.count(1)
        seeds = itertools.count(1000)
        samples: list[tuple[int, float]] = []
        deadline = time.monotonic() + max_seconds

        def client(index: int) -> None:
            rng = random.Random(index)
            session = None if session_per_call else uuid.uuid4().hex
            with httpx.Client(base_url=url, timeout=120) as http:
                for kind, data in itertools.islice(_requests(files, seeds, rng), requests):
                    if time.monotonic() > deadline:
                        return
                    try:
                        seconds = call(http, kind, fitted(data, counts.get(kind)), session)
                    except Exception as e:  # counted, reported, the run goes on
                        with lock:
                            errors.append(f"{kind}: {type(e).__name__}: {str(e)[:200]}")
                        continue
                    with lock:
                        times[kind].append(seconds)
                        n = next(done)
                        if n == WARM_UP or n % 250 == 0:
                            samples.append((n, _rss_mb(proc.pid)))

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        rss["end"] = _rss_mb(proc.pid)

    calls = sum(len(v) for v in times.values())
    by_count = dict(samples)
    rss["after_warm_up"] = by_count.get(WARM_UP)
    rss[f"at_call_{MARK}"] = by_count.get(MARK)
    result = {
        "clients": clients, "requests_per_client": requests, "app_args": app_args or [],
        "sessions": "one per call" if session_per_call else "one per client",
        "calls": calls, "errors": len(errors), "seconds": round(wall, 1),
        "requests_per_s": round(calls / wall, 2),
        "ms": {k: {"p50": round(1000 * statistics.median(v), 1),
                   "p95": round(1000 * _quantile(v, 0.95), 1), "calls": len(v)}
               for k, v in times.items() if v},
        "rss_mb": rss, "rss_every_250_calls": samples,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": cpu_description(),
    }
    if rss[f"at_call_{MARK}"]:
        result[f"rss_growth_after_call_{MARK}_pct"] = round(
            100 * (rss["end"] / rss[f"at_call_{MARK}"] - 1), 1)
    if errors:
        result["first_errors"] = errors[:5]
    return result


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(label: str, result: dict) -> None:
    for kind, ms in result["ms"].items():
        print(f"{label}/{kind:7s} p50 {ms['p50']:7.1f} ms  p95 {ms['p95']:7.1f} ms  "
              f"({ms['calls']} calls)")
    print(f"{label}{result['calls']} calls, {result['errors']} errors, "
          f"{result['requests_per_s']} requests/s; server RSS MB {result['rss_mb']}")


def main(clients: int, requests: int, max_seconds: float, app_args: str,
         session_per_call: bool = False, baseline: str | None = None) -> dict:
    """Run the load benchmark and print it; with `baseline` (a git revision), that revision's
    app is measured first with the same settings, in the same sitting, and the ratio printed
    (the last line's JSON then holds both)."""
    args = (clients, requests, max_seconds, shlex.split(app_args), session_per_call)
    before = None
    if baseline:
        with revision_tree(baseline) as tree:
            before = run_load(*args, root=tree)
        _summary(f"[{baseline}] ", before)
    result = run_load(*args)
    _summary("[this checkout] " if baseline else "", result)
    print(f"machine: {json.dumps(result['machine'])}")
    if before is not None:
        ratio = round(result["requests_per_s"] / max(before["requests_per_s"], 1e-9), 3)
        print(f"requests/s: {result['requests_per_s']} against {before['requests_per_s']} "
              f"at {baseline}: {ratio}x")
        result = {**result, "baseline": {"revision": baseline, **before},
                  "ratio_requests_per_s": ratio}
    print(json.dumps(result))
    return result

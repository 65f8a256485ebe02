"""The CUDA path checked on a lent GPU machine in one command, with a report.

    python -m artvae.gpu_check                  # all steps; report in $OUT, else runs/gpu-check
    python -m artvae.gpu_check --skip train     # the checks alone (a few minutes)
    python -m artvae.gpu_check --only train --train-args "--ae-minutes 4"

Steps, in order; each is timed, and the report (gpu_check.json and gpu_check.md, with each
command's output in logs/) is written before and after each, so a machine taken back mid-run
still leaves what finished and marks the step it cut off:
1. tests: `pytest tests/test_cuda.py`, the tests that skip without CUDA (a skip fails here).
2. bench: `python -m artvae bench --json --device cuda --sample 512 2048` (encode and decode
   at 256 and 512 px, a tileable sample at 512 and 2048 px), then `--canvas 2048` (a tileable
   blend decoded on a 2048 px canvas) in a fresh process, for a clean peak memory.
3. app: `python app.py --device cuda` on a free loopback port: its first page fetched and one
   `/encode` call made with gradio_client, then stopped.
4. train: `python -m artvae train-gpu --data data/pack --out runs/wide` (the prepared run,
   resumed where an earlier call stopped); its state.json goes into the report and its final
   weights, when there, are copied to REPORT/weights to bring back.
Where PyTorch sees no CUDA GPU it says so, writes that in the report and exits with status 2,
running none of the steps. Exit status 1: a step failed; 0: all passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("tests", "bench", "app", "train")
TAIL = 3_000  # characters of each command's output kept in the report
NO_CUDA = 2


def run_command(command: list[str], log: Path, timeout: float) -> dict:
    """Run `command` in the repository root, its output streamed to `log` (so a machine taken
    back mid-command still leaves it): exit status, seconds, the end of the output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "w") as out:
        try:
            rc = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    output = log.read_text(errors="replace")
    return {"command": shlex.join(command), "rc": rc, "log": str(log),
            "seconds": round(time.monotonic() - started, 1), "output_tail": output[-TAIL:]}


def last_json(output: str) -> dict | None:
    """The last line of `output` that is a JSON object (bench prints its result so)."""
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


# ---- the steps: each returns {"ok": bool, ...} ------------------------------------------------


def check_tests(args: argparse.Namespace) -> dict:
    result = run_command([sys.executable, "-m", "pytest", "tests/test_cuda.py", "-q", "-rs",
                          "-p", "no:cacheprovider"], args.report / "logs" / "tests.log", 600)
    summary = [line.strip("= ") for line in result["output_tail"].splitlines()
               if re.search(r"\d+ (passed|failed|skipped|errors?)\b", line)]
    result["summary"] = summary[-1] if summary else None  # "5 passed in 40.1s"
    result["ok"] = result["rc"] == 0 and "skipped" not in (result["summary"] or "skipped")
    return result


def check_bench(args: argparse.Namespace) -> dict:
    bench = [sys.executable, "-m", "artvae", "bench", "--json", "--device", "cuda"]
    logs = args.report / "logs"
    runs = {"model": run_command([*bench, "--sample", "512", "2048"], logs / "bench.log", 600),
            "canvas": run_command([*bench, "--canvas", "2048"], logs / "bench-canvas.log", 600)}
    for result in runs.values():
        result["result"] = last_json(result["output_tail"])
    ok = all(r["rc"] == 0 and r["result"] is not None for r in runs.values())
    ok = ok and str(runs["model"]["result"].get("device", "")).startswith("cuda")
    return {"ok": ok, "seconds": round(sum(r["seconds"] for r in runs.values()), 1), **runs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_app(args: argparse.Namespace, device: str = "cuda", startup_s: float = 240) -> dict:
    """Start the app as people do, fetch its first page, make one API call, stop it."""
    import httpx
    from gradio_client import Client, handle_file

    started = time.monotonic()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "app.py", "--port", str(free_port()), "--device", device]
    app = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    result: dict = {"command": shlex.join(command), "ok": False}
    try:
        url = None
        while url is None and time.monotonic() - started < startup_s:
            ready, _, _ = select.select([app.stdout], [], [], 1.0)
            line = app.stdout.readline() if ready else ""
            if not line and app.poll() is not None:
                break
            seen.append(line)
            found = re.search(r"Running on local URL:\s+(\S+)", line)
            url = found[1].rstrip("/") if found else None
        result["startup_seconds"] = round(time.monotonic() - started, 1)
        if url is None:
            result["error"] = "the app did not print its URL"
            return result
        clock = time.monotonic()
        page = httpx.get(url + "/", timeout=60)
        result["page"] = {"status": page.status_code, "bytes": len(page.content),
                          "ms": round((time.monotonic() - clock) * 1000)}
        clock = time.monotonic()
        client = Client(url, verbose=False)
        output = client.predict(handle_file(str(ROOT / "examples" / "bricks.png")),
                                api_name="/encode")
        first = output[0] if isinstance(output, (list, tuple)) else output
        result["encode"] = {"ms": round((time.monotonic() - clock) * 1000),
                            "result": str(first)[-120:]}
        result["ok"] = page.status_code == 200 and Path(str(first)).is_file()
    except Exception as error:  # a report, not a traceback: the next steps still run
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        app.terminate()
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()
        result["seconds"] = round(time.monotonic() - started, 1)
        result["output_tail"] = "".join(seen)[-TAIL:]
    return result


def check_train(args: argparse.Namespace) -> dict:
    data, out = (path if path.is_absolute() else ROOT / path
                 for path in (Path(args.data), Path(args.train_out)))
    if not (data / "manifest.json").is_file():
        return {"ok": False, "error": f"no packed corpus at {data}: make it where the corpus "
                                      f"is (`python -m artvae.data pack --data data/corpus "
                                      f"--out data/pack`) and bring it along"}
    result = run_command([sys.executable, "-m", "artvae", "train-gpu", "--data", str(data),
                          "--out", str(out), *shlex.split(args.train_args)],
                         args.report / "logs" / "train.log", 3_600)
    state = out / "state.json"
    result["state"] = json.loads(state.read_text()) if state.is_file() else None
    result["ok"] = result["rc"] == 0 and (out / "final" / "model.safetensors").is_file()
    if result["ok"]:  # the weights to bring back, beside the report
        shutil.copytree(out / "final", args.report / "weights", dirs_exist_ok=True)
        shutil.copy(state, args.report / "weights" / "state.json")
        result["weights"] = str(args.report / "weights")
    return result


CHECKS = {"tests": check_tests, "bench": check_bench, "app": check_app, "train": check_train}


# ---- the report --------------------------------------------------------------------------------


def machine() -> dict:
    """What the check ran on."""
    import torch

    about = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
             "python": sys.version.split()[0]}
    if about["cuda"]:
        props = torch.cuda.get_device_properties(0)
        about.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                     cuda_version=torch.version.cuda, gpus=torch.cuda.device_count())
    return about


def write_report(folder: Path, report: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    lines = ["# GPU check", "", f"Machine: {json.dumps(report['machine'])}", ""]
    if report.get("verdict"):
        lines += [f"**{report['verdict']}**", ""]
    if report["steps"]:
        lines += ["| step | result | seconds | notes |", "|---|---|---|---|"]
    for name, step in report["steps"].items():
        outcome = "pass" if step.get("ok") else "cut off" if step.get("cut_off") else "FAIL"
        lines.append(f"| {name} | {outcome} | {step.get('seconds', '')} | {_notes(name, step)} |")
    (folder / "gpu_check.md").write_text("\n".join(lines) + "\n")


def _notes(name: str, step: dict) -> str:
    """A step's figures in a few words for the table (the JSON has everything)."""
    if step.get("error"):
        return step["error"].replace("|", "/")
    if name == "tests":
        return step.get("summary") or ""
    if name == "bench":
        model = (step.get("model") or {}).get("result") or {}
        canvas = (step.get("canvas") or {}).get("result") or {}
        return (f"decode ms {model.get('decode_ms')}, encode ms {model.get('encode_ms')}, "
                f"samples {model.get('samples')}, 2048 canvas "
                f"{canvas.get('blend_tileable_seconds')} s")
    if name == "app":
        return f"start {step.get('startup_seconds')} s, page {step.get('page')}, " \
               f"/encode {step.get('encode', {}).get('ms')} ms"
    if name == "train":
        finished = (step.get("state") or {}).get("finished", {})
        return ", ".join(f"{phase} {v['seconds']} s" for phase, v in finished.items())
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m artvae.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path,
                        help="folder for the report (default: $OUT, else runs/gpu-check)")
    parser.add_argument("--skip", nargs="+", choices=STEPS, default=[], help="steps to leave out")
    parser.add_argument("--only", nargs="+", choices=STEPS, help="only these steps")
    parser.add_argument("--data", default="data/pack", help="train: the packed corpus")
    parser.add_argument("--train-out", default="runs/wide", help="train: its run folder")
    parser.add_argument("--train-args", default="",
                        help='train: more options for train-gpu, e.g. "--ae-minutes 4"')
    args = parser.parse_args(argv)
    args.report = args.report or Path(os.environ.get("OUT") or ROOT / "runs" / "gpu-check")
    report = {"machine": machine(), "steps": {}}
    if not report["machine"]["cuda"]:
        report["verdict"] = ("No CUDA GPU here (torch.cuda.is_available() is False): nothing "
                             "was run. Run this on a machine with one.")
        write_report(args.report, report)
        print(report["verdict"], file=sys.stderr)
        return NO_CUDA
    for name in args.only or STEPS:
        if name in args.skip:
            continue
        print(f"[gpu_check] {name} ...", flush=True)
        # in the report before it runs: a machine taken back mid-step leaves this row
        report["steps"][name] = {"ok": False, "cut_off": True,
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_report(args.report, report)
        report["steps"][name] = CHECKS[name](args)
        write_report(args.report, report)
        print(f"[gpu_check] {name}: {'pass' if report['steps'][name]['ok'] else 'FAIL'} "
              f"({report['steps'][name].get('seconds')} s)", flush=True)
    passed = all(step["ok"] for step in report["steps"].values())
    report["verdict"] = "all steps passed" if passed else "some steps failed"
    write_report(args.report, report)
    print(f"[gpu_check] {report['verdict']}; report in {args.report}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

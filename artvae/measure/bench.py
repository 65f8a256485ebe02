"""Latency benchmark: median milliseconds to encode and decode one image, batch 1.

`python -m artvae bench --json` times the model as the engine runs it (device, dtype and memory
layout included) at 256 and 512 px, and prints one JSON object as its last line, plus peak memory.
It is a benchmark to report, not a test: timings on a shared machine vary.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # the command line builds the Engine and hands it in: measure never imports serve
    from artvae.serve.engine import Engine

SIZES = (256, 512)


def _median_ms(fn, device: torch.device, repeats: int) -> float:
    for _ in range(3):  # warm-up: oneDNN / cuDNN pick their kernels on the first calls
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def bench(engine: Engine, repeats: int = 20) -> dict:
    """Median encode/decode ms at each size, on the engine's device."""
    model, device = engine.model, engine.device
    result = {
        "encode_ms": {},
        "decode_ms": {},
        "device": str(device),
        "dtype": str(engine.dtype or torch.float32).replace("torch.", ""),
        "threads": torch.get_num_threads(),
    }
    generator = torch.Generator().manual_seed(0)
    for size in SIZES:
        x = (torch.rand(1, 3, size, size, generator=generator) * 2 - 1).to(device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), engine.autocast():
            q_s, q_w = model.encode(x)
            s, w = q_s.mode().contiguous(memory_format=torch.channels_last), q_w.mode()
            encode = lambda x=x: model.encode(x)  # noqa: E731 - bound per size
            decode = lambda s=s, w=w: model.decode(s, w)  # noqa: E731
            result["encode_ms"][str(size)] = _median_ms(encode, device, repeats)
            result["decode_ms"][str(size)] = _median_ms(decode, device, repeats)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if device.type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    result["parameters"] = sum(p.numel() for p in model.parameters())
    return result


def bench_sample(engine: Engine, side: int) -> dict:
    """Wall time of one tileable sample of side x side pixels, layout from the learned prior
    (where the weights have one) and from the fast random-phase sampler, and peak memory."""
    engine.sample(0, (256, 256), tileable=True)  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"side": side}
    modes = (("prior", False), ("fast", True)) if engine.model.prior is not None else (
        ("fast", True),)
    for name, fast in modes:
        start = time.perf_counter()
        engine.sample(1, (side, side), tileable=True, fast=fast)
        result[f"{name}_seconds"] = round(time.perf_counter() - start, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.update(peak_rss_mb=round(peak / 1024, 1),
                  peak_rss_growth_mb=round((peak - before) / 1024, 1))
    return result


def bench_canvas(engine: Engine, side: int, repeats: int = 2) -> dict:
    """Wall times of a tileable Blend of two examples on a side x side canvas (the decode a
    person waits for at the largest sizes), and the process's peak memory; run it in a fresh
    process, smallest side first, for the peak to mean anything."""
    a, b = (str(Path(__file__).resolve().parents[2] / "examples" / f"{n}.png")
            for n in ("bricks", "wood"))
    engine.blend(a, b, 0.5, tileable=True)  # encodings cached, kernels warm
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = []
    for i in range(repeats):
        start = time.perf_counter()
        engine.blend(a, b, 0.3 + 0.1 * i, tileable=True, size=(side, side))
        seconds.append(round(time.perf_counter() - start, 2))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"side": side, "blend_tileable_seconds": seconds, "peak_rss_mb": round(peak / 1024),
            "rss_before_mb": round(before / 1024), "load_average": os.getloadavg()[0]}


def bench_restyle(engine: Engine, count: int = 100, side: int = 512, batch: int = 8,
                  rounds: int = 2) -> dict:
    """Images per second restyling `count` images of side x side px (the examples, tiled
    2x2 and turned: a texture pack of one size) in `batch`es, beside one at a time, with a
    style image and a named edit where the weights have the controls. The two take turns,
    `rounds` times each, so a machine whose load drifts weighs on both alike."""
    from PIL import Image

    folder = Path(__file__).resolve().parents[2] / "examples"
    sources = [Image.open(p).convert("RGB") for p in sorted(folder.glob("*.png"))]
    images = []
    for i in range(count):
        tile = sources[i % len(sources)].resize((side // 2, side // 2))
        canvas = Image.new("RGB", (side, side))
        for x in (0, side // 2):
            for y in (0, side // 2):
                canvas.paste(tile, (x, y))
        images.append(canvas.rotate(90 * (i // len(sources) % 4)))
    edits = {"warmth": 1.0} if engine.controls is not None else {}
    engine.restyle(images[:2], sources[0], 1.0, edits, batch=2)  # kernels warm
    result = {"count": count, "side": side, "device": str(engine.device),
              "threads": engine.workers.threads, "edits": edits}
    runs: dict[str, list[float]] = {f"batch_{batch}": [], "one_at_a_time": []}
    for _ in range(rounds):
        for key, size in ((f"batch_{batch}", batch), ("one_at_a_time", 1)):
            start = time.perf_counter()
            made = engine.restyle(images, sources[0], 1.0, edits, batch=size)
            runs[key].append(round(count / (time.perf_counter() - start), 2))
            assert not any(isinstance(m, Exception) for m in made)
    for key, rates in runs.items():
        result[key] = {"images_per_s": rates, "best": max(rates)}
    result["load_average"] = os.getloadavg()[0]
    return result


def call_over_http(http, api: str, data: list, session: str | None = None) -> bytes:
    """One call of endpoint `api` in Gradio's HTTP protocol, as a page or curl makes it: post
    every parameter, read the event stream to its result, download the result PNG. `session`:
    a session hash the calls share, as a page's events and a gradio_client's calls do (None:
    the server opens a new session for the call, as for curl without one)."""
    body = {"data": data} | ({"session_hash": session} if session else {})
    answer = http.post(f"/gradio_api/call/{api}", json=body).raise_for_status()
    event = None
    with http.stream("GET", f"/gradio_api/call/{api}/{answer.json()['event_id']}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                result = json.loads(line.removeprefix("data:"))
                if event == "error":
                    raise RuntimeError(f"/{api} failed: {result}")
                return http.get(result[0]["url"]).raise_for_status().content
    raise RuntimeError(f"/{api}: the event stream ended without a result")


def bench_http(url: str, image_a: str, image_b: str, repeats: int = 20) -> dict:
    """Median latency of the app's /blend endpoint at t = 0, 0.1 ... over HTTP, encodings cached.

    Measured as a page or curl meets it: both images are uploaded once and then referred to,
    as the page does while its slider moves, and each call posts the request, reads the event
    stream and downloads the result PNG. gradio_client's figure comes too: it uploads both
    images on every call and polls its event stream every 50 ms, which it adds to each call."""
    import httpx
    from gradio_client import Client, handle_file

    result = {"url": url, "calls": repeats}
    with httpx.Client(base_url=url, timeout=60) as http:
        files = []
        for path in (image_a, image_b):
            with open(path, "rb") as f:
                sent = http.post("/gradio_api/upload", files={"files": f}).raise_for_status()
            files.append({"path": sent.json()[0], "meta": {"_type": "gradio.FileData"}})
        times = []
        for i in range(repeats + 2):
            start = time.perf_counter()
            call_over_http(http, "blend", [*files, (i % 10) / 10, "full", "left-right", None,
                                           False, None])  # every parameter, as curl would
            if i >= 2:  # the first calls encode and cache both images
                times.append((time.perf_counter() - start) * 1000)
    result["blend_http_ms_median"] = round(statistics.median(times), 1)
    result["blend_http_ms_max"] = round(max(times), 1)

    client = Client(url, verbose=False)
    times = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        client.predict(handle_file(image_a), handle_file(image_b), (i % 10) / 10,
                       api_name="/blend")
        if i >= 2:
            times.append((time.perf_counter() - start) * 1000)
    result["blend_gradio_client_ms_median"] = round(statistics.median(times), 1)
    return result


def run(engine: Engine, as_json: bool, repeats: int = 20,
        sample_sides: list[int] | None = None) -> dict:
    result = bench(engine, repeats)
    if sample_sides:  # smallest first: the peak memory is the process's, growing with the side
        result["samples"] = [bench_sample(engine, side) for side in sorted(sample_sides)]
    if not as_json:
        for op in ("encode_ms", "decode_ms"):
            for size, ms in result[op].items():
                print(f"{op[:-3]:>6} {size}x{size}: {ms:8.2f} ms")
    print(json.dumps(result))
    return result

"""The playground as a person meets it: `python -m artvae bench --browser`.

Starts `python app.py` on a free loopback port, opens it in Debian's Chromium (driven by
Playwright; no browser is downloaded), and drags the Blend tab's `t` slider back and forth as a
quick hand does: 25 moves 30 ms apart (about 14 a second, with Playwright's own time per move),
then a release. The drags reach one slider step further out
each time (0.9, 0.1, 0.91, 0.09, ...), so that each release lands on a value no earlier drag
showed at full size: the app keeps recent results, and a revisit would not measure making one
(once frames come at full size while dragging, every value a drag passes over is made). A
release that lands on a made value all the same is timed apart and left out of p50 / p95.
The page records, with a MutationObserver, the moment each new result image is decoded and
painted. Three figures come out: milliseconds from the mouse release to the first picture of
the released value on screen (a frame made while dragging, a quick frame, or the result; 0 where
one showed before the release) and to the release's own final image (p50, p95 over the rounds),
and the images shown per second while the slider was being dragged, beside the moves per second
(a page that keeps up shows one per move). Then as many quick flicks (three moves, release):
release to the final image. Then it uploads as many new 512 px images in the Encode tab and
times the first picture of each on screen and the settled reconstruction, from the moment the
file is handed to the page, and the first picture from the server's answer to the upload. It is
a benchmark to report, not a test: a shared CPU makes these figures drift.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

from artvae.model.device import cpu_description

from .loadtest import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 60_000

# Runs in the page: note when each new image of #blend-result (or the same image, now settled)
# is decoded and painted, and when the mouse goes down and up.
OBSERVER = """(id) => {
  window.artvaeFrames = [];
  const root = document.querySelector(id);
  const shown = () => {
    const view = root.querySelector('.artvae-view');
    const img = view && view.querySelector('img');
    return [view, img, img ? img.src + view.dataset.final : null];
  };
  let last = shown()[2];  // what shows now is not a new picture
  const seen = () => {
    const [view, img, key] = shown();
    if (!img || key === last) return;
    last = key;  // a release may settle on the image its drag showed
    const frame = {final: view.dataset.final === '1', size: view.dataset.size,
                   settings: JSON.parse(view.dataset.settings)};
    img.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
      frame.at = performance.now(); window.artvaeFrames.push(frame); }));
  };
  new MutationObserver(seen).observe(root, {childList: true, subtree: true, attributes: true});
  window.addEventListener('mousedown', () => { window.artvaeDown = performance.now(); }, true);
  window.addEventListener('mouseup', () => { window.artvaeUp = performance.now(); }, true);
}"""


def _drag(page, to: float, moves: int, pause_ms: int, avoid: set[float]) -> float:
    """Drag the t slider from where it is to `to` in `moves` steps, `pause_ms` apart, on past
    any value in `avoid` (outwards, away from the middle, where earlier drags have not been),
    and let go. Returns the value it shows then."""
    track = page.locator("#blend-t input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    start = float(track.input_value())
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        x = box["x"] + box["width"] * (start + (to - start) * i / moves)
        page.mouse.move(x, y)
        page.wait_for_timeout(pause_ms)
    step = box["width"] / 200 * (-1 if to < 0.5 else 1)  # half a slider step, outwards
    for _ in range(40):
        if float(track.input_value()) not in avoid:
            break
        x += step
        page.mouse.move(x, y)
        page.wait_for_timeout(pause_ms)
    page.mouse.up()
    return float(track.input_value())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _new_uploads(folder: Path, count: int, side: int = 512) -> list[Path]:
    """`count` PNGs of `side` px the app has not seen: the bundled examples, each tinted a
    little differently (a new image to the app's caches, the same kind of texture)."""
    from PIL import Image, ImageEnhance

    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.png"))
    paths = []
    for i in range(count):
        image = Image.open(examples[i % len(examples)]).convert("RGB").resize((side, side))
        path = folder / f"upload-{i}.png"
        ImageEnhance.Color(image).enhance(0.8 + 0.05 * i).save(path)
        paths.append(path)
    return paths


def _uploads(page, folder: Path, rounds: int) -> dict:
    """Upload `rounds` new 512 px images in the Encode tab; milliseconds from handing the file
    to the page to the first picture of it on screen and to the settled reconstruction, and
    from the upload's answer (the server has the file) to the first picture."""
    page.get_by_role("tab", name="Encode").click()
    page.wait_for_selector('#encode-result .artvae-view[data-final="1"] img')
    page.evaluate(OBSERVER, "#encode-result")
    origin = page.evaluate("performance.timeOrigin")  # page clock -> epoch milliseconds
    uploaded: list[float] = []  # when each upload request's answer arrived, page clock
    page.on("requestfinished", lambda r: "/upload" in r.url and uploaded.append(
        r.timing["startTime"] + r.timing["responseEnd"] - origin))
    first, settled, received = [], [], []
    for path in _new_uploads(folder, rounds):
        page.evaluate("window.artvaeFrames = []; window.artvaeSent = performance.now()")
        page.locator("#encode-texture input[type=file]").set_input_files(str(path))
        page.wait_for_function("() => window.artvaeFrames.some(f => f.final)")
        frames, sent = page.evaluate("[window.artvaeFrames, window.artvaeSent]")
        first.append(frames[0]["at"] - sent)
        settled.append(next(f for f in frames if f["final"])["at"] - sent)
        answers = [t for t in uploaded if t > sent]
        if answers:
            received.append(frames[0]["at"] - max(answers))
        page.wait_for_timeout(500)
    return {"first_picture_ms": {"p50": round(statistics.median(first), 1),
                                 "all": [round(x, 1) for x in first]},
            "upload_received_to_first_picture_ms": {
                "p50": round(statistics.median(received), 1) if received else None,
                "all": [round(x, 1) for x in received]},
            "result_ms": {"p50": round(statistics.median(settled), 1),
                          "all": [round(x, 1) for x in settled]}}


def measure(url: str, rounds: int = 8, moves: int = 25, pause_ms: int = 30,
            chromium: str = CHROMIUM, uploads_dir: Path | None = None) -> dict:
    """Drag the Blend slider `rounds` times on the page at `url` (see the module docstring);
    with `uploads_dir` (scratch space), also time `rounds` new uploads in Encode."""
    from playwright.sync_api import sync_playwright

    latencies, revisit_latencies, firsts, rates, frames_during = [], [], [], [], []
    move_rates = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="Blend").click()
        page.wait_for_selector('#blend-result .artvae-view[data-final="1"] img')
        size = page.locator("#blend-result .artvae-view").get_attribute("data-size")
        page.evaluate(OBSERVER, "#blend-result")
        made = set()  # t values already shown at full size: the app keeps those
        flicks = []
        for i in range(2 * rounds):  # drags, then as many quick flicks (three moves)
            page.evaluate("window.artvaeFrames = []")
            reach = 0.01 * (i // 2)  # one slider step further out every second drag
            to = 0.9 + reach if i % 2 == 0 else 0.1 - reach
            flick = i >= rounds
            value = _drag(page, min(1.0, max(0.0, to)), 3 if flick else moves, pause_ms, made)
            page.wait_for_function(
                "t => window.artvaeFrames.some(f => f.final && f.at > window.artvaeUp"
                " && Math.abs(f.settings.t - t) < 1e-6)", arg=value)
            frames, down, up = page.evaluate(
                "[window.artvaeFrames, window.artvaeDown, window.artvaeUp]")
            final = next(f for f in frames if f["final"] and f["at"] > up
                         and abs(f["settings"]["t"] - value) < 1e-6)
            if flick:
                if value not in made:
                    flicks.append(final["at"] - up)
                made |= {f["settings"]["t"] for f in frames if f["size"] == size}
                page.wait_for_timeout(500)
                continue
            (revisit_latencies if value in made else latencies).append(final["at"] - up)
            if value not in made:
                firsts.append(max(0.0, min(f["at"] for f in frames
                                           if abs(f["settings"]["t"] - value) < 1e-6) - up))
            made |= {f["settings"]["t"] for f in frames if f["size"] == size}
            during = sum(1 for f in frames if down < f["at"] <= up)
            frames_during.append(during)
            rates.append(during / ((up - down) / 1000))
            move_rates.append(moves / ((up - down) / 1000))
            page.wait_for_timeout(500)  # the download's PNG is written after the image shows
        uploads = _uploads(page, uploads_dir, rounds) if uploads_dir else None
        browser.close()
    if not latencies:
        raise RuntimeError("every release landed on a value made before: nothing was timed")
    return {
        "url": url, "size": size, "rounds": rounds, "moves_per_drag": moves,
        "release_to_first_picture_ms": {"p50": round(statistics.median(firsts), 1),
                                        "all": [round(x, 1) for x in firsts]},
        "release_to_image_ms": {"p50": round(statistics.median(latencies), 1),
                                "p95": round(_percentile(latencies, 0.95), 1),
                                "all": [round(x, 1) for x in latencies]},
        "drag_updates_per_s": {"median": round(statistics.median(rates), 2),
                               "all": [round(x, 2) for x in rates]},
        "moves_per_s": round(statistics.median(move_rates), 2),
        "flick_release_to_image_ms": {"p50": round(statistics.median(flicks), 1) if flicks
                                      else None, "all": [round(x, 1) for x in flicks]},
        "frames_while_dragging": frames_during,
        # answered from the app's results: not in release_to_image_ms
        "releases_on_a_value_made_before_ms": [round(x, 1) for x in revisit_latencies],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    } | ({"upload_512px": uploads} if uploads else {})


def run(rounds: int = 8, app_args: tuple[str, ...] = (), url: str | None = None) -> dict:
    """Measure against `url`, or against an app this starts (`app_args` passed on)."""
    with tempfile.TemporaryDirectory() as scratch:
        if url is not None:
            result = measure(url, rounds, uploads_dir=Path(scratch))
        else:
            with serving(list(app_args), Path(scratch)) as (_, started):
                result = measure(started, rounds, uploads_dir=Path(scratch))
    result = {**result, "machine": cpu_description()}  # the app's, where this started it
    print(json.dumps(result))
    return result

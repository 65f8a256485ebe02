"""What the playground page shows while people play: results as light previews, made once.

A slider that moves asks for a new result many times a second, so the page gets each one as a
JPEG inside a small piece of HTML (`view`): no file to write or fetch, and the browser draws the
2x2 tiled preview itself, as a repeating background of the same picture. The lossless PNG with
its recipe is written only for the download (`files.OutputFolder`). `Renders` keeps the
last results by their settings, and a request for settings already being made waits for that
run instead of starting another: a slider's release usually asks for what its last move did.
It also keeps the recent pace (seconds per output pixel), from which `shrink_for` picks how much
smaller a moving slider's frames must be to keep up (on an idle 2-core CPU a 512 px frame is
made at full size; on a busy one, at half size, and the release makes the full one).
No Gradio here: the tabs of `artvae.ui` wire these in.
"""

from __future__ import annotations

import base64
import html
import io
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

from PIL import Image

from .playground import Result

JPEG_QUALITY = 85  # a 512 px texture: ~4 ms to encode, ~65 kB; artefacts hard to see
THUMBNAIL_SIDE = 192  # gallery pictures
CACHE_PIXELS = 24 * 1024 * 1024  # results kept: 96 at 512 px, 6 at 2048 px (~72 MB of RGB)
FRAME_BUDGET_S = 0.06  # a moving slider's frame: with the page's own overhead, >= 10 a second
PACE_PIXELS = 256 * 256  # results this big or bigger set the pace (smaller: fixed costs rule)

# The page's look for views, given to `launch(css=...)`: the result and its tiled preview side
# by side, stacked on a narrow screen; the tiles are the result as a repeating background.
# Galleries fit as many columns as the screen has room for, and only their pictures' height
# (Gradio's have a fixed column count and height).
CSS = """
.artvae-view { display: flex; flex-wrap: wrap; gap: 12px; }
.artvae-view figure { flex: 1 1 240px; max-width: 420px; margin: 0; }
.artvae-view img, .artvae-view .artvae-tiles { width: 100%; display: block;
  border-radius: 4px; }
.artvae-view .artvae-tiles { background-repeat: repeat; background-size: 50% 50%; }
.artvae-view figcaption { font-size: 0.85em; opacity: 0.75; margin-top: 4px; }
.artvae-empty { padding: 48px 12px; text-align: center; opacity: 0.7; }
.artvae-gallery .grid-container {
  grid-template-columns: repeat(auto-fill, minmax(min(140px, 30%), 1fr)) !important; }
.artvae-gallery .grid-wrap { min-height: 0 !important; max-height: none !important; }
"""


def jpeg_url(image: Image.Image, quality: int = JPEG_QUALITY) -> str:
    """The image as a `data:image/jpeg;base64,...` URL."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def view(result: Result, url: str, final: bool, tiles: bool = True,
         note: str = "following the slider") -> str:
    """HTML showing a result (its JPEG `url`) and, with `tiles`, a 2x2 tiled preview drawn by
    the browser. `final` says whether this is the settled result or a picture shown before
    it (`note` says what it is); with the recipe's settings (inputs left out), it is in data
    attributes for the page's tests and the browser benchmark."""
    settings = {k: v for k, v in result.recipe.items() if k not in ("inputs", "weights")}
    w, h = result.image.size
    attrs = (f'data-final="{int(final)}" data-settings="{html.escape(json.dumps(settings))}" '
             f'data-size="{w}x{h}"')
    parts = [f'<div class="artvae-view" {attrs}>',
             f'<figure><img src="{url}" alt="result, {w}x{h} px" width="{w}" height="{h}">'
             f"<figcaption>{w}x{h} px{'' if final else ', ' + html.escape(note)}"
             "</figcaption></figure>"]
    if tiles:
        parts.append(f'<figure><div class="artvae-tiles" role="img" aria-label="2x2 tiled '
                     f'preview" style="background-image: url({url}); aspect-ratio: {w} / {h}">'
                     "</div><figcaption>2x2 tiled: seams show unless tileable</figcaption>"
                     "</figure>")
    return "".join(parts) + "</div>"


def placeholder(message: str) -> str:
    """A view's text while it has nothing to show."""
    return f'<div class="artvae-empty">{html.escape(message)}</div>'


def thumbnail(image: Image.Image, side: int = THUMBNAIL_SIDE) -> Image.Image:
    """A copy at most `side` pixels on its longer side, for a gallery."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.BOX)
    return small


class Renders:
    """Results with their preview URLs, by the settings that made them: the last few kept
    (up to `max_pixels` of images), and one run per settings at a time. Thread-safe."""

    def __init__(self, max_pixels: int = CACHE_PIXELS):
        self.max_pixels = max_pixels
        self._done: OrderedDict[Hashable, tuple[Result, str]] = OrderedDict()
        self._running: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self._seconds_per_pixel = 0.0  # recent pace, a moving average; 0 until a result is made

    def reset_pace(self) -> None:
        """Forget the pace measured so far (the first results after start-up also pay for
        loading the model's kernels: they are no guide to a slider's frames)."""
        self._seconds_per_pixel = 0.0

    def has(self, key: Hashable) -> bool:
        """Whether `key`'s result is kept or being made."""
        with self._lock:
            return key in self._done or key in self._running

    def shrink_for(self, pixels: int) -> int:
        """How many times smaller (1, 2, 4 or 8) a result of `pixels` must be made to take at
        most FRAME_BUDGET_S at the recent pace."""
        shrink = 1
        while shrink < 8 and self._seconds_per_pixel * pixels / shrink**2 > FRAME_BUDGET_S:
            shrink *= 2
        return shrink

    def get(self, key: Hashable, make: Callable[[], Result]) -> tuple[Result, str]:
        """(result, its JPEG URL) for `key`: kept, being made by another caller (wait for
        it), or made now by `make`. An error reaches every caller waiting on that run."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            running = self._running.get(key)
            if running is None:
                running = self._running[key] = Future()
                mine = True
            else:
                mine = False
        if not mine:
            return running.result()
        try:
            start = time.perf_counter()
            result = make()
            made = (result, jpeg_url(result.image))
            pace = (time.perf_counter() - start) / (result.image.width * result.image.height)
        except BaseException as e:
            with self._lock:
                del self._running[key]
            running.set_exception(e)
            raise
        with self._lock:
            del self._running[key]
            if result.image.width * result.image.height >= PACE_PIXELS:
                self._seconds_per_pixel = (pace if not self._seconds_per_pixel
                                           else 0.5 * (self._seconds_per_pixel + pace))
            self._done[key] = made
            pixels = sum(r.image.width * r.image.height for r, _ in self._done.values())
            while len(self._done) > 1 and pixels > self.max_pixels:
                old, _ = self._done.popitem(last=False)[1]
                pixels -= old.image.width * old.image.height
        running.set_result(made)
        return made

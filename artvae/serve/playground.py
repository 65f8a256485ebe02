"""The playground's operations as the app's controls and web API ask for them.

Thin adapters between loosely typed inputs (numbers typed into a box, JSON sent straight to the
web API) and the `Engine`: every value is checked and turned into a `ValueError` that says what
to send instead; every result comes back with the recipe that made it (embedded by `save_png`, so
dropping the PNG back into the app restores its settings: `artvae.restore`). Also the pictures
that help a person read a code (false-colour structure map, style bar chart, 2x2 tiled preview)
and the morph exports (GIF, MP4, zip of frames). No Gradio here: `app.py` does the layout and
wiring.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from artvae.ops.generate import VARIATION_STRENGTH
from artvae.ops.images import image_digest, image_to_tensor, load_image, save_png
from artvae.ops.latent import BLEND_MODES
from artvae.ops.metrics import psnr

from .engine import MAX_REFINE_STEPS, MAX_SIDE, Engine

MIN_SIZE, MAX_SIZE = 8, 2048  # output side in pixels: bounded work per request
SLIDER_MIN_SIZE, SLIDER_STEP = 256, 64  # the app's output-size slider (Restore snaps to it)
DEFAULT_SIZE = 512  # the slider's start: what the first page is made at
RAMPS = ("left-right", "radial")
MAX_MIX = 8  # images one mix may combine (the UI shows four)
MAX_STEPS = 60  # a morph is frames 0..steps
REFINE_STEPS = 10  # the Encode tab's "Refine": +0.5 dB on held-out textures, +0.3 on art
MAX_MORPH_PIXELS = 64 * 1024 * 1024  # frames x pixels: 61 frames at 1024^2, 16 at 2048^2
MAX_SEED = 2**63 - 1
EXPLORE_RANGE = 3.0  # explore sliders span +-3 training spreads
RECIPE_VERSION = 1


# ---- checking values that may come straight from the web API ------------------------------

def number(value, name: str, low: float, high: float) -> float:
    """`value` as a float in [low, high], or a ValueError naming `name`."""
    problem = f"{name} must be a number from {low:g} to {high:g}; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(problem)
    try:
        x = float(value)
    except ValueError:
        raise ValueError(problem) from None
    if not (math.isfinite(x) and low <= x <= high):
        raise ValueError(problem)
    return x


def whole_number(value, name: str, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value  # exact: a float would round seeds above 2**53
    x = number(value, name, low, high)
    if x != int(x):
        raise ValueError(f"{name} must be a whole number; got {value!r}")
    return int(x)


def flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")
    return value


def one_of(value, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def output_size(value) -> tuple[int, int] | None:
    """None (keep the first input's size) or a side in pixels -> (H, W)."""
    if value is None:
        return None
    side = whole_number(value, "size", MIN_SIZE, MAX_SIZE)
    return side, side


def number_list(value, name: str) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of numbers; got {value!r}")
    return [number(v, f"{name}[{i}]", -1e6, 1e6) for i, v in enumerate(value)]


# ---- results and their recipes --------------------------------------------------------------

@dataclass
class Result:
    image: Image.Image
    recipe: dict
    extras: dict = field(default_factory=dict)  # what the Encode tab shows besides the image


def loaded(source) -> tuple[Image.Image, str]:
    """Load an input once: the RGB image the engine will encode and its content digest. A file
    is read once while it is unchanged (a slider moving over the same uploads reads none)."""
    if isinstance(source, (str, Path)):
        with contextlib.suppress(OSError):
            stat = Path(source).stat()
            return _loaded_file(str(source), stat.st_mtime_ns, stat.st_size)
    image = load_image(source, max_side=MAX_SIDE)
    return image, image_digest(image)


@functools.lru_cache(maxsize=16)
def _loaded_file(path: str, _mtime_ns: int, _size: int) -> tuple[Image.Image, str]:
    image = load_image(path, max_side=MAX_SIDE)
    return image, image_digest(image)


def recipe(engine: Engine, op: str, digests: list[str], **settings) -> dict:
    return {"artvae_recipe": RECIPE_VERSION, "op": op, "weights": engine.weights,
            "inputs": digests, **settings}


class OutputFolder:
    """Where result files are written for the app to serve, in time buckets: folders named for
    the `max_age_s / 4` slice of time they were made in. When a new slice begins, buckets whose
    every file is older than `max_age_s` are deleted whole, so a long-running server neither
    fills its disk nor looks at every result on every request."""

    def __init__(self, root: Path | None = None, max_age_s: float = 3600.0,
                 clock: Callable[[], float] = time.time):
        if root is None:  # our own temporary folder: gone when the server stops
            root = tempfile.mkdtemp(prefix="artvae-results-")
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s, self.bucket_s, self.clock = max_age_s, max_age_s / 4, clock
        self._bucket: int | None = None
        self._lock = threading.Lock()

    def new(self) -> Path:
        """A fresh, empty folder for one result."""
        bucket = int(self.clock() // self.bucket_s)
        with self._lock:
            if bucket != self._bucket:  # once per slice of time, not per request
                self._bucket = bucket
                self._sweep(bucket)
            folder = self.root / f"{bucket:012d}"
            folder.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(dir=folder))

    def _sweep(self, now: int) -> None:
        """Delete the buckets that ended more than max_age_s ago (nothing else in the root)."""
        keep = math.ceil(self.max_age_s / self.bucket_s)  # buckets that may hold young files
        for old in self.root.iterdir():
            if old.name.isdigit() and int(old.name) < now - keep:
                shutil.rmtree(old, ignore_errors=True)  # another process may be at it too

    def save(self, result: Result) -> Path:
        """The result as a PNG carrying its recipe, named for what made it; written with light
        compression, as the app answers while sliders move."""
        name = f"artvae-{result.recipe['op']}-{image_digest(result.image)[:8]}.png"
        return save_png(result.image, self.new() / name, recipe=result.recipe, compress_level=1)


# ---- the operations --------------------------------------------------------------------------

def encode(engine: Engine, source, tileable: bool = False, refine: int = 0) -> Result:
    """Reconstruction, with its PSNR, the structure map in false colour and the style chart.
    `refine` > 0: the code refined by that many steps through the decoder first (closer and
    as crisp, about 80 ms a step at 256 px on 2 CPU cores; `artvae.refine`)."""
    image, digest = loaded(source)
    tileable = flag(tileable, "tileable")
    refine = whole_number(refine, "refine", 0, MAX_REFINE_STEPS)
    # a server refining uploads (`Engine.refine_uploads`) has this code cached already
    given = engine.upload_refine_steps(image)
    code = engine.refined(image, refine, tileable) if refine not in (0, given) else \
        engine.encode(image)
    refine = refine or given
    out = engine.decode(code, tileable)
    score = float(psnr(image_to_tensor(out), image_to_tensor(image))[0])
    style = (code.style[0] - engine.model.style_mean.cpu()).tolist()
    extras = {"psnr": round(score, 2), "structure": structure_picture(code.structure, image.size),
              "style_chart": style_chart(style), "style": style}
    settings = {"tileable": tileable} | ({"refine": refine} if refine else {})
    return Result(out, recipe(engine, "encode", [digest], **settings), extras)


def mix(engine: Engine, sources: list, weights: list, structure_from: int | None = 0,
        size=None, tileable: bool = False, shrink: int = 1) -> Result:
    """Styles mixed by weight; the layout of `sources[structure_from]`, or of all (None).
    `shrink` > 1: a smaller picture of it, a preview (the recipe is the full result's)."""
    if not isinstance(sources, (list, tuple)) or not 1 <= len(sources) <= MAX_MIX:
        raise ValueError(f"images must be a list of 1 to {MAX_MIX} images")
    weights = number_list(weights, "weights")
    if len(weights) != len(sources):
        raise ValueError(f"give one weight per image: {len(sources)} images, "
                         f"{len(weights)} weights")
    if structure_from is not None:
        structure_from = whole_number(structure_from, "structure_from", -1, len(sources) - 1)
    inputs = [loaded(s) for s in sources]
    size, tileable = output_size(size), flag(tileable, "tileable")
    out = engine.mix([im for im, _ in inputs], weights, structure_from, tileable, size, shrink)
    return Result(out, recipe(engine, "mix", [d for _, d in inputs], mix_weights=weights,
                              structure_from=structure_from, size=_side(size),
                              tileable=tileable))


def blend(engine: Engine, a, b, t, mode: str = "full", ramp: str = "left-right", size=None,
          tileable: bool = False, shrink: int = 1) -> Result:
    """One frame of the morph from A to B at `t` (`shrink`: as `mix`)."""
    (image_a, digest_a), (image_b, digest_b) = loaded(a), loaded(b)
    t = number(t, "t", 0.0, 1.0)
    mode, ramp = one_of(mode, "mode", BLEND_MODES), one_of(ramp, "ramp", RAMPS)
    size, tileable = output_size(size), flag(tileable, "tileable")
    out = engine.blend(image_a, image_b, t, mode, tileable, size, ramp, shrink)
    return Result(out, recipe(engine, "blend", [digest_a, digest_b], t=t, mode=mode, ramp=ramp,
                              size=_side(size), tileable=tileable))


def morph(engine: Engine, a, b, steps, mode: str = "full", ramp: str = "left-right",
          size=None, tileable: bool = False,
          progress: Callable[[float], None] | None = None) -> tuple[list[Image.Image], dict]:
    """Frames 0..steps of the morph A -> B and the recipe they share."""
    (image_a, digest_a), (image_b, digest_b) = loaded(a), loaded(b)
    steps = whole_number(steps, "steps", 1, MAX_STEPS)
    mode, ramp = one_of(mode, "mode", BLEND_MODES), one_of(ramp, "ramp", RAMPS)
    size, tileable = output_size(size), flag(tileable, "tileable")
    h, w = size or (image_a.height, image_a.width)
    if (steps + 1) * h * w > MAX_MORPH_PIXELS:
        raise ValueError(f"{steps + 1} frames of {w}x{h} is more than we make in one go: "
                         "choose fewer steps or a smaller size")
    frames = engine.blend_frames(image_a, image_b, steps, mode, tileable, size, ramp, progress)
    return frames, recipe(engine, "morph", [digest_a, digest_b], steps=steps, mode=mode,
                          ramp=ramp, size=_side(size), tileable=tileable)


def sample(engine: Engine, seed, size=512, tileable: bool = False, temperature=1.0,
           coords: list | None = None, fast: bool = False, offsets: list | None = None,
           shrink: int = 1) -> Result:
    """A seeded texture; `coords` place its style along the principal directions, `offsets`
    move the seed's own style along them; `fast` draws the layout as a random-phase field
    instead of from the learned prior (`shrink`: as `mix`)."""
    seed = whole_number(seed, "seed", 0, MAX_SEED)
    size = output_size(size) or (512, 512)
    tileable, temperature = flag(tileable, "tileable"), number(temperature, "temperature", 0, 3)
    coords = None if coords is None else number_list(coords, "coords")
    offsets = None if offsets is None else number_list(offsets, "offsets")
    k = engine.model.style_basis.shape[0]
    for name, values in (("coords", coords), ("offsets", offsets)):
        if values is not None and len(values) > k:
            raise ValueError(f"{name} has {len(values)} entries; these weights have {k} "
                             "style directions")
    fast = flag(fast, "fast")
    out = engine.sample(seed, size, tileable, temperature, coords, fast, offsets, shrink)
    settings = {"offsets": offsets} if offsets is not None else {}
    return Result(out, recipe(engine, "sample", [], seed=seed, size=_side(size),
                              tileable=tileable, temperature=temperature, coords=coords,
                              fast=fast, **settings))


def variations(engine: Engine, source, seed, strength=VARIATION_STRENGTH, size=None,
               tileable: bool = False) -> Result:
    """A new layout of the image's kind in its style ("more like this")."""
    image, digest = loaded(source)
    seed = whole_number(seed, "seed", 0, MAX_SEED)
    strength = number(strength, "strength", 0.05, 1.0)
    size, tileable = output_size(size), flag(tileable, "tileable")
    out = engine.variations(image, seed, size, strength, tileable)
    return Result(out, recipe(engine, "variations", [digest], seed=seed, strength=strength,
                              size=_side(size), tileable=tileable))


def expand(engine: Engine, source, size=1024, seed=0, tileable: bool = True) -> Result:
    """The image grown to a larger (by default seamless) canvas, no mirrored repeat."""
    image, digest = loaded(source)
    size = output_size(size) or (1024, 1024)
    seed, tileable = whole_number(seed, "seed", 0, MAX_SEED), flag(tileable, "tileable")
    out = engine.expand(image, size, seed, tileable)
    return Result(out, recipe(engine, "expand", [digest], seed=seed, size=_side(size),
                              tileable=tileable))


def _side(size: tuple[int, int] | None) -> int | None:
    return None if size is None else size[0]


# ---- pictures of codes and results ----------------------------------------------------------

def tiled(image: Image.Image, max_side: int = 1024) -> Image.Image:
    """Four copies in a 2x2 grid, so seams (or their absence) show; at most `max_side` wide."""
    grid = Image.new("RGB", (2 * image.width, 2 * image.height))
    for x in (0, image.width):
        for y in (0, image.height):
            grid.paste(image, (x, y))
    scale = min(1.0, max_side / max(grid.size))
    if scale < 1.0:
        grid = grid.resize((round(grid.width * scale), round(grid.height * scale)),
                           Image.Resampling.BOX)
    return grid


def structure_picture(structure: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """(1, C_s, h, w) structure map -> false colour (its first three principal components as
    R, G, B, each stretched to its 2nd..98th percentile), blown up to `size` (W, H)."""
    c, h, w = structure.shape[1:]
    x = structure[0].float().reshape(c, h * w).T  # (hw, C_s)
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    comps = x @ v[:3].T  # (hw, <=3)
    comps = torch.cat([comps, comps.new_zeros(h * w, 3 - comps.shape[1])], 1)
    low, high = torch.quantile(comps, 0.02, dim=0), torch.quantile(comps, 0.98, dim=0)
    rgb = ((comps - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)
    pixels = (rgb.reshape(h, w, 3) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels).resize((w * 8, h * 8), Image.Resampling.NEAREST).crop(
        (0, 0, *size))


def style_chart(style: list[float], height: int = 120, bar: int = 6) -> Image.Image:
    """A bar per style dimension (offset from the average training style): up is positive."""
    values = np.asarray(style, dtype=np.float64)
    top = max(float(np.abs(values).max()), 1e-6)
    chart = Image.new("RGB", (max(64, bar * len(values)), height), (250, 250, 250))
    draw, mid = ImageDraw.Draw(chart), height // 2
    for i, v in enumerate(values):
        end = mid - round(v / top * (mid - 4))
        colour = (214, 96, 77) if v >= 0 else (67, 147, 195)
        draw.rectangle((i * bar + 1, min(mid, end), (i + 1) * bar - 1, max(mid, end)), colour)
    draw.line((0, mid, chart.width, mid), (90, 90, 90))
    return chart


# ---- morph exports ---------------------------------------------------------------------------

def ping_pong(frames: list) -> list:
    """A -> B -> A without repeating the turning frames: 0 1 2 3 2 1."""
    return frames + frames[-2:0:-1]


def write_gif(frames: list[Image.Image], path: Path, fps: float, max_side: int = 512) -> Path:
    """An animated GIF, looping; at most `max_side` wide (a preview: the MP4 and the zip keep
    the full size)."""
    scale = min(1.0, max_side / max(frames[0].size))
    if scale < 1.0:
        size = (round(frames[0].width * scale), round(frames[0].height * scale))
        frames = [f.resize(size, Image.Resampling.BOX) for f in frames]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                   loop=0)
    return path


def write_mp4(frames: list[Image.Image], path: Path, fps: float) -> Path | None:
    """H.264 in MP4 via PyAV (its wheels bundle FFmpeg); None when PyAV is not installed."""
    try:
        import av
    except ImportError:
        return None
    w, h = frames[0].width // 2 * 2, frames[0].height // 2 * 2  # yuv420p needs even sides
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "fast"}
        for frame in frames:
            picture = av.VideoFrame.from_image(frame.crop((0, 0, w, h)))
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def export_morph(frames: list[Image.Image], recipe: dict, folder: Path, fps,
                 there_and_back) -> list[Path]:
    """The morph as a GIF and an MP4 (ping-pong if `there_and_back`) and a zip of its frames;
    no MP4 without PyAV."""
    fps = number(fps, "fps", 1, 60)
    played = ping_pong(frames) if flag(there_and_back, "ping-pong") else frames
    files = [write_gif(played, folder / "artvae-morph.gif", fps),
             write_mp4(played, folder / "artvae-morph.mp4", fps),
             write_zip(frames, folder / "artvae-morph-frames.zip", recipe)]
    return [f for f in files if f is not None]


def write_zip(frames: list[Image.Image], path: Path, recipe: dict) -> Path:
    """Every frame as a PNG (000.png ...) carrying the recipe and its own t."""
    steps = max(1, len(frames) - 1)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path, "w") as archive:
        for i, frame in enumerate(frames):
            png = save_png(frame, Path(tmp) / f"{i:03d}.png",
                           recipe={**recipe, "frame": i, "t": i / steps})
            archive.write(png, png.name)
    return path


# ---- Explore --------------------------------------------------------------------------------

def surprise(directions: int, rng) -> tuple[int, list[float]]:
    """A random seed and style coordinates (clipped normal: mostly familiar, sometimes odd)."""
    coords = [round(max(-2.5, min(2.5, rng.gauss(0.0, 1.0))), 2) for _ in range(directions)]
    return rng.randrange(2**31), coords

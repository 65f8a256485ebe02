"""The playground's operations as the app's controls and web API ask for them (and the CLI).

Thin adapters between loosely typed inputs (numbers typed into a box, JSON sent straight to the
web API) and the `Engine`: every value is checked and turned into a `ValueError` that says what
to send instead; every result comes back with the recipe that made it (embedded by `save_png`, so
dropping the PNG back into the app restores its settings: `artvae.serve.restore`). Paint keeps
its mask in the recipe (`mask_to_text`: its regions as a small 2-bit PNG). The value checks are
`checks`, the maths of paint and palette `artvae.ops.paint` and `artvae.ops.palette`, the
pictures that help a person read a code `pictures`, the result files and morph exports `files`.
No Gradio here: `artvae.ui` does the layout and wiring.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from artvae.ops import generate
from artvae.ops.generate import VARIATION_STRENGTH
from artvae.ops.images import image_digest, image_to_tensor, load_image, tensor_to_image
from artvae.ops.latent import BLEND_MODES, Code
from artvae.ops.metrics import psnr
from artvae.ops.paint import MASK_COLOURS, MAX_TEXTURES, mask_labels, paint_code
from artvae.ops.palette import (
    CORNERS,
    DECODE_BATCH,
    MAX_CELL,
    MAX_GRID,
    MAX_PALETTE_PIXELS,
    MIN_CELL,
    MIN_GRID,
    corner_weights,
    palette_codes,
    sheet,
)
from artvae.ops.restyle import CONTROL_RANGE, SCALE_RANGE, check_edits

from .checks import flag, number, number_list, one_of, whole_number
from .engine import GUESS_SHRINK, MAX_REFINE_STEPS, MAX_SIDE, Engine, checked_size, remember
from .pictures import structure_picture, style_chart

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
# A recipe keeps the mask up to this many base64 characters: any 512 px canvas (the app's)
# fits, even per-pixel noise (~90 k); a big, busy uploaded mask is left out (an example: a
# 2048 px noise mask is 1.4 M). Halves or a few brush strokes: 0.5-6 k.
MAX_MASK_TEXT = 256_000


def output_size(value) -> tuple[int, int] | None:
    """None (keep the first input's size) or a side in pixels -> (H, W)."""
    if value is None:
        return None
    side = whole_number(value, "size", MIN_SIZE, MAX_SIZE)
    return side, side


# ---- results and their recipes --------------------------------------------------------------

@dataclass
class Result:
    image: Image.Image
    recipe: dict
    extras: dict = field(default_factory=dict)  # what the Encode tab shows besides the image


def loaded(source) -> tuple[Image.Image, str]:
    """Load an input once: the RGB image the engine will encode and its content digest. A file
    is read once while it is unchanged (a slider moving over the same uploads reads none), and
    decoded once while its bytes are (a client sending the same image with every call, as
    gradio_client does, has it written anew each time: two 512 px PNGs, ~20 ms a call)."""
    if isinstance(source, (str, Path)):
        with contextlib.suppress(OSError):
            stat = Path(source).stat()
            return _loaded_file(str(source), stat.st_mtime_ns, stat.st_size)
    image = load_image(source, max_side=MAX_SIDE)
    return image, image_digest(image)


@functools.lru_cache(maxsize=16)
def _loaded_file(path: str, _mtime_ns: int, _size: int) -> tuple[Image.Image, str]:
    data = Path(path).read_bytes()
    return _decoded(hashlib.blake2b(data, digest_size=16).digest(), data)


DECODED_FILES = 8  # uploads kept decoded by their bytes (beside the 16 kept by path and time)
_DECODED: OrderedDict[bytes, tuple[Image.Image, str]] = OrderedDict()  # by the file's bytes
_DECODED_LOCK = threading.Lock()


def _decoded(key: bytes, data: bytes) -> tuple[Image.Image, str]:
    with _DECODED_LOCK:
        if key in _DECODED:
            _DECODED.move_to_end(key)
            return _DECODED[key]
    image = load_image(data, max_side=MAX_SIDE)
    made = image, image_digest(image)
    with _DECODED_LOCK:
        remember(_DECODED, key, made, DECODED_FILES)
    return made


def recipe(engine: Engine, op: str, digests: list[str], **settings) -> dict:
    return {"artvae_recipe": RECIPE_VERSION, "op": op, "weights": engine.weights,
            "inputs": digests, **settings}


# ---- the named controls ---------------------------------------------------------------------

def checked_controls(value) -> dict[str, float]:
    """The named controls as sent ({"brightness": 1, "scale": 2}; None: none) -> the same
    with every value a number in its range and the defaults (0, scale 1) left out. The names
    are checked against the weights' controls by `named_edits`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("controls must be a dict of named amounts, e.g. "
                         '{"brightness": 1, "warmth": -0.5, "scale": 2}')
    checked = {}
    for name, amount in value.items():
        if name == "scale":
            amount = number(amount, "scale", *SCALE_RANGE)
            if amount != 1.0:
                checked[name] = amount
        else:
            amount = number(amount, str(name)[:40], -CONTROL_RANGE, CONTROL_RANGE)
            if amount != 0.0:
                checked[str(name)] = amount
    return checked


def named_edits(engine: Engine, value) -> tuple[dict[str, float], float, dict]:
    """The named controls as sent -> (style amounts, scale, the recipe's settings: a
    "controls" entry where any is set)."""
    controls = checked_controls(value)
    amounts = {k: v for k, v in controls.items() if k != "scale"}
    scale = controls.get("scale", 1.0)
    check_edits(engine.controls, amounts, scale)
    return amounts, scale, ({"controls": controls} if controls else {})


# ---- the operations --------------------------------------------------------------------------

def encode(engine: Engine, source, tileable: bool = False, refine: int = 0, controls=None,
           shrink: int = 1) -> Result:
    """Reconstruction, with its PSNR, the structure map in false colour and the style chart.
    `refine` > 0: the code refined by that many steps through the decoder first (closer and
    as crisp, about 80 ms a step at 256 px on 2 CPU cores; `artvae.ops.refine`). `controls`:
    the named edits of its look (`named_edits`); the PSNR is then the edited image's.
    `shrink` > 1: a smaller picture of it, a preview (the recipe is the full result's)."""
    image, digest = loaded(source)
    tileable = flag(tileable, "tileable")
    refine = whole_number(refine, "refine", 0, MAX_REFINE_STEPS)
    amounts, scale, edits = named_edits(engine, controls)
    # a server refining uploads (`Engine.refine_uploads`) has this code cached already
    given = engine.upload_refine_steps(image)
    code = engine.refined(image, refine, tileable) if refine not in (0, given) else \
        engine.encode(image)
    refine = refine or given
    code, render = engine.edit(code, amounts, scale, tileable)
    out = engine.decode(code, tileable, shrink, render)
    score = float(psnr(image_to_tensor(out), image_to_tensor(image))[0]) if shrink == 1 else 0.0
    style = (code.style[0] - engine.model.style_mean.cpu()).tolist()
    extras = {"psnr": round(score, 2), "structure": structure_picture(code.structure, image.size),
              "style_chart": style_chart(style), "style": style}
    settings = {"tileable": tileable} | ({"refine": refine} if refine else {}) | edits
    return Result(out, recipe(engine, "encode", [digest], **settings), extras)


def first_guess(engine: Engine, source, tileable: bool = False, controls=None) -> Result | None:
    """What a new upload shows while `encode` makes its code: the reconstruction from the
    encoder's first guess (`Engine.first_guess`), with the named edits. None where there is
    nothing to show early. Its recipe says `"preview": "first guess"`: not the result."""
    image, digest = loaded(source)
    tileable = flag(tileable, "tileable")
    amounts, scale, edits = named_edits(engine, controls)
    code = engine.first_guess(image)
    if code is None:
        return None
    code, render = engine.edit(code, amounts, scale, tileable)
    picture = engine.decode(code, tileable, GUESS_SHRINK, render)
    settings = {"tileable": tileable} | edits | {"preview": "first guess"}
    return Result(picture, recipe(engine, "encode", [digest], **settings))


def mix(engine: Engine, sources: list, weights: list, structure_from: int | None = 0,
        size=None, tileable: bool = False, shrink: int = 1, controls=None) -> Result:
    """Styles mixed by weight; the layout of `sources[structure_from]`, or of all (None).
    `shrink` > 1: a smaller picture of it, a preview (the recipe is the full result's).
    `controls`: named edits of the result's look (`named_edits`)."""
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
    amounts, scale, edits = named_edits(engine, controls)
    out = engine.mix([im for im, _ in inputs], weights, structure_from, tileable, size, shrink,
                     amounts, scale)
    return Result(out, recipe(engine, "mix", [d for _, d in inputs], mix_weights=weights,
                              structure_from=structure_from, size=_side(size),
                              tileable=tileable, **edits))


def blend(engine: Engine, a, b, t, mode: str = "full", ramp: str = "left-right", size=None,
          tileable: bool = False, shrink: int = 1, controls=None) -> Result:
    """One frame of the morph from A to B at `t` (`shrink`, `controls`: as `mix`)."""
    (image_a, digest_a), (image_b, digest_b) = loaded(a), loaded(b)
    t = number(t, "t", 0.0, 1.0)
    mode, ramp = one_of(mode, "mode", BLEND_MODES), one_of(ramp, "ramp", RAMPS)
    size, tileable = output_size(size), flag(tileable, "tileable")
    amounts, scale, edits = named_edits(engine, controls)
    out = engine.blend(image_a, image_b, t, mode, tileable, size, ramp, shrink, amounts, scale)
    return Result(out, recipe(engine, "blend", [digest_a, digest_b], t=t, mode=mode, ramp=ramp,
                              size=_side(size), tileable=tileable, **edits))


def morph(engine: Engine, a, b, steps, mode: str = "full", ramp: str = "left-right",
          size=None, tileable: bool = False,
          progress: Callable[[float], None] | None = None, controls=None
          ) -> tuple[list[Image.Image], dict]:
    """Frames 0..steps of the morph A -> B and the recipe they share; `controls`: the named
    edits of every frame's look (`named_edits`), as the Blend tab shows them."""
    (image_a, digest_a), (image_b, digest_b) = loaded(a), loaded(b)
    steps = whole_number(steps, "steps", 1, MAX_STEPS)
    mode, ramp = one_of(mode, "mode", BLEND_MODES), one_of(ramp, "ramp", RAMPS)
    size, tileable = output_size(size), flag(tileable, "tileable")
    h, w = size or (image_a.height, image_a.width)
    if (steps + 1) * h * w > MAX_MORPH_PIXELS:
        raise ValueError(f"{steps + 1} frames of {w}x{h} is more than we make in one go: "
                         "choose fewer steps or a smaller size")
    amounts, scale, edits = named_edits(engine, controls)
    frames = engine.blend_frames(image_a, image_b, steps, mode, tileable, size, ramp, progress,
                                 amounts, scale)
    return frames, recipe(engine, "morph", [digest_a, digest_b], steps=steps, mode=mode,
                          ramp=ramp, size=_side(size), tileable=tileable, **edits)


def sample(engine: Engine, seed, size=512, tileable: bool = False, temperature=1.0,
           coords: list | None = None, fast: bool = False, offsets: list | None = None,
           shrink: int = 1, controls=None) -> Result:
    """A seeded texture; `coords` place its style along the principal directions, `offsets`
    move the seed's own style along them; `fast` draws the layout as a random-phase field
    instead of from the learned prior (`shrink`, `controls`: as `mix`)."""
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
    amounts, scale, edits = named_edits(engine, controls)
    out = engine.sample(seed, size, tileable, temperature, coords, fast, offsets, shrink,
                        amounts, scale)
    settings = ({"offsets": offsets} if offsets is not None else {}) | edits
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


def paint(engine: Engine, mask, textures: list, layout=None, softness=0.3, size=None,
          tileable: bool = False, seed=None) -> Result:
    """The mask's regions rendered in their textures' styles (`artvae.ops.paint`). The layout
    is `layout`'s structure map; without one, the sampler's for `seed`; without a seed, the
    first texture's. `size` is the output side (default: the mask's size)."""
    if not isinstance(textures, (list, tuple)) or not 1 <= len(textures) <= MAX_TEXTURES:
        raise ValueError(f"textures must be a list of 1 to {MAX_TEXTURES} images")
    mask_image, mask_digest = loaded(mask)
    inputs = [loaded(t) for t in textures]
    layout_input = None if layout is None else loaded(layout)
    softness = number(softness, "softness", 0.0, 1.0)
    tileable = flag(tileable, "tileable")
    if seed is not None:
        seed = whole_number(seed, "seed", 0, MAX_SEED)
    out_size = output_size(size) or checked_size((mask_image.height, mask_image.width))
    labels = mask_labels(mask_image, len(inputs))  # (H, W)
    if layout_input is not None:
        structure = engine.code_at(layout_input[0], out_size).structure
    elif seed is not None:
        structure = generate.sample_code(engine.model, seed, out_size).structure
    else:
        structure = engine.code_at(inputs[0][0], out_size).structure
    textures_codes = [engine.code_at(image, out_size) for image, _ in inputs]
    styles = torch.cat([c.style for c in textures_codes])  # (K, D_w)
    donors = torch.cat([c.structure for c in textures_codes])  # (K, C_s, h, w)
    code = paint_code(structure.cpu(), styles.cpu(), labels, out_size,
                      engine.model.style_mean.cpu(), softness, tileable, donors.cpu())
    digests = [mask_digest, *(d for _, d in inputs)]
    if layout_input is not None:
        digests.append(layout_input[1])
    kept = mask_to_text(labels)
    return Result(engine.decode(code, tileable), recipe(
        engine, "paint", digests, textures=len(inputs), layout=layout_input is not None,
        seed=seed, softness=softness, size=out_size[0] if size is not None else None,
        tileable=tileable, **({"mask": kept} if kept is not None else {})))


def palette(engine: Engine, corners: list, rows=5, cols=5, cell=128,
            tileable: bool = False) -> tuple[Result, list[Image.Image], list[list[float]]]:
    """The palette of four corner images, reading order (`artvae.ops.palette`): (the sheet with
    its recipe, the cells row by row, each cell's corner weights)."""
    if not isinstance(corners, (list, tuple)) or len(corners) != len(CORNERS):
        raise ValueError(f"a palette needs four corner images ({', '.join(CORNERS)})")
    inputs = [loaded(c) for c in corners]
    rows = whole_number(rows, "rows", MIN_GRID, MAX_GRID)
    cols = whole_number(cols, "cols", MIN_GRID, MAX_GRID)
    cell = whole_number(cell, "cell", MIN_CELL, MAX_CELL)
    tileable = flag(tileable, "tileable")
    if rows * cols * cell * cell > MAX_PALETTE_PIXELS:
        raise ValueError(f"{rows}x{cols} cells of {cell} px is more than we make in one go: "
                         "choose fewer or smaller cells")
    weights = corner_weights(rows, cols)
    codes = [engine.code_at(image, (cell, cell)) for image, _ in inputs]
    batch = palette_codes(codes, weights, engine.model.style_mean)
    cells = []
    for first in range(0, len(weights), DECODE_BATCH):
        part = Code(batch.structure[first:first + DECODE_BATCH],
                    batch.style[first:first + DECODE_BATCH], batch.size, batch.encoded)
        cells += [tensor_to_image(x) for x in engine.decode_tensor(part, tileable)]
    made = recipe(engine, "palette", [d for _, d in inputs], rows=rows, cols=cols, cell=cell,
                  tileable=tileable)
    return Result(sheet(cells, cols), made), cells, weights


def _side(size: tuple[int, int] | None) -> int | None:
    return None if size is None else size[0]


# ---- a Paint recipe's mask -----------------------------------------------------------------

def mask_to_text(labels: torch.Tensor) -> str | None:
    """(H, W) labels -> the mask in MASK_COLOURS as a 2-bit PNG, base64: what a recipe keeps so
    Restore paints the same regions back; None when longer than MAX_MASK_TEXT."""
    image = Image.fromarray(labels.to(torch.uint8).numpy())  # mode L: one byte per label
    image.putpalette([c for _, rgb in MASK_COLOURS for c in rgb])  # now P: label i, colour i
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, bits=2)
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    return text if len(text) <= MAX_MASK_TEXT else None


def mask_from_text(text) -> Image.Image:
    """`mask_to_text`'s text -> the RGB mask. A recipe is untrusted: anything else is a
    ValueError (an ImageError when the bytes are no image we accept)."""
    if not isinstance(text, str) or len(text) > MAX_MASK_TEXT:
        raise ValueError("the recipe's mask is not one this app writes")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("the recipe's mask is not base64") from None
    return load_image(data, max_side=MAX_SIDE)


# ---- Explore --------------------------------------------------------------------------------

def surprise(directions: int, rng) -> tuple[int, list[float]]:
    """A random seed and style coordinates (clipped normal: mostly familiar, sometimes odd)."""
    coords = [round(max(-2.5, min(2.5, rng.gauss(0.0, 1.0))), 2) for _ in range(directions)]
    return rng.randrange(2**31), coords

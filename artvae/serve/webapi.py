"""The playground's web API: typed endpoints `/encode(image)`, `/blend(image_a, image_b, t)`,
`/mix(images, weights)`, `/sample(seed)`, `/variations(image)`, `/expand(image)`,
`/paint(mask, textures)`, `/palette(corners)` and `/restyle(images)`, registered
with `gr.api` on the app's Blocks, and what serving them shares with the UI's events: the check
that an image is an upload (a bare string could name any file on the server), the answer a
client gets for a file (`ImageFile`), `friendly` (errors a person can act on become a `gr.Error`
saying how; anything else is logged, not shown as a traceback) and `gpu` (ZeroGPU's decorator
on a Space, else nothing). No layout here: `artvae.ui.demo` builds the page and calls
`add_endpoints` inside it; `playground` does the work and checks the raw values.
"""

# No `from __future__ import annotations`: gr.api reads the API's types from live annotations.
import functools
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypedDict

import gradio as gr
import torch
from gradio_client.utils import is_file_obj_with_meta

from . import playground as pg
from . import restyling
from .engine import Engine
from .files import OutputFolder

try:  # on a ZeroGPU Space, GPU work must run inside @spaces.GPU; elsewhere it changes nothing
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

log = logging.getLogger("artvae.app")  # one log for the app: UI events and API calls alike


class FileMeta(TypedDict):
    _type: Literal["gradio.FileData"]


class ImageFile(TypedDict):  # what gradio_client.handle_file(path) sends; listed as "filepath"
    path: str
    meta: FileMeta


def friendly(fn: Callable) -> Callable:
    """Errors a person can act on become gr.Error with their message; anything else is logged
    and reported without a traceback. The server keeps answering either way. A generator (an
    event that shows a picture before its result) stays one."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def steps(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                raise told(e, fn.__name__) from None
        return steps

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise told(e, fn.__name__) from None
    return wrapper


def told(error: Exception, name: str) -> gr.Error:
    """The gr.Error a person is shown for `error`, raised in `name` (call it while handling
    the error: an unexpected one is logged with its traceback)."""
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, ValueError):  # ImageError is one: "That file is not an image ..."
        return gr.Error(str(error), print_exception=False)
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return gr.Error("Not enough memory for that: choose a smaller output size.")
    log.exception("%s failed", name)
    return gr.Error(f"Something went wrong on the server ({type(error).__name__}). "
                    "Try again, or with other settings.", print_exception=False)


def uploaded(value, name: str) -> str:
    """A file the app received (an upload, or gradio_client.handle_file) -> its path here.
    Gradio has checked that such a path is an upload; a bare string could name any file."""
    if value is None:
        raise ValueError(f"{name}: no image given. Upload a texture (PNG, JPEG, WebP ...).")
    if not is_file_obj_with_meta(value):
        raise ValueError(f"{name} must be an image file (from Python: gradio_client.handle_file"
                         f"(path)); got {type(value).__name__} {str(value)[:40]!r}")
    return value["path"]


def file_out(path: Path) -> dict:
    """A PNG written here -> the file payload a client downloads."""
    return {"path": str(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def endpoints(engine: Engine, folder: OutputFolder) -> list[Callable]:
    """The endpoint functions, over `engine`, saving their PNGs in `folder`. Each one's
    name is its API name, its docstring the API's description, its annotations the API's types."""

    def encode(image: ImageFile, tileable: bool = False, controls: dict | None = None
               ) -> tuple[ImageFile, float, ImageFile, list[float], dict]:
        """Reconstruct an image: (reconstruction, PSNR in dB, structure map in false colour,
        style vector as offsets from the average style, recipe). controls: named edits of its
        look, as /restyle takes them (the PSNR is then the edited image's)."""
        r = pg.encode(engine, uploaded(image, "image"), tileable, controls=controls)
        structure = folder.new() / "artvae-structure.png"
        r.extras["structure"].save(structure)
        return (file_out(folder.save(r)), r.extras["psnr"], file_out(structure),
                r.extras["style"], r.recipe)

    def blend(image_a: ImageFile, image_b: ImageFile, t: float, mode: str = "full",
              ramp: str = "left-right", size: int | None = None, tileable: bool = False,
              controls: dict | None = None) -> tuple[ImageFile, dict]:
        """A -> B at t in [0, 1]; mode full | style | spatial (ramp left-right | radial);
        size: output side in pixels (default: A's size); controls: named edits of the
        result's look, as /restyle takes them."""
        r = pg.blend(engine, uploaded(image_a, "image_a"), uploaded(image_b, "image_b"), t,
                     mode, ramp, size, tileable, controls=controls)
        return file_out(folder.save(r)), r.recipe

    def mix(images: list[ImageFile], weights: list[float], structure_from: int | None = 0,
            size: int | None = None, tileable: bool = False, controls: dict | None = None
            ) -> tuple[ImageFile, dict]:
        """Styles mixed by weight (normalised); the layout of images[structure_from], or of all
        of them (None or -1); size: output side in pixels (default: the first image's);
        controls: named edits of the result's look, as /restyle takes them."""
        if not isinstance(images, list):
            raise ValueError(f"images must be a list of image files; got {images!r}"[:120])
        paths = [uploaded(im, f"images[{i}]") for i, im in enumerate(images)]
        r = pg.mix(engine, paths, weights, structure_from, size, tileable, controls=controls)
        return file_out(folder.save(r)), r.recipe

    def sample(seed: int, size: int = 512, tileable: bool = False, temperature: float = 1.0,
               coords: list[float] | None = None, fast: bool = False,
               offsets: list[float] | None = None, controls: dict | None = None
               ) -> tuple[ImageFile, dict]:
        """A texture from a seed; coords set its style along the principal directions, offsets
        move the seed's own style along them (its layout stays); fast: a random-phase layout
        instead of the learned prior's; controls: named edits of its look, as /restyle takes
        them."""
        r = pg.sample(engine, seed, size, tileable, temperature, coords, fast, offsets,
                      controls=controls)
        return file_out(folder.save(r)), r.recipe

    def variations(image: ImageFile, seed: int = 0, strength: float = pg.VARIATION_STRENGTH,
                   size: int | None = None, tileable: bool = False) -> tuple[ImageFile, dict]:
        """A new layout of the image's kind in its style; strength 0.05..1 (1: a fresh
        layout); size: output side in pixels (default: the image's size)."""
        r = pg.variations(engine, uploaded(image, "image"), seed, strength, size, tileable)
        return file_out(folder.save(r)), r.recipe

    def expand(image: ImageFile, size: int = 1024, seed: int = 0, tileable: bool = True
               ) -> tuple[ImageFile, dict]:
        """The image grown to a size x size canvas (seamless unless tileable is false), its
        layout quilted from its own pieces rather than mirrored."""
        r = pg.expand(engine, uploaded(image, "image"), size, seed, tileable)
        return file_out(folder.save(r)), r.recipe

    def paint(mask: ImageFile, textures: list[ImageFile], layout: ImageFile | None = None,
              softness: float = 0.3, size: int | None = None, tileable: bool = False,
              seed: int | None = None) -> tuple[ImageFile, dict]:
        """The mask's regions in their textures' styles: red, green, blue, yellow pixels take
        textures[0..3] (white, grey, black: textures[0]); softness 0..1 blurs the borders; the
        layout is layout's, else the sampler's for seed, else textures[0]'s; size: output
        side in pixels (default: the mask's size)."""
        if not isinstance(textures, list):
            raise ValueError(f"textures must be a list of image files; got {textures!r}"[:120])
        paths = [uploaded(t, f"textures[{i}]") for i, t in enumerate(textures)]
        r = pg.paint(engine, uploaded(mask, "mask"), paths,
                     None if layout is None else uploaded(layout, "layout"), softness, size,
                     tileable, seed)
        return file_out(folder.save(r)), r.recipe

    def palette(corners: list[ImageFile], rows: int = 5, cols: int = 5, cell: int = 128,
                tileable: bool = False) -> tuple[ImageFile, list[list[float]], dict]:
        """A rows x cols grid of Mixes of four corner textures (top-left, top-right,
        bottom-left, bottom-right) with bilinear weights, as one sheet of cell-px cells
        (4 px apart): (the sheet, each cell's corner weights row by row, recipe)."""
        if not isinstance(corners, list):
            raise ValueError(f"corners must be a list of four image files; got {corners!r}"[:120])
        paths = [uploaded(c, f"corners[{i}]") for i, c in enumerate(corners)]
        r, _, weights = pg.palette(engine, paths, rows, cols, cell, tileable)
        return file_out(folder.save(r)), weights, r.recipe

    def restyle(images: list[ImageFile], style: ImageFile | None = None, strength: float = 1.0,
                controls: dict | None = None, tileable: bool = False
                ) -> tuple[list[ImageFile], ImageFile, ImageFile, list[str], dict]:
        """Each image (or each image inside an uploaded zip; up to 100) restyled at its own
        size, its layout kept: in style's style, strength 0..1 of the way from its own, then
        the named controls, e.g. {"brightness": 1, "warmth": -0.5, "scale": 2} (brightness,
        contrast, saturation, warmth, grain: -3..3; scale 0.25..4); tileable keeps seamless
        inputs seamless. One that
        cannot be read is reported, the rest are made: (the results, each <name>.png with
        its recipe; a zip of them with a contact sheet; the contact sheet; what failed and
        why; the settings)."""
        if not isinstance(images, list):
            raise ValueError(f"images must be a list of image files; got {images!r}"[:120])
        paths = [uploaded(im, f"images[{i}]") for i, im in enumerate(images)]
        made = restyling.restyle(engine, restyling.gather(paths),
                                 None if style is None else uploaded(style, "style"), strength,
                                 controls, tileable)
        files, sheet, archive = restyling.write_outputs(made, folder.new())
        return ([file_out(f) for f in files], file_out(archive), file_out(sheet), made.failed,
                made.settings)

    return [encode, blend, mix, sample, variations, expand, paint, palette, restyle]


def add_endpoints(engine: Engine, folder: OutputFolder) -> None:
    """Register the web API on the Blocks being built (call inside `with gr.Blocks()`); the
    endpoints queue with the UI's events on the same "engine" concurrency group."""
    for fn in endpoints(engine, folder):
        gr.api(gpu(friendly(fn)), api_name=fn.__name__, concurrency_id="engine")

"""The one way images enter and leave artvae: the app, the CLI and training all load through
`load_image`, which turns any accepted source (path, bytes, file, PIL image, numpy array) into an
upright 8-bit RGB image or raises an `ImageError` a person can act on, refusing decompression
bombs from the header alone; `save_png` writes results with their recipe embedded as JSON, so a
texture found on disk says how it was made. Also the image <-> tensor conversions and a content
digest used to cache encodings.
"""

import hashlib
import io
import json
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

MAX_DECLARED_PIXELS = 64_000_000  # far above any texture we use, far below what exhausts RAM
MIN_SIDE = 8  # one latent cell of the model (it downsamples by 8)
RECIPE_KEY = "artvae-recipe"
GREY = (128, 128, 128)  # background for transparent pixels, see `_to_rgb`

# Pillow's own guard warns at 1x and errors at 2x this cap; `_decoding` makes the warning an error
# too. Set globally so that any other Pillow use in the process (Gradio's uploads) is capped too.
Image.MAX_IMAGE_PIXELS = MAX_DECLARED_PIXELS

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray

_NOT_AN_IMAGE = "That file is not an image we can read (PNG, JPEG, WebP, TGA, BMP ...)."
# What Pillow's decoders raise on a corrupt or truncated file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


class ImageError(ValueError):
    """An input that is not an image we accept; the message says what to do about it."""


def _too_many_pixels(pixels: int, size: tuple[int, int] | None = None) -> ImageError:
    declared = f"{size[0]}x{size[1]} pixels ({pixels / 1e6:.0f} MP)" if size else (
        f"{pixels / 1e6:.0f} MP")
    return ImageError(f"This image declares {declared}, more than the "
                      f"{MAX_DECLARED_PIXELS / 1e6:.0f} MP we accept.")


def _check_declared_size(width: int, height: int) -> None:
    if width * height > MAX_DECLARED_PIXELS:
        raise _too_many_pixels(width * height, (width, height))


def _stream(source: ImageSource) -> BinaryIO:
    """Bytes, a path or a file object -> an open binary stream; anything else -> ImageError."""
    if source is None:
        raise ImageError("No image was given.")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise ImageError(f"There is no image file at {os.fspath(source)}.")
        if os.path.getsize(source) == 0:
            raise ImageError("The image file is empty.")
        try:
            return open(source, "rb")  # `_decoding` closes it
        except OSError as e:
            raise ImageError(f"Could not read {os.fspath(source)}: {e.strerror}.") from e
    elif hasattr(source, "read"):
        # Read it whole: works for unseekable streams and leaves no shared file position to race on.
        data = source.read()
        if isinstance(data, str):
            raise ImageError("The image file was opened as text; open it in binary mode ('rb').")
    else:
        raise ImageError(f"Cannot read an image from {type(source).__name__!r}: give a file path, "
                         "bytes, a file object, a PIL image or a numpy array.")
    if not data:
        raise ImageError("The image file is empty.")
    return io.BytesIO(data)


@contextmanager
def _decoding(source: ImageSource) -> Iterator[Image.Image]:
    """Open `source` lazily (only the header is read) and turn every failure to decode it inside
    the block, Pillow's bomb warning included, into an ImageError. The file closes on exit, which
    also frees the pixels of an image Pillow opened: copy what you need inside the block."""
    # catch_warnings is process-wide before Python 3.14, so concurrent loads (Gradio workers) may
    # leave the filter on or off for a moment; safety does not rest on it, as `load_image` checks
    # the declared size itself straight after opening.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            if isinstance(source, Image.Image):  # the caller's image: theirs to close
                yield source
                return
            with _stream(source) as fp, Image.open(fp) as image:
                yield image
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            # Pillow refused it inside `Image.open`; its message has the pixel count, not the size.
            found = re.search(r"\((\d+) pixels\)", str(e))
            raise _too_many_pixels(int(found[1]) if found else MAX_DECLARED_PIXELS + 1) from None
        except UnidentifiedImageError:
            raise ImageError(_NOT_AN_IMAGE) from None
        except _DECODE_ERRORS as e:
            reason = str(e).rstrip(".")
            raise ImageError(f"The image file is truncated or corrupt: {reason}.") from e


def _from_16bit(a: np.ndarray) -> np.ndarray:
    """16-bit samples -> uint8, scaled (65535 -> 255, 32768 -> 128), not clipped."""
    a = np.clip(a, 0, 65535).astype(np.uint32)
    return ((a * 255 + 32767) // 65535).astype(np.uint8)


def _from_unit_float(a: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8; NaN is black, overshoot (a model's output) is clipped."""
    a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def _from_array(a: np.ndarray) -> Image.Image:
    """(H, W), (H, W, 1|3|4) uint8, uint16 or float in [0, 1] -> an L, RGB or RGBA image."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ImageError(f"An image array must be HxW, HxWx3 or HxWx4; this one is {a.shape}.")
    _check_declared_size(a.shape[1], a.shape[0])
    if a.dtype == np.uint16:
        a = _from_16bit(a)
    elif a.dtype.kind == "f":
        a = _from_unit_float(a)
    elif a.dtype != np.uint8:
        raise ImageError(f"An image array must be uint8, uint16 or float in [0, 1], not {a.dtype}.")
    return Image.fromarray(np.ascontiguousarray(a))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> a new 8-bit RGB image (always a copy, so it outlives the file)."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 32-bit "I" comes from 16-bit PNG/TIFF/PGM files: the same 0..65535 range as I;16.
        image = Image.fromarray(_from_16bit(np.asarray(image)))
    elif image.mode == "F":
        # Float files carry no range: take the smallest usual one that holds the values, so
        # 0..255 or 0..65535 data is scaled down rather than clipped to white.
        a = np.asarray(image)
        peak = float(np.nanmax(a, initial=0.0))
        top = next((t for t in (1.0, 255.0, 65535.0) if peak <= t), peak)
        image = Image.fromarray(_from_unit_float(a / top))
    if image.has_transparency_data:  # RGBA, LA, PA, RGBa, P or L/RGB with a transparent colour
        # Mid-grey, not black or white: a neutral background does not pull the texture's palette
        # (its mean colour and contrast, which the style code encodes) towards a dark or light end.
        background = Image.new("RGBA", image.size, (*GREY, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def load_image(source: ImageSource, max_side: int | None = None) -> Image.Image:
    """Any accepted source -> an upright 8-bit RGB image (first frame if animated), its longer
    side at most `max_side`; raises ImageError for anything we cannot or will not read."""
    if max_side is not None and max_side < MIN_SIDE:
        raise ValueError(f"max_side must be at least {MIN_SIDE}, got {max_side}")
    if isinstance(source, np.ndarray):
        source = _from_array(source)
    with _decoding(source) as image:
        _check_declared_size(*image.size)  # before `load`: nothing is allocated yet
        if max_side is not None and image.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, still >= max_side on both sides.
            image.draft(None, (max_side, max_side))
        image.load()
        rgb = _to_rgb(ImageOps.exif_transpose(image))
    if min(rgb.size) < MIN_SIDE:
        raise ImageError(f"This image is {rgb.width}x{rgb.height} pixels; "
                         f"we need at least {MIN_SIDE}x{MIN_SIDE}.")
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    return rgb


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB image -> (1, 3, H, W) float32 in [0, 1]. Other modes go through `load_image` first."""
    if image.mode != "RGB":
        image = load_image(image)
    x = torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W, 3), a writable copy
    return x.permute(2, 0, 1).unsqueeze(0).float().div(255.0).contiguous()


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) in [0, 1] -> RGB image (clamped, rounded to 8 bits)."""
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) or (1, 3, H, W) tensor, got {tuple(t.shape)}")
    t = torch.nan_to_num(t.detach().float().cpu(), nan=0.0).clamp(0.0, 1.0)
    pixels = t.mul(255.0).round().to(torch.uint8).permute(1, 2, 0)  # (H, W, 3)
    return Image.fromarray(pixels.contiguous().numpy())


def save_png(image: Image.Image, path: str | os.PathLike, recipe: dict | None = None,
             compress_level: int = 6) -> Path:
    """Write `image` as a PNG at `path` (parents created), with `recipe` as JSON under
    RECIPE_KEY in a text chunk. Returns the path. `compress_level` 1 writes a 256 px image
    about 4x faster than zlib's default 6, for a file about 15% larger."""
    path = Path(path)
    info = PngInfo()
    if recipe is not None:
        # Serialise first so a bad recipe fails before touching the disk. add_text writes tEXt,
        # or UTF-8 iTXt when the JSON holds non-Latin-1 characters.
        info.add_text(RECIPE_KEY, json.dumps(recipe, ensure_ascii=False, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside and rename: the app may be showing a sample while training rewrites it.
    partial = path.with_name(path.name + ".partial")
    image.save(partial, format="PNG", pnginfo=info, compress_level=compress_level)
    os.replace(partial, path)
    return path


def save_picture(image: Image.Image, path: str | os.PathLike) -> Path:
    """A picture for documents: PNG for a `.png` path, else the format its suffix names
    (`.jpg`, `.webp`) at quality 90, a tenth of the PNG's size for a grid of textures."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        return save_png(image, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def read_recipe(source: ImageSource) -> dict | None:
    """The recipe `save_png` embedded in `source`, or None if it has none (or it is not valid
    JSON). Raises ImageError only when `source` is not an image at all."""
    if isinstance(source, np.ndarray):
        return None  # bare pixels carry no metadata
    with _decoding(source) as image:
        # `save_png` writes the chunk before the pixel data, so the header read has it in `info`.
        text = image.info.get(RECIPE_KEY)
    if not isinstance(text, str):
        return None
    try:
        recipe = json.loads(text)
    except ValueError:
        return None
    return recipe if isinstance(recipe, dict) else None


def image_digest(image: Image.Image) -> str:
    """16 hex chars of sha256 over size, mode and pixel bytes: equal pixels, equal digest.
    Meant for `load_image` output (a palette image's palette is not part of it)."""
    h = hashlib.sha256(f"{image.width}x{image.height} {image.mode}\0".encode())
    h.update(image.tobytes())
    return h.hexdigest()[:16]

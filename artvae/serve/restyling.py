"""Restyle as the app and the web API ask for it: a set of images (files, or the images of a
zip) each restyled at its own size with its layout kept (`Engine.restyle`): in one style
image's style, `strength` of the way, then the named controls. Each result keeps its input's
name and carries its recipe; one that cannot be read is reported and the rest are made. The
results go out as PNGs, a contact sheet and a zip of both. The command line calls
`Engine.restyle` itself, a window of files at a time.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from artvae.ops.images import image_digest, load_image, save_png

from .checks import flag, number
from .engine import MAX_SIDE, Engine
from .playground import Result, loaded, named_edits, recipe

MAX_INPUTS = 100  # images one restyle of the app or the web API takes
MAX_ZIP_MEMBER = 64 * 2**20  # bytes of one image inside an uploaded zip, uncompressed
MAX_ZIP_TOTAL = 512 * 2**20  # bytes of all of them
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tga", ".tif", ".tiff", ".gif"}
THUMB = 160  # a contact sheet's cell
SHEET_NAME, ZIP_NAME = "contact-sheet.png", "artvae-restyled.zip"


@dataclass
class Restyled:
    names: list[str]  # each input's output file name, <stem>.png, in order
    results: list[Result | None]  # None where that input failed
    errors: list[str | None]  # why it failed
    settings: dict  # what every result shares (the style image's digest, strength, ...)

    @property
    def failed(self) -> list[str]:
        return [f"{n}: {e}" for n, e in zip(self.names, self.errors, strict=True) if e]


def zip_images(path: str | Path) -> list[tuple[str, bytes]]:
    """The images inside a zip as (file name, bytes), in the zip's order; folders, other files
    and names that would climb out of a folder are passed over. ValueError when it is no zip
    or holds too much."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ValueError(f"{Path(path).name} is not a zip file we can read") from None
    images, total = [], 0
    with archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename)
            if (member.is_dir() or ".." in name.parts or name.suffix.lower() not in IMAGE_SUFFIXES
                    or name.name.startswith(".")):
                continue
            total += member.file_size
            if member.file_size > MAX_ZIP_MEMBER or total > MAX_ZIP_TOTAL:
                raise ValueError(f"{Path(path).name} holds more than we take in one go "
                                 f"(images up to {MAX_ZIP_MEMBER // 2**20} MB, "
                                 f"{MAX_ZIP_TOTAL // 2**20} MB in all)")
            images.append((name.name, archive.read(member)))
    return images


def gather(paths: list[str | Path]) -> list[tuple[str, object]]:
    """Uploaded files -> (name, source) for each image: a zip gives its images, any other
    file is itself (an unreadable one is reported by `restyle`)."""
    inputs: list[tuple[str, object]] = []
    for path in paths:
        if Path(path).suffix.lower() == ".zip":
            inputs += zip_images(path)
        else:
            inputs.append((Path(path).name, path))
    if not inputs:
        raise ValueError("Add images to restyle: PNG, JPEG, WebP ... or a zip of them.")
    if len(inputs) > MAX_INPUTS:
        raise ValueError(f"{len(inputs)} images is more than we restyle in one go here "
                         f"({MAX_INPUTS}): split them, or use `python -m artvae restyle`")
    return inputs


def output_names(names: list[str]) -> list[str]:
    """<stem>.png for each name, made unique in order (a second bricks.png -> bricks-2.png)."""
    out, seen = [], set()
    for name in names:
        stem = Path(name).stem or "image"
        candidate, n = f"{stem}.png", 1
        while candidate in seen:
            n += 1
            candidate = f"{stem}-{n}.png"
        seen.add(candidate)
        out.append(candidate)
    return out


def restyle(engine: Engine, inputs: list[tuple[str, object]], style=None, strength=1.0,
            controls=None, tileable: bool = False,
            progress: Callable[[int, int], None] | None = None) -> Restyled:
    """Each (name, source) restyled (`Engine.restyle`), with its recipe."""
    strength = number(strength, "strength", 0.0, 1.0)
    tileable = flag(tileable, "tileable")
    amounts, scale, edits = named_edits(engine, controls)
    style_image, style_digest = (None, None) if style is None else loaded(style)
    images, errors = [], []
    for _, source in inputs:
        try:
            images.append(load_image(source, max_side=MAX_SIDE))
            errors.append(None)
        except (ValueError, OSError) as error:  # ImageError is a ValueError
            images.append(None)
            errors.append(str(error))
    wanted = [i for i, image in enumerate(images) if image is not None]
    made = engine.restyle([images[i] for i in wanted], style_image, strength, amounts, scale,
                          tileable, progress=progress) if wanted else []
    settings = {"strength": strength if style is not None else None, "tileable": tileable,
                **edits}
    results: list[Result | None] = [None] * len(inputs)
    for i, out in zip(wanted, made, strict=True):
        if isinstance(out, Exception):
            errors[i] = str(out)
            continue
        digests = [image_digest(images[i])] + ([style_digest] if style_digest else [])
        results[i] = Result(out, recipe(engine, "restyle", digests, **settings))
    return Restyled(output_names([n for n, _ in inputs]), results, errors,
                    {"style": style_digest, **settings})


def contact_sheet(restyled: Restyled, cell: int = THUMB, gap: int = 4) -> Image.Image:
    """The results as thumbnails (each fitted into `cell` x `cell`), in a near-square grid."""
    pictures = [r.image for r in restyled.results if r is not None]
    if not pictures:
        raise ValueError("Nothing was restyled: " + "; ".join(restyled.failed))
    cols = min(8, math.ceil(math.sqrt(len(pictures))))
    rows = -(-len(pictures) // cols)
    sheet = Image.new("RGB", (cols * (cell + gap) - gap, rows * (cell + gap) - gap),
                      (40, 40, 40))
    for i, picture in enumerate(pictures):
        thumb = ImageOps.contain(picture, (cell, cell))
        left = (i % cols) * (cell + gap) + (cell - thumb.width) // 2
        top = (i // cols) * (cell + gap) + (cell - thumb.height) // 2
        sheet.paste(thumb, (left, top))
    return sheet


def write_outputs(restyled: Restyled, folder: Path) -> tuple[list[Path], Path, Path]:
    """The results as PNGs (their recipes inside) in `folder`, the contact sheet, and a zip
    of all of them with the sheet and a report (restyle.json: settings, failures)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [save_png(r.image, folder / name, recipe=r.recipe)
             for name, r in zip(restyled.names, restyled.results, strict=True) if r is not None]
    sheet = save_png(contact_sheet(restyled), folder / SHEET_NAME)
    report = {"settings": restyled.settings, "written": [f.name for f in files],
              "failed": restyled.failed}
    archive = folder / ZIP_NAME
    with zipfile.ZipFile(archive, "w") as out:
        for path in [*files, sheet]:
            out.write(path, path.name)
        out.writestr("restyle.json", json.dumps(report, indent=1))
    return files, sheet, archive


"""The training corpus: textures and art from Debian's packages (or any folder), filtered and split.

`python -m artvae.data build --out data/corpus` fetches the packages listed in `sources.py`
(GIMP, Krita, MyPaint, OpenArena, SuperTuxKart and Warzone 2100 textures; Wesnoth, Widelands and
GNOME art) with `apt-get download`, unpacks them with `dpkg -x` (no root install), reads their
images (`sources.decode` parses GIMP's `.pat`; `.pk3` and `.wz` are zips), drops what is not
a training image (tiny, nearly flat, transparent cut-outs, normal maps, near duplicates), keeps at
most `--package-cap` images of any one package, and writes PNGs plus a `manifest.json` recording
each file's group ("textures" or "art"), source package, licence, size and split, with counts per
package and group under "sources" and "groups". A transparent piece of art (a portrait on a clear
background) keeps its largest opaque rectangle; a transparent texture is a decal and is dropped.
The validation split is fixed by a hash of the file name, a larger share for the smaller art
group, so training never sees it and rebuilding keeps it. `--from DIR` builds from any folder of
images instead, all of one `--group`. `read_manifest` and `load_split` read one split and,
given `group`, one group (a manifest from before groups is all "textures").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from artvae.ops.images import ImageError, load_image

from .sources import GROUPS, Candidate, debian_candidates, decode, fetch_debian, folder_candidates
from .sources import IMAGE_SUFFIXES as IMAGE_SUFFIXES  # re-exported: evaluate reads folders

MIN_SIDE = 64  # smaller patterns are icons or dither cells, not textures
MIN_INTERIOR = 128  # a smaller opaque patch of a portrait is a sliver of costume, not a picture
CUTOUT_SHARE = 0.1  # more than this share transparent: a cut-out (a decal, a portrait)
MAX_SIDE = 1024  # larger sources are downscaled: training crops are 128-256 px
PACKAGE_CAP = 500  # no one package outweighs the rest: OpenArena alone passes ~900 textures
# share of each group held out for validation, chosen by name hash: art is the smaller group
# (~400 pictures), so it gives more to have a validation set of some 50
VAL_PERCENT = {"textures": 8, "art": 12}


@dataclass
class Entry:
    """One image in manifest.json."""

    file: str
    group: str  # "textures" or "art"
    package: str
    licence: str
    width: int
    height: int
    split: str  # "train" or "val"


# --- filtering ------------------------------------------------------------------------------


def transparent_share(image: Image.Image) -> float:
    """The share of pixels more than half transparent; 0 for an image without alpha."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return 0.0
    return float((np.asarray(image.convert("RGBA"))[..., 3] < 128).mean())


def rejection(image: Image.Image, name: str) -> str | None:
    """Why `image` is not a training image, or None if it is one."""
    if min(image.size) < MIN_SIDE:
        return "tiny"
    if transparent_share(image) > CUTOUT_SHARE:
        return "transparent cut-out"
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if rgb.mean(axis=2).std() < 0.02:
        return "nearly flat"
    mean = rgb.reshape(-1, 3).mean(0)
    named_like_one = re.search(r"(normal|_norm|_nm$|_n$|bump)", name.lower()) is not None
    looks_like_one = abs(mean[0] - 0.5) < 0.08 and abs(mean[1] - 0.5) < 0.08 and mean[2] > 0.7
    if named_like_one or looks_like_one:
        return "normal or bump map"
    return None


def opaque_interior(image: Image.Image, min_side: int = MIN_INTERIOR) -> Image.Image | None:
    """The largest fully opaque rectangle of a cut-out, at most 2:1; None if either side of it
    would be under `min_side`. Searched on 4x4 cells, a cell counting only if all of it is
    opaque, so the crop holds no background."""
    cell = 4
    opaque = np.asarray(image.convert("RGBA"))[..., 3] >= 250  # (H, W)
    h, w = opaque.shape[0] // cell, opaque.shape[1] // cell
    cells = opaque[: h * cell, : w * cell].reshape(h, cell, w, cell).all(axis=(1, 3))  # (h, w)
    top, left, height, width = largest_rectangle(cells)
    if min(height, width) * cell < min_side:
        return None
    box = (left * cell, top * cell, (left + width) * cell, (top + height) * cell)
    return image.convert("RGBA").crop(box)


def largest_rectangle(mask: np.ndarray, max_aspect: int = 2) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest all-True rectangle of a (H, W) bool mask whose
    long side is at most `max_aspect` times its short one (a sliver of a sleeve is no picture).
    The histogram-stack method: for each row, the bars of True above it; each bar popped from
    the stack bounds the widest rectangle of its height, which is then trimmed to the aspect."""
    best, found = 0, (0, 0, 0, 0)
    bars = np.zeros(mask.shape[1] + 1, dtype=np.int64)  # the last bar stays 0: flushes the stack
    for row in range(mask.shape[0]):
        bars[:-1] = np.where(mask[row], bars[:-1] + 1, 0)
        stack: list[tuple[int, int]] = []  # (first column, height), heights increasing
        for col, height in enumerate(bars.tolist()):
            start = col
            while stack and stack[-1][1] >= height:
                start, bar = stack.pop()
                width = col - start
                kept_h, kept_w = min(bar, width * max_aspect), min(width, bar * max_aspect)
                if kept_h * kept_w > best:
                    best = kept_h * kept_w
                    found = (row - bar + 1 + (bar - kept_h) // 2, start + (width - kept_w) // 2,
                             kept_h, kept_w)
            stack.append((start, height))
    return found


def dhash(image: Image.Image) -> int:
    """64-bit difference hash of the grey image: near duplicates differ in a few bits."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def _hash_percent(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 100


def split_of(name: str, group: str = "textures") -> str:
    """Fixed by the name alone, so a rebuild or a grown corpus keeps the validation set."""
    return "val" if _hash_percent(name) < VAL_PERCENT[group] else "train"


# --- build ----------------------------------------------------------------------------------


def build(
    candidates: Iterator[Candidate],
    out: Path,
    max_side: int = MAX_SIDE,
    package_cap: int | None = PACKAGE_CAP,
) -> dict:
    """Filter candidates, write `out/<name>.png` and `out/manifest.json`; returns the manifest.
    Transparent art keeps its opaque interior; past `package_cap` accepted images of a package,
    the ones kept are fixed by a hash of their names (None: no cap)."""
    out.mkdir(parents=True, exist_ok=True)
    entries: list[Entry] = []
    rejected: Counter[str] = Counter()
    seen_hashes: list[int] = []
    seen_names: set[str] = set()
    for candidate in candidates:
        if candidate.name in seen_names:  # one texture shipped as both .jpg and .tga
            rejected["duplicate name"] += 1
            continue
        seen_names.add(candidate.name)
        try:
            image = decode(candidate)
            if candidate.group == "art" and transparent_share(image) > CUTOUT_SHARE:
                image = opaque_interior(image) or image  # a portrait on a clear background
            reason = rejection(image, candidate.name)
            rgb = None if reason else load_image(image, max_side=max_side)
        except (OSError, ValueError, ImageError, SyntaxError):
            reason = "unreadable"
        if reason is None:
            h = dhash(rgb)
            if any(bin(h ^ other).count("1") <= 3 for other in seen_hashes):
                reason = "near duplicate"
            seen_hashes.append(h)
        if reason:
            rejected[reason] += 1
            continue
        file = f"{candidate.name}.png"
        rgb.save(out / file, optimize=False)
        split = split_of(candidate.name, candidate.group)
        entries.append(
            Entry(file, candidate.group, candidate.package, candidate.licence, *rgb.size, split)
        )
    over = {e.file for e in _over_cap(entries, package_cap)}
    for file in over:
        (out / file).unlink()
    if over:
        rejected["over package cap"] = len(over)
    entries = [e for e in entries if e.file not in over]
    manifest = {
        "textures": [asdict(e) for e in entries],  # all entries, art too (the key is older)
        "rejected": dict(rejected),
        "counts": _counts(entries),
        "groups": {g: _counts([e for e in entries if e.group == g]) for g in _groups(entries)},
        "sources": _sources(entries),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _over_cap(entries: list[Entry], cap: int | None) -> list[Entry]:
    """The entries past `cap` in each package, ranked by a hash unrelated to the split's."""
    if cap is None:
        return []
    dropped = []
    for package in sorted({e.package for e in entries}):
        mine = sorted((e for e in entries if e.package == package),
                      key=lambda e: hashlib.sha1(f"cap:{e.file}".encode()).hexdigest())
        dropped += mine[cap:]
    return dropped


def _counts(entries: list[Entry]) -> dict[str, int]:
    return {s: sum(e.split == s for e in entries) for s in ("train", "val")}


def _groups(entries: list[Entry]) -> list[str]:
    known = [g for g in GROUPS if any(e.group == g for e in entries)]
    return known + sorted({e.group for e in entries} - set(GROUPS))


def _sources(entries: list[Entry]) -> dict[str, dict]:
    """Per package: its licences and its train/val counts in each group."""
    sources: dict[str, dict] = {}
    for package in dict.fromkeys(e.package for e in entries):  # first-seen order
        mine = [e for e in entries if e.package == package]
        sources[package] = {
            "licences": sorted({e.licence for e in mine}),
            **{g: _counts([e for e in mine if e.group == g]) for g in _groups(mine)},
        }
    return sources


def read_manifest(folder: Path, split: str | None = None, group: str | None = None) -> list[dict]:
    """The manifest's entries, optionally only one split and one group (an entry from before
    groups counts as "textures")."""
    manifest_file = Path(folder) / "manifest.json"
    if not manifest_file.is_file():
        raise FileNotFoundError(
            f"{manifest_file} not found: build the corpus with "
            f"`python -m artvae.data build --out {folder}`"
        )
    entries = json.loads(manifest_file.read_text())["textures"]
    return [
        e
        for e in entries
        if (split is None or e["split"] == split)
        and (group is None or entry_group(e) == group)
    ]


def entry_group(entry: dict) -> str:
    """A manifest entry's source group (an entry from before groups counts as "textures")."""
    return entry.get("group", "textures")


def split_groups(folder: Path, split: str) -> list[str]:
    """The source group of each image of a split, in `load_split` order."""
    return [entry_group(e) for e in read_manifest(folder, split)]


def load_uint8(path: Path, max_side: int) -> torch.Tensor:
    """An image file as a (3, H, W) uint8 tensor, through the one safe loader."""
    return torch.from_numpy(np.asarray(load_image(path, max_side=max_side)).copy()).permute(2, 0, 1)


def load_split(
    folder: Path, split: str, max_side: int, group: str | None = None
) -> list[torch.Tensor]:
    """A split's images, optionally of one group only, as (3, H, W) uint8 tensors."""
    entries = read_manifest(folder, split, group)
    if not entries:
        of_group = f" of group {group}" if group else ""
        raise ValueError(f"no {split} images{of_group} in {folder}/manifest.json")
    return [load_uint8(Path(folder) / e["file"], max_side) for e in entries]


def centre_crops(images: list[torch.Tensor], side: int) -> torch.Tensor:
    """(N, 3, side, side) in [0, 1]: the centre of each, upscaled first where it is smaller."""
    crops = []
    for image in images:
        h, w = image.shape[1:]
        image = image.float()
        if min(h, w) < side:
            # an explicit size: a float scale factor can round 161 * 256/161 down to 255
            scale = side / min(h, w)
            h, w = max(side, round(h * scale)), max(side, round(w * scale))
            image = F.interpolate(image[None], size=(h, w), mode="bicubic", align_corners=False)[
                0
            ].clamp(0, 255)
        top, left = (h - side) // 2, (w - side) // 2
        crops.append(image[:, top : top + side, left : left + side] / 255)
    return torch.stack(crops)


def pack(folder: Path, out: Path, max_side: int = 512, quality: int = 90,
         val_images: int = 24) -> dict:
    """A compact copy of a built corpus for a machine that can take only so much (a lent GPU
    machine's transfer limit is 64 MiB): the training split and the first `val_images`
    held-out images (those training validates on), at most `max_side` px, as lossy WebP at
    `quality`, with a manifest of the same entries. Returns the counts and the size."""
    out.mkdir(parents=True, exist_ok=True)
    entries = read_manifest(folder, "train") + read_manifest(folder, "val")[:val_images]
    total = 0
    for entry in tqdm(entries, desc="packing", unit="image"):
        name = Path(entry["file"]).with_suffix(".webp").name
        load_image(folder / entry["file"], max_side=max_side).save(
            out / name, quality=quality, method=4)
        total += (out / name).stat().st_size
        entry["file"] = name
    (out / "manifest.json").write_text(json.dumps({"textures": entries}, indent=1))
    return {"out": str(out), "images": len(entries), "mib": round(total / 2**20, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m artvae.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser(
        "build", help="assemble the corpus of textures and art", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build_cmd.add_argument("--out", type=Path, required=True, help="output folder of PNGs")
    build_cmd.add_argument("--from", dest="source", type=Path, help="use this folder of images")
    build_cmd.add_argument(
        "--group",
        choices=GROUPS,
        default="textures",
        help="the group of the images of --from (default textures)",
    )
    build_cmd.add_argument(
        "--cache",
        type=Path,
        default=Path("data/debian"),
        help="where the downloaded and unpacked .deb files are kept",
    )
    build_cmd.add_argument("--max-side", type=int, default=MAX_SIDE)
    build_cmd.add_argument(
        "--package-cap",
        type=int,
        default=PACKAGE_CAP,
        help=f"most images kept from one package, 0 for no cap (default {PACKAGE_CAP})",
    )
    pack_cmd = commands.add_parser(
        "pack", help="a compact lossy copy of a built corpus, to train on a lent GPU machine")
    pack_cmd.add_argument("--data", type=Path, required=True, help="a built corpus")
    pack_cmd.add_argument("--out", type=Path, required=True)
    pack_cmd.add_argument("--max-side", type=int, default=512,
                          help="longest side kept (default 512, what training reads)")
    pack_cmd.add_argument("--quality", type=int, default=90, help="WebP quality (default 90)")
    args = parser.parse_args(argv)

    if args.command == "pack":
        print(json.dumps(pack(args.data, args.out, args.max_side, args.quality)))
        return
    if args.source:
        candidates = folder_candidates(args.source, args.group)
    else:
        candidates = debian_candidates(fetch_debian(args.cache))
    manifest = build(candidates, args.out, args.max_side, args.package_cap or None)
    summary = {"out": str(args.out), **manifest["counts"], "groups": manifest["groups"]}
    print(json.dumps({**summary, "rejected": manifest["rejected"]}))


if __name__ == "__main__":
    main(sys.argv[1:])

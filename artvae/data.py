"""The training corpus: textures from Debian's art packages (or any folder), filtered and split.

`python -m artvae.data build --out data/textures` fetches GIMP, Krita, MyPaint and OpenArena
texture packages with `apt-get download`, unpacks them with `dpkg -x` (no root install), reads
their patterns (GIMP `.pat` is parsed here: Pillow cannot), drops what is not a texture (tiny,
nearly flat, transparent cut-outs, normal maps, near duplicates), and writes PNGs plus a
`manifest.json` recording each file's source package, licence, size and split. The validation
split is fixed by a hash of the file name, so training never sees it and rebuilding keeps it.
`--from DIR` builds from any folder of images instead.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .images import ImageError, load_image

DEBIAN_PACKAGES = (
    "gimp-data",
    "gimp-data-extras",
    "krita-data",
    "mypaint-data",
    "mypaint-data-extras",
    "openarena-081-textures",
)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tga", ".bmp", ".webp", ".tif", ".tiff", ".pat"}
MIN_SIDE = 64  # smaller patterns are icons or dither cells, not textures
MAX_SIDE = 1024  # larger sources are downscaled: training crops are 128-256 px
VAL_PERCENT = 8  # share of textures held out for validation, chosen by name hash


@dataclass
class Candidate:
    """One image found in a source, before filtering."""

    name: str  # unique, filesystem-safe stem of the output PNG
    package: str  # Debian package or "folder"
    licence: str
    data: bytes  # the encoded file as shipped (.pat, .png, .jpg, .tga ...)
    suffix: str


@dataclass
class Entry:
    """One texture in manifest.json."""

    file: str
    package: str
    licence: str
    width: int
    height: int
    split: str  # "train" or "val"


# --- GIMP patterns --------------------------------------------------------------------------


def read_pat(data: bytes) -> Image.Image:
    """Decode a GIMP pattern (.pat, also used by Krita): big-endian header, then raw pixels."""
    if len(data) < 24:
        raise ValueError("not a GIMP pattern: file shorter than its header")
    header_size, version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or version != 1 or depth not in (1, 2, 3, 4):
        raise ValueError("not a GIMP pattern: bad magic, version or colour depth")
    pixels = data[header_size : header_size + width * height * depth]
    if len(pixels) != width * height * depth:
        raise ValueError("GIMP pattern is truncated")
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[depth]
    return Image.frombytes(mode, (width, height), pixels)


def write_pat(image: Image.Image, name: str = "pattern") -> bytes:
    """Encode a GIMP pattern (the inverse of `read_pat`)."""
    depth = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[image.mode]
    label = name.encode() + b"\0"
    header = struct.pack(">5I", 24 + len(label), 1, *image.size, depth) + b"GPAT" + label
    return header + image.tobytes()


# --- sources --------------------------------------------------------------------------------


def fetch_debian(cache: Path, packages: tuple[str, ...] = DEBIAN_PACKAGES) -> Path:
    """apt-get download + dpkg -x each package into cache/root/<package>; returns cache/root."""
    debs, root = cache / "debs", cache / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for package in packages:
        target = root / package
        if target.is_dir():
            continue
        if not list(debs.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        (deb,) = debs.glob(f"{package}_*.deb")
        target.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    return root


def package_licence(package_root: Path, package: str) -> str:
    """The licence of the `Files: *` stanza of the package's Debian copyright file."""
    copyright_file = package_root / "usr/share/doc" / package / "copyright"
    if not copyright_file.is_file():
        return "see the Debian package"
    text = copyright_file.read_text(errors="replace")
    stanza = re.search(r"^Files:[ \t]*\*[ \t]*$.*?^License:[ \t]*([^\n]+)", text, re.M | re.S)
    if stanza:
        return stanza.group(1).strip()
    first = re.search(r"^License:[ \t]*([^\n]+)", text, re.M)
    return first.group(1).strip() if first else "see the Debian package"


def _texture_files(package_root: Path) -> Iterator[Path]:
    """Where each package keeps its textures; everything else (icons, brushes) is skipped."""
    for folder in (
        "usr/share/gimp/2.0/patterns",
        "usr/share/krita/patterns",
        "usr/share/mypaint/backgrounds",
    ):
        base = package_root / folder
        if base.is_dir():
            yield from sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    yield from sorted(package_root.rglob("*.pk3"))


def _safe_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(parts)).strip("_")


def debian_candidates(root: Path) -> Iterator[Candidate]:
    """Every image in the unpacked packages under root/<package>/, including inside .pk3 zips."""
    for package_root in sorted(p for p in root.iterdir() if p.is_dir()):
        package = package_root.name
        licence = package_licence(package_root, package)
        for path in _texture_files(package_root):
            if path.suffix.lower() == ".pk3":
                yield from _zip_candidates(path, package, licence)
                continue
            name = _safe_name(package, path.relative_to(package_root).with_suffix("").name)
            yield Candidate(name, package, licence, path.read_bytes(), path.suffix.lower())


def _zip_candidates(path: Path, package: str, licence: str) -> Iterator[Candidate]:
    """Material textures inside a Quake-3 style .pk3 (a zip); sky boxes under env/ are skipped."""
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            inner = Path(info.filename)
            if info.is_dir() or inner.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if inner.parts[0] != "textures":
                continue
            name = _safe_name(package, *inner.with_suffix("").parts[1:])
            yield Candidate(name, package, licence, archive.read(info), inner.suffix.lower())


def folder_candidates(folder: Path) -> Iterator[Candidate]:
    """Every image file under an arbitrary folder (`--from DIR`)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            name = _safe_name(*path.relative_to(folder).with_suffix("").parts)
            yield Candidate(
                name,
                "folder",
                f"unknown (from {folder.name})",
                path.read_bytes(),
                path.suffix.lower(),
            )


# --- filtering ------------------------------------------------------------------------------


def decode(candidate: Candidate) -> Image.Image:
    """The candidate's pixels, keeping alpha (needed by the cut-out filter)."""
    if candidate.suffix == ".pat":
        return read_pat(candidate.data)
    image = Image.open(io.BytesIO(candidate.data))
    image.load()
    return image


def rejection(image: Image.Image, name: str) -> str | None:
    """Why `image` is not a training texture, or None if it is one."""
    if min(image.size) < MIN_SIDE:
        return "tiny"
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if (alpha < 128).mean() > 0.1:
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


def dhash(image: Image.Image) -> int:
    """64-bit difference hash of the grey image: near duplicates differ in a few bits."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def split_of(name: str) -> str:
    """Fixed by the name alone, so a rebuild or a grown corpus keeps the validation set."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 100
    return "val" if bucket < VAL_PERCENT else "train"


# --- build ----------------------------------------------------------------------------------


def build(candidates: Iterator[Candidate], out: Path, max_side: int = MAX_SIDE) -> dict:
    """Filter candidates, write `out/<name>.png` and `out/manifest.json`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    entries: list[Entry] = []
    rejected: dict[str, int] = {}
    seen_hashes: list[int] = []
    for candidate in candidates:
        try:
            image = decode(candidate)
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
            rejected[reason] = rejected.get(reason, 0) + 1
            continue
        file = f"{candidate.name}.png"
        rgb.save(out / file, optimize=False)
        entries.append(
            Entry(file, candidate.package, candidate.licence, *rgb.size, split_of(candidate.name))
        )
    manifest = {
        "textures": [asdict(e) for e in entries],
        "rejected": rejected,
        "counts": {s: sum(e.split == s for e in entries) for s in ("train", "val")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(folder: Path, split: str | None = None) -> list[dict]:
    """The manifest's texture entries, optionally only one split."""
    manifest_file = Path(folder) / "manifest.json"
    if not manifest_file.is_file():
        raise FileNotFoundError(
            f"{manifest_file} not found: build the corpus with "
            f"`python -m artvae.data build --out {folder}`"
        )
    textures = json.loads(manifest_file.read_text())["textures"]
    return [t for t in textures if split is None or t["split"] == split]


def load_uint8(path: Path, max_side: int) -> torch.Tensor:
    """An image file as a (3, H, W) uint8 tensor, through the one safe loader."""
    return torch.from_numpy(np.asarray(load_image(path, max_side=max_side)).copy()).permute(2, 0, 1)


def load_split(folder: Path, split: str, max_side: int) -> list[torch.Tensor]:
    """A split's textures as (3, H, W) uint8 tensors."""
    entries = read_manifest(folder, split)
    if not entries:
        raise ValueError(f"no {split} textures in {folder}/manifest.json")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m artvae.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="assemble the texture corpus")
    build_cmd.add_argument("--out", type=Path, required=True, help="output folder of PNGs")
    build_cmd.add_argument("--from", dest="source", type=Path, help="use this folder of images")
    build_cmd.add_argument(
        "--cache",
        type=Path,
        default=Path("data/debian"),
        help="where the downloaded and unpacked .deb files are kept",
    )
    build_cmd.add_argument("--max-side", type=int, default=MAX_SIDE)
    args = parser.parse_args(argv)

    if args.source:
        candidates = folder_candidates(args.source)
    else:
        candidates = debian_candidates(fetch_debian(args.cache))
    manifest = build(candidates, args.out, args.max_side)
    print(
        json.dumps({"out": str(args.out), **manifest["counts"], "rejected": manifest["rejected"]})
    )


if __name__ == "__main__":
    main(sys.argv[1:])

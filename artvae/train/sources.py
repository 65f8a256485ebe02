"""Where the training corpus comes from: which Debian packages, which of their folders, as which
group, under which licence.

Two groups. "textures": tileable materials, game textures and patterns (GIMP, Krita, MyPaint,
OpenArena, SuperTuxKart, Warzone 2100 terrain). "art": painted and drawn pictures and photographs
(Wesnoth's portraits, story art and maps; Widelands' loading screens and campaign paintings;
Warzone 2100's backdrops; GNOME wallpapers). A `Source` names a package and the globs of images
taken from it, or of members of the zip archives it ships (Quake-3 `.pk3`, Warzone `.wz`);
anything not named (icons, unit sprites, hex tiles, masks) is left out. `fetch_debian` downloads
and unpacks the packages without root; `debian_candidates` yields each image with its package,
group and licence, read file by file from the package's machine-readable debian/copyright, and
`decode` reads it (GIMP's `.pat` is parsed here: Pillow cannot).
"""

from __future__ import annotations

import fnmatch
import io
import re
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tga", ".bmp", ".webp", ".tif", ".tiff", ".pat"}
GROUPS = ("textures", "art")
UNKNOWN_LICENCE = "see the Debian package"


@dataclass
class Candidate:
    """One image found in a source, before filtering."""

    name: str  # unique, filesystem-safe stem of the output PNG
    package: str  # Debian package or "folder"
    licence: str
    data: bytes  # the encoded file as shipped (.pat, .png, .jpg, .tga ...)
    suffix: str
    group: str = "textures"  # "textures" or "art", see GROUPS


@dataclass(frozen=True)
class Take:
    """Images of one group in a package: files matching a glob, or members of zips matching one."""

    glob: str  # under the unpacked package root; `**` descends into sub-folders
    group: str = "textures"
    members: str | None = None  # fnmatch of zip members, when `glob` names archives (.pk3, .wz)
    flat_names: bool = False  # name by file stem alone: the first corpus's names, fixing its split


@dataclass(frozen=True)
class Source:
    """A Debian package and what the corpus takes from it."""

    package: str
    takes: tuple[Take, ...]
    skip: str | None = None  # regex on the file stem: masks, glow and light maps, signs, skies
    licence: str | None = None  # where debian/copyright is not machine-readable (DEP-5)


def _wesnoth(package: str, base: str) -> Source:
    """Wesnoth's painted portraits (on a clear background), story illustrations and maps."""
    return Source(
        package,
        tuple(Take(f"{base}/{folder}", "art") for folder in
              ("portraits/**/*", "story/**/*", "maps/*")),
        skip=r"logo",  # campaign logos: lettering on a clear background
        licence="GPL-2+",  # its debian/copyright is free text: GPL-2+ for all of the game
    )


WESNOTH = "usr/share/games/wesnoth/1.16/data"
WESNOTH_CAMPAIGNS = ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe",
                     "thot", "trow", "tsg", "ttb", "utbs")
STK = "usr/share/games/supertuxkart/data"
WIDELANDS = "usr/share/games/widelands/data"
WARZONE = "usr/share/games/warzone2100/base.wz"

DEBIAN_SOURCES = (
    # textures: the first corpus, unchanged (its names fix the validation split)
    Source("gimp-data", (Take("usr/share/gimp/2.0/patterns/**/*", flat_names=True),)),
    Source("gimp-data-extras", (Take("usr/share/gimp/2.0/patterns/**/*", flat_names=True),)),
    Source("krita-data", (Take("usr/share/krita/patterns/**/*", flat_names=True),)),
    Source("mypaint-data", (Take("usr/share/mypaint/backgrounds/**/*", flat_names=True),)),
    Source("mypaint-data-extras", (Take("usr/share/mypaint/backgrounds/**/*", flat_names=True),)),
    Source("openarena-081-textures", (Take("**/*.pk3", members="textures/*"),)),
    # textures: game materials
    Source(
        "supertuxkart-data",
        (Take(f"{STK}/textures/*"), Take(f"{STK}/tracks/*/*")),
        skip=r"(?i)gloss|mask|normal|_n$|_nm$|_a$|alpha|spec|light|glow|shadow|sky|cloud|sign"
        r"|flag|logo|icon|gfx|halo|screenshot|banner|poster|font|text",
    ),
    Source(
        "warzone2100-data",
        (
            Take(WARZONE, members="texpages/tertilesc*hw-128/*.png"),  # ground tiles
            Take(WARZONE, members="texpages/page-8?-water-*.png"),
            Take(WARZONE, "art", members="texpages/bdrops/*.png"),  # rendered mission backdrops
        ),
        skip=r"credits",
    ),
    # art: painting, drawing, photographs
    _wesnoth("wesnoth-1.16-data", f"{WESNOTH}/core/images"),
    *(_wesnoth(f"wesnoth-1.16-{c}", f"{WESNOTH}/campaigns/*/images") for c in WESNOTH_CAMPAIGNS),
    Source(
        "widelands-data",
        (
            Take(f"{WIDELANDS}/templates/default/loadscreens/**/*", "art"),  # photos, renders
            Take(f"{WIDELANDS}/campaigns/*/pics/*", "art"),  # painted portraits and maps
        ),
        skip=r"logo|gametips|ending",
    ),
    Source(
        "gnome-backgrounds",
        (Take("usr/share/backgrounds/gnome/*", "art"),),
        licence="CC-BY-SA-3.0",  # free-text debian/copyright: the GNOME wallpapers' licence
    ),
)
DEBIAN_PACKAGES = tuple(source.package for source in DEBIAN_SOURCES)


# --- reading --------------------------------------------------------------------------------


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


def decode(candidate: Candidate) -> Image.Image:
    """The candidate's pixels, keeping alpha (needed by the cut-out filter)."""
    if candidate.suffix == ".pat":
        return read_pat(candidate.data)
    image = Image.open(io.BytesIO(candidate.data))
    image.load()
    if image.mode == "P" and "transparency" in image.info:
        with warnings.catch_warnings():  # Pillow's advice, given per image: convert to RGBA
            warnings.simplefilter("ignore", UserWarning)
            return image.convert("RGBA")
    return image


# --- fetching -------------------------------------------------------------------------------


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


# --- licences -------------------------------------------------------------------------------


def copyright_stanzas(text: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence) of each `Files:` stanza of a DEP-5 debian/copyright, in order."""
    stanzas = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", paragraph, re.M)
        licence = re.search(r"^License:[ \t]*(\S[^\n]*)", paragraph, re.M)
        if files and licence:
            stanzas.append((files.group(1).split(), licence.group(1).strip()))
    return stanzas


def licence_of(path: str, stanzas: list[tuple[list[str], str]], fallback: str) -> str:
    """DEP-5: the last stanza with a pattern matching the file wins. Patterns are relative to the
    source tree, not to where the package installs, so each tail of the path is tried."""
    parts = PurePosixPath(path).parts
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    licence = fallback
    for patterns, stanza_licence in stanzas:
        if any(fnmatch.fnmatchcase(t, p) for p in patterns for t in tails):
            licence = stanza_licence
    return licence


def _stanzas(package_root: Path, package: str) -> list[tuple[list[str], str]]:
    copyright_file = package_root / "usr/share/doc" / package / "copyright"
    if not copyright_file.is_file():
        return []
    return copyright_stanzas(copyright_file.read_text(errors="replace"))


# --- candidates -----------------------------------------------------------------------------


def _safe_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(parts)).strip("_")


def _fixed_prefix(pattern: str) -> int:
    """How many leading folders of a glob hold no wildcard: they are left out of names."""
    parts = PurePosixPath(pattern).parts[:-1]
    return next((i for i, p in enumerate(parts) if re.search(r"[*?[]", p)), len(parts))


def _name(package: str, path: str, pattern: str, flat: bool = False) -> str:
    """package__sub__folders__stem, the folders counted from the glob's fixed prefix."""
    inner = PurePosixPath(path).with_suffix("")
    parts = (inner.name,) if flat else inner.parts[_fixed_prefix(pattern) :]
    return _safe_name(package, *parts)


def debian_candidates(
    root: Path, sources: tuple[Source, ...] = DEBIAN_SOURCES
) -> Iterator[Candidate]:
    """Every image the sources take from the packages unpacked under root/<package>/, in order;
    a package that is not unpacked there is passed over."""
    for source in sources:
        package_root = root / source.package
        if not package_root.is_dir():
            continue
        stanzas = _stanzas(package_root, source.package)
        for take in source.takes:
            for path in sorted(p for p in package_root.glob(take.glob) if p.is_file()):
                relative = path.relative_to(package_root).as_posix()
                licence = source.licence or licence_of(relative, stanzas, UNKNOWN_LICENCE)
                if take.members:
                    yield from _zip_candidates(path, source, take, licence)
                elif _wanted(source, relative):
                    name = _name(source.package, relative, take.glob, take.flat_names)
                    data = path.read_bytes()
                    yield Candidate(name, source.package, licence, data, path.suffix.lower(),
                                    take.group)


def _wanted(source: Source, path: str) -> bool:
    """An image file whose stem the source does not skip."""
    inner = PurePosixPath(path)
    if inner.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return not (source.skip and re.search(source.skip, inner.stem))


def _zip_candidates(path: Path, source: Source, take: Take, licence: str) -> Iterator[Candidate]:
    """The members of a zip archive (.pk3, .wz) that match `take.members`, in name order."""
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or not fnmatch.fnmatchcase(info.filename, take.members):
                continue
            if _wanted(source, info.filename):
                name = _name(source.package, info.filename, take.members)
                suffix = PurePosixPath(info.filename).suffix.lower()
                yield Candidate(name, source.package, licence, archive.read(info), suffix,
                                take.group)


def folder_candidates(folder: Path, group: str = "textures") -> Iterator[Candidate]:
    """Every image file under an arbitrary folder (`--from DIR`), all of one group."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            name = _safe_name(*path.relative_to(folder).with_suffix("").parts)
            yield Candidate(
                name,
                "folder",
                f"unknown (from {folder.name})",
                path.read_bytes(),
                path.suffix.lower(),
                group,
            )

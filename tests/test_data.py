"""The corpus builder: GIMP patterns, .pk3 and .wz zips, licences, filters, groups, split and
manifest."""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from artvae.train.data import (
    build,
    largest_rectangle,
    load_split,
    opaque_interior,
    read_manifest,
    split_groups,
    split_of,
)
from artvae.train.sources import (
    copyright_stanzas,
    debian_candidates,
    folder_candidates,
    licence_of,
    read_pat,
    write_pat,
)


def texture(seed: int, size=(96, 80), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    if mode in ("RGBA", "LA"):
        pixels[..., -1] = 255
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


def portrait(seed: int) -> Image.Image:
    """400x400, clear but for an opaque 160 wide, 200 tall block: a figure on no background."""
    image = texture(seed, size=(400, 400), mode="RGBA")
    alpha = np.zeros((400, 400), np.uint8)
    alpha[100:300, 120:280] = 255
    image.putalpha(Image.fromarray(alpha))
    return image


def encoded(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **({"quality": 95} if kind == "JPEG" else {}))
    return buffer.getvalue()


def write_copyright(package_root, package: str, text: str) -> None:
    doc = package_root / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(text)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_gimp_pattern_round_trip(mode):
    image = texture(0, mode=mode)
    decoded = read_pat(write_pat(image, "Burlap"))
    assert decoded.mode == mode and decoded.size == image.size
    assert decoded.tobytes() == image.tobytes()


def test_truncated_gimp_pattern_is_refused():
    with pytest.raises(ValueError, match="truncated"):
        read_pat(write_pat(texture(0))[:-10])
    with pytest.raises(ValueError, match="not a GIMP pattern"):
        read_pat(b"\x00" * 40)


def fake_debian_tree(root):
    """Two unpacked packages as `dpkg -x` would lay them out, with a copyright file each."""
    gimp = root / "gimp-data"
    patterns = gimp / "usr/share/gimp/2.0/patterns"
    (patterns / "Fabric").mkdir(parents=True)
    (patterns / "Fabric/burlap.pat").write_bytes(write_pat(texture(1), "Burlap"))
    (patterns / "tiny.pat").write_bytes(write_pat(texture(2, size=(16, 16)), "Tiny"))
    flat = Image.new("RGB", (96, 96), (120, 90, 60))
    (patterns / "flat.pat").write_bytes(write_pat(flat, "Flat"))
    write_copyright(gimp, "gimp-data", "Files: *\nCopyright: GIMP team\nLicense: GPL-3+\n")

    arena = root / "openarena-081-textures"
    pk3 = arena / "usr/share/games/openarena/baseoa/pak4-textures.pk3"
    pk3.parent.mkdir(parents=True)
    with zipfile.ZipFile(pk3, "w") as archive:
        for name, image in [
            ("textures/stone/wall.jpg", texture(3)),
            ("textures/stone/wall_copy.jpg", texture(3)),
            ("textures/stone/wall_normal.jpg", texture(4)),
            ("env/sky/up.jpg", texture(5)),
        ]:
            archive.writestr(name, encoded(image, "JPEG"))
        cutout = texture(6, mode="RGBA")
        cutout.putalpha(0)
        archive.writestr("textures/stone/decal.tga", encoded(cutout, "TGA"))
    write_copyright(arena, "openarena-081-textures", "Files: *\nCopyright: OA\nLicense: GPL-2+\n")


def fake_art_tree(root):
    """A Wesnoth campaign's portraits and story art, and Warzone's .wz zip of tiles and backdrops,
    at the paths the real packages use."""
    campaign = root / "wesnoth-1.16-trow/usr/share/games/wesnoth/1.16/data/campaigns/TRoW/images"
    (campaign / "portraits").mkdir(parents=True)
    (campaign / "story").mkdir(parents=True)
    portrait(10).save(campaign / "portraits/haldric.png")
    texture(11, size=(320, 240)).save(campaign / "story/intro.jpg")
    cutout = portrait(12)
    cutout.putalpha(Image.new("L", cutout.size, 0))  # nothing opaque at all
    cutout.save(campaign / "portraits/ghost.png")
    (campaign / "units").mkdir()
    texture(13, size=(72, 72)).save(campaign / "units/spearman.png")  # sprites are not taken

    wz = root / "warzone2100-data/usr/share/games/warzone2100/base.wz"
    wz.parent.mkdir(parents=True)
    with zipfile.ZipFile(wz, "w") as archive:
        for name, image in [
            ("texpages/tertilesc1hw-128/tile-01.png", texture(20, size=(128, 128))),
            ("texpages/tertilesc2hw-128/tile-01.png", texture(21, size=(128, 128))),
            ("texpages/tertilesc1hw-64/tile-01.png", texture(22, size=(64, 64))),
            ("texpages/page-16-droid-drives.png", texture(23, size=(256, 256))),
            ("texpages/bdrops/backdrop0.png", texture(24, size=(300, 300))),
            ("texpages/bdrops/credits.png", texture(25, size=(300, 300))),
            ("audio/tank.ogg", texture(26)),
        ]:
            archive.writestr(name, encoded(image, "PNG"))
    write_copyright(root / "warzone2100-data", "warzone2100-data",
                    "Files: *\nCopyright: WZ\nLicense: GPL-2+\n")


def test_build_keeps_textures_and_drops_the_rest(tmp_path):
    fake_debian_tree(tmp_path / "root")
    manifest = build(debian_candidates(tmp_path / "root"), tmp_path / "out")
    files = {t["file"]: t for t in manifest["textures"]}
    assert set(files) == {"gimp-data__burlap.png", "openarena-081-textures__stone__wall.png"}
    assert files["gimp-data__burlap.png"]["licence"] == "GPL-3+"
    assert files["openarena-081-textures__stone__wall.png"]["package"] == "openarena-081-textures"
    assert manifest["rejected"] == {
        "tiny": 1,
        "nearly flat": 1,
        "near duplicate": 1,
        "normal or bump map": 1,
        "transparent cut-out": 1,
    }
    written = json.loads((tmp_path / "out/manifest.json").read_text())
    assert written["textures"] == manifest["textures"]
    with Image.open(tmp_path / "out/gimp-data__burlap.png") as image:
        assert image.mode == "RGB" and image.size == (96, 80)


def test_every_entry_has_a_group_and_the_manifest_counts_them(tmp_path):
    fake_debian_tree(tmp_path / "root")
    fake_art_tree(tmp_path / "root")
    manifest = build(debian_candidates(tmp_path / "root"), tmp_path / "out")
    groups = {t["file"]: t["group"] for t in manifest["textures"]}
    assert groups == {
        "gimp-data__burlap.png": "textures",
        "openarena-081-textures__stone__wall.png": "textures",
        "warzone2100-data__tertilesc1hw-128__tile-01.png": "textures",
        "warzone2100-data__tertilesc2hw-128__tile-01.png": "textures",
        "warzone2100-data__backdrop0.png": "art",
        "wesnoth-1.16-trow__TRoW__images__portraits__haldric.png": "art",
        "wesnoth-1.16-trow__TRoW__images__story__intro.png": "art",
    }
    assert set(manifest["groups"]) == {"textures", "art"}
    assert sum(manifest["groups"]["art"].values()) == 3
    warzone = manifest["sources"]["warzone2100-data"]
    assert warzone["licences"] == ["GPL-2+"]
    assert sum(warzone["textures"].values()) == 2 and sum(warzone["art"].values()) == 1
    wesnoth = manifest["sources"]["wesnoth-1.16-trow"]
    assert wesnoth["licences"] == ["GPL-2+"]  # free-text debian/copyright: the source says so


def test_wz_archive_gives_only_the_named_members(tmp_path):
    fake_art_tree(tmp_path / "root")
    names = {c.name: c for c in debian_candidates(tmp_path / "root")}
    warzone = {n for n in names if n.startswith("warzone2100-data")}
    assert warzone == {
        "warzone2100-data__tertilesc1hw-128__tile-01",  # one tile name in two tilesets
        "warzone2100-data__tertilesc2hw-128__tile-01",
        "warzone2100-data__backdrop0",  # credits.png is skipped: it is text
    }
    assert names["warzone2100-data__backdrop0"].group == "art"
    assert names["warzone2100-data__backdrop0"].suffix == ".png"


def test_transparent_art_keeps_its_opaque_interior_and_a_transparent_texture_does_not(tmp_path):
    (tmp_path / "art").mkdir()
    portrait(1).save(tmp_path / "art/knight.png")
    art = build(folder_candidates(tmp_path / "art", "art"), tmp_path / "out_art")
    (entry,) = art["textures"]
    assert (entry["width"], entry["height"]) == (160, 200)
    textures = build(folder_candidates(tmp_path / "art"), tmp_path / "out_textures")
    assert textures["textures"] == [] and textures["rejected"] == {"transparent cut-out": 1}


def test_opaque_interior_is_none_when_too_small():
    image = portrait(2)
    assert opaque_interior(image, min_side=128).size == (160, 200)
    assert opaque_interior(image, min_side=192) is None


def test_largest_rectangle_prefers_a_block_to_a_sliver():
    mask = np.zeros((20, 30), bool)
    mask[0, :] = True  # a 1x30 sliver: 30 cells, but only 1x2 of it within 2:1
    mask[5:11, 10:16] = True  # a 6x6 block
    assert largest_rectangle(mask) == (5, 10, 6, 6)
    mask[5:8, 16:28] = True  # widen the block's top half: 3 rows of 18
    assert largest_rectangle(mask) == (5, 10, 6, 6)  # 3x18 trims to 3x6 < 6x6
    assert largest_rectangle(np.zeros((4, 4), bool))[2:] == (0, 0)


def test_debian_copyright_gives_each_file_its_licence():
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: team\nLicense: GPL-3+\n\n"
        "Files: data/textures/stone.jpg\n data/tracks/*/grass.png\nCopyright: someone\n"
        "License: CC-BY-SA-3.0\n\n"
        "License: GPL-3+\n The text of the GPL.\n"
    )
    stanzas = copyright_stanzas(text)
    assert stanzas == [
        (["*"], "GPL-3+"),
        (["data/textures/stone.jpg", "data/tracks/*/grass.png"], "CC-BY-SA-3.0"),
    ]
    installed = "usr/share/games/stk/data/"
    assert licence_of(installed + "textures/stone.jpg", stanzas, "?") == "CC-BY-SA-3.0"
    assert licence_of(installed + "tracks/mines/grass.png", stanzas, "?") == "CC-BY-SA-3.0"
    assert licence_of(installed + "textures/wood.jpg", stanzas, "?") == "GPL-3+"
    assert licence_of("anything", [], "?") == "?"


def test_package_cap_keeps_a_fixed_subset(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(6):
        texture(30 + i).save(tmp_path / f"in/t{i}.png")
    first = build(folder_candidates(tmp_path / "in"), tmp_path / "a", package_cap=4)
    again = build(folder_candidates(tmp_path / "in"), tmp_path / "b", package_cap=4)
    kept = sorted(t["file"] for t in first["textures"])
    assert len(kept) == 4 and kept == sorted(t["file"] for t in again["textures"])
    assert first["rejected"] == {"over package cap": 2}
    assert sorted(p.name for p in (tmp_path / "a").glob("*.png")) == kept
    uncapped = build(folder_candidates(tmp_path / "in"), tmp_path / "c", package_cap=None)
    assert len(uncapped["textures"]) == 6


def write_manifest(folder, entries):
    folder.mkdir(parents=True, exist_ok=True)
    for i, entry in enumerate(entries):
        texture(40 + i, size=(64, 64)).save(folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps({"textures": entries}))


def files(folder, **which) -> list[str]:
    return [e["file"] for e in read_manifest(folder, **which)]


def test_read_manifest_filters_by_split_and_group(tmp_path):
    write_manifest(tmp_path, [
        {"file": "a.png", "group": "textures", "split": "train"},
        {"file": "b.png", "group": "art", "split": "train"},
        {"file": "c.png", "group": "art", "split": "val"},
    ])
    assert files(tmp_path) == ["a.png", "b.png", "c.png"]
    assert files(tmp_path, group="art") == ["b.png", "c.png"]
    assert files(tmp_path, split="train", group="art") == ["b.png"]
    assert files(tmp_path, split="val", group="textures") == []
    assert [tuple(t.shape) for t in load_split(tmp_path, "train", 64, group="art")] == [(3, 64, 64)]
    assert split_groups(tmp_path, "train") == ["textures", "art"]  # in load_split's order
    with pytest.raises(ValueError, match="no val images of group textures"):
        load_split(tmp_path, "val", 64, group="textures")


def test_a_manifest_from_before_groups_reads_as_textures(tmp_path):
    old = [{"file": "a.png", "split": "train"}, {"file": "b.png", "split": "val"}]
    write_manifest(tmp_path, old)
    assert files(tmp_path, group="textures") == ["a.png", "b.png"]
    assert read_manifest(tmp_path, group="art") == []
    assert len(load_split(tmp_path, "val", 64)) == 1
    assert split_groups(tmp_path, "train") == ["textures"]


def test_build_from_a_folder(tmp_path):
    (tmp_path / "in/sub").mkdir(parents=True)
    texture(7).save(tmp_path / "in/sub/a.png")
    texture(8, size=(2000, 1200)).save(tmp_path / "in/b.jpg")
    (tmp_path / "in/notes.txt").write_text("not an image")
    manifest = build(folder_candidates(tmp_path / "in"), tmp_path / "out", max_side=512)
    sizes = {t["file"]: (t["width"], t["height"]) for t in manifest["textures"]}
    assert sizes == {"sub__a.png": (96, 80), "b.png": (512, 307)}
    assert {t["group"] for t in manifest["textures"]} == {"textures"}


def test_split_is_fixed_by_name_with_a_larger_share_of_art():
    names = [f"texture_{i}" for i in range(2000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    assert 0.05 < splits.count("val") / len(names) < 0.11
    art = [split_of(n, "art") for n in names]
    assert 0.09 < art.count("val") / len(names) < 0.15
    assert all(a == "val" for a, t in zip(art, splits, strict=True) if t == "val")  # nested


def test_centre_crops_have_the_asked_side_whatever_the_input():
    import torch

    from artvae.train.data import centre_crops

    images = [
        torch.zeros(3, 161, 161, dtype=torch.uint8),
        torch.zeros(3, 40, 300, dtype=torch.uint8),
        torch.zeros(3, 600, 512, dtype=torch.uint8),
    ]
    assert centre_crops(images, 256).shape == (3, 3, 256, 256)


def test_pack_makes_a_smaller_corpus_that_trains_the_same_way(corpus, tmp_path):
    from artvae.train.data import load_split, main, read_manifest

    main(["pack", "--data", str(corpus), "--out", str(tmp_path / "pack"), "--max-side", "64"])
    packed = read_manifest(tmp_path / "pack")
    assert [e["split"] for e in packed] == sorted(
        [e["split"] for e in packed], key=lambda s: s != "train")  # training split first
    assert len(read_manifest(tmp_path / "pack", "train")) == len(read_manifest(corpus, "train"))
    assert all(e["file"].endswith(".webp") for e in packed)
    images = load_split(tmp_path / "pack", "train", max_side=512)
    assert max(max(x.shape[1:]) for x in images) <= 64


def test_the_corpus_commands_keep_their_address_python_m_artvae_data():
    run = subprocess.run([sys.executable, "-m", "artvae.data", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "{build,pack}" in run.stdout and "python -m artvae.data" in run.stdout

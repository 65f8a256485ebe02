"""The corpus builder: GIMP patterns, .pk3 zips, filters, split and manifest."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from artvae.data import build, debian_candidates, folder_candidates, read_pat, split_of, write_pat


def texture(seed: int, size=(96, 80), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    if mode in ("RGBA", "LA"):
        pixels[..., -1] = 255
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


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
    patterns.mkdir(parents=True)
    (patterns / "burlap.pat").write_bytes(write_pat(texture(1), "Burlap"))
    (patterns / "tiny.pat").write_bytes(write_pat(texture(2, size=(16, 16)), "Tiny"))
    flat = Image.new("RGB", (96, 96), (120, 90, 60))
    (patterns / "flat.pat").write_bytes(write_pat(flat, "Flat"))
    doc = gimp / "usr/share/doc/gimp-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Files: *\nCopyright: GIMP team\nLicense: GPL-3+\n")

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
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=95)
            archive.writestr(name, buffer.getvalue())
        buffer = io.BytesIO()
        cutout = texture(6, mode="RGBA")
        cutout.putalpha(0)
        cutout.save(buffer, "TGA")
        archive.writestr("textures/stone/decal.tga", buffer.getvalue())
    doc = arena / "usr/share/doc/openarena-081-textures"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Files: *\nCopyright: OpenArena\nLicense: GPL-2+\n")


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


def test_build_from_a_folder(tmp_path):
    (tmp_path / "in/sub").mkdir(parents=True)
    texture(7).save(tmp_path / "in/sub/a.png")
    texture(8, size=(2000, 1200)).save(tmp_path / "in/b.jpg")
    (tmp_path / "in/notes.txt").write_text("not an image")
    manifest = build(folder_candidates(tmp_path / "in"), tmp_path / "out", max_side=512)
    sizes = {t["file"]: (t["width"], t["height"]) for t in manifest["textures"]}
    assert sizes == {"sub__a.png": (96, 80), "b.png": (512, 307)}


def test_split_is_fixed_by_name():
    names = [f"texture_{i}" for i in range(2000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    assert 0.05 < splits.count("val") / len(names) < 0.11


def test_centre_crops_have_the_asked_side_whatever_the_input():
    import torch

    from artvae.data import centre_crops

    images = [
        torch.zeros(3, 161, 161, dtype=torch.uint8),
        torch.zeros(3, 40, 300, dtype=torch.uint8),
        torch.zeros(3, 600, 512, dtype=torch.uint8),
    ]
    assert centre_crops(images, 256).shape == (3, 3, 256, 256)

"""`python -m artvae restyle`: a set of images restyled at their own sizes, in another image's
style and with named edits; a file that cannot be read is reported and the rest are written."""

import numpy as np
from PIL import Image

from artvae.ops.images import read_recipe
from tests.test_cli import artvae


def write_image(path, size, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_restyle_writes_every_readable_input_and_fails_for_the_broken_one(tiny_weights,
                                                                         tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_image(inputs / "a.png", (64, 48), 0)
    write_image(inputs / "b.jpg", (40, 56), 1)
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    style = write_image(tmp_path / "style.png", (32, 32), 2)
    result = artvae("restyle", str(inputs), "--out", str(tmp_path / "out"), "--style",
                    str(style), "--strength", "0.7", "--warmth", "1.5", "--scale", "2",
                    weights=tiny_weights)
    assert result.returncode == 1
    assert "broken.png" in result.stderr and "1 failed" in result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["a.png", "b.png"]
    with Image.open(tmp_path / "out" / "a.png") as a, Image.open(tmp_path / "out" / "b.png") as b:
        assert a.size == (64, 48) and b.size == (40, 56)
    recipe = read_recipe(tmp_path / "out" / "a.png")
    assert recipe["op"] == "restyle" and recipe["strength"] == 0.7
    assert recipe["controls"] == {"warmth": 1.5, "scale": 2.0}


def test_restyle_of_readable_files_succeeds(tiny_weights, tmp_path):
    a = write_image(tmp_path / "a.png", (48, 48), 0)
    result = artvae("restyle", str(a), "--out", str(tmp_path / "out"), "--tileable",
                    weights=tiny_weights)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "a.png").is_file()


def test_restyle_says_so_when_the_weights_have_no_named_controls(tiny_weights, tmp_path):
    import shutil

    from artvae.model.controls import CONTROLS_FILE

    plain = shutil.copytree(tiny_weights, tmp_path / "plain")
    (plain / CONTROLS_FILE).unlink()
    a = write_image(tmp_path / "a.png", (48, 48), 0)
    result = artvae("restyle", str(a), "--out", str(tmp_path / "out"), "--grain", "1",
                    weights=plain)
    assert result.returncode != 0
    assert "no named style controls" in result.stderr and "artvae controls" in result.stderr

"""The `/restyle` web API on the app started as people start it (tiny weights, made-up named
controls): the same images as `python -m artvae restyle` makes, a broken upload reported while
the rest are made, and a zip of inputs taken as its images."""

import json
import zipfile

import numpy as np
from gradio_client import handle_file
from PIL import Image

from tests.test_cli import artvae
from tests.test_restyle import write_image


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_restyle_api_matches_the_command_line(client, tiny_weights, tmp_path):
    a = write_image(tmp_path / "a.png", (64, 48), 0)
    b = write_image(tmp_path / "b.png", (40, 56), 1)
    style = write_image(tmp_path / "style.png", (32, 32), 2)
    results, archive, sheet, failed, settings = client.predict(
        [handle_file(a), handle_file(b)], style=handle_file(style), strength=0.6,
        controls={"contrast": 1.5, "saturation": -1, "scale": 2}, api_name="/restyle")
    assert failed == [] and settings["strength"] == 0.6
    cli = artvae("restyle", str(a), str(b), "--out", str(tmp_path / "cli"), "--style",
                 str(style), "--strength", "0.6", "--contrast", "1.5", "--saturation", "-1",
                 "--scale", "2", weights=tiny_weights)
    assert cli.returncode == 0, cli.stderr
    by_name = {p.rsplit("/", 1)[-1]: p for p in results}
    assert sorted(by_name) == ["a.png", "b.png"]
    for name in ("a.png", "b.png"):
        api_pixels, cli_pixels = pixels(by_name[name]), pixels(tmp_path / "cli" / name)
        assert api_pixels.shape == cli_pixels.shape
        assert np.abs(api_pixels - cli_pixels).max() <= 2  # batched float maths may round apart
    with zipfile.ZipFile(archive) as z:
        assert {"a.png", "b.png", "contact-sheet.png", "restyle.json"} <= set(z.namelist())
    assert Image.open(sheet).size[0] > 0


def test_restyle_api_reports_a_broken_file_and_makes_the_rest(client, tmp_path):
    good = write_image(tmp_path / "good.png", (48, 48), 0)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but nothing after")
    results, archive, _, failed, _ = client.predict(
        [handle_file(good), handle_file(broken)], controls={"warmth": 1}, api_name="/restyle")
    assert [p.rsplit("/", 1)[-1] for p in results] == ["good.png"]
    assert len(failed) == 1 and failed[0].startswith("broken.png: ")
    with zipfile.ZipFile(archive) as z:
        assert json.loads(z.read("restyle.json"))["failed"] == failed


def test_restyle_api_takes_a_zip_of_images(client, tmp_path):
    folder = tmp_path / "pack"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"tile{i}.png", (32, 32), i)
    pack = tmp_path / "pack.zip"
    with zipfile.ZipFile(pack, "w") as z:
        for i in range(3):
            z.write(folder / f"tile{i}.png", f"textures/tile{i}.png")
        z.writestr("../evil.png", b"never read")
        z.writestr("notes.txt", "not an image")
    results, _, _, failed, _ = client.predict([handle_file(pack)], tileable=True,
                                              api_name="/restyle")
    assert sorted(p.rsplit("/", 1)[-1] for p in results) == ["tile0.png", "tile1.png",
                                                              "tile2.png"]
    assert failed == []


LOOK = {"contrast": 1.5, "warmth": -1, "scale": 2}


def test_encode_mix_blend_and_sample_take_the_named_controls(client, tmp_path):
    """Each makes an edited look on request, says so in its recipe, and without controls
    makes what it made before."""
    a = handle_file(write_image(tmp_path / "a.png", (64, 64), 0))
    b = handle_file(write_image(tmp_path / "b.png", (64, 64), 1))
    calls = {"/encode": ((a,), {}), "/mix": (([a, b], [0.3, 0.7]), {}),
             "/blend": ((a, b, 0.4), {"mode": "style"}), "/sample": ((5,), {"size": 64})}
    for api, (args, kwargs) in calls.items():
        plain = client.predict(*args, **kwargs, api_name=api)
        edited = client.predict(*args, **kwargs, controls=LOOK, api_name=api)
        assert "controls" not in plain[-1] and edited[-1]["controls"] == LOOK, api
        assert np.abs(pixels(edited[0]) - pixels(plain[0])).mean() > 1, api


def test_a_morph_takes_the_named_controls_frame_by_frame(tiny_weights, tmp_path):
    from artvae.serve import playground as pg
    from artvae.serve.engine import Engine

    tiny_engine = Engine(str(tiny_weights), device="cpu")
    a = write_image(tmp_path / "a.png", (64, 64), 0)
    b = write_image(tmp_path / "b.png", (64, 64), 1)
    frames, recipe = pg.morph(tiny_engine, a, b, 2, "style", controls=LOOK)
    assert recipe["controls"] == LOOK
    for i, frame in enumerate(frames):
        one = pg.blend(tiny_engine, a, b, i / 2, "style", controls=LOOK).image
        assert np.array_equal(np.asarray(frame), np.asarray(one))
    plain, _ = pg.morph(tiny_engine, a, b, 2, "style")
    assert np.abs(np.asarray(plain[1], np.int16) - np.asarray(frames[1], np.int16)).mean() > 1

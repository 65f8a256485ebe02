"""Painting with styles: the mask's colours pick the textures, its regions are softened at the
structure map's resolution, and the decoder renders each region in its texture's style."""

import subprocess

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image

from artvae.ops import paint
from artvae.serve import playground as pg
from artvae.serve.engine import Engine

EXAMPLES = ROOT / "examples"


def mask_of(labels: np.ndarray) -> Image.Image:
    """Labels (H, W) in 0..3 -> a mask image in the documented colours."""
    colours = np.array([rgb for _, rgb in paint.MASK_COLOURS], dtype=np.uint8)
    return Image.fromarray(colours[labels])


@pytest.fixture(scope="module")
def tiny_engine(tiny_weights) -> Engine:
    return Engine(str(tiny_weights), device="cpu")


def test_mask_colours_map_to_textures_in_order():
    labels = np.arange(4).repeat(8)[None].repeat(8, 0)  # (8, 32): four vertical bands
    assert torch.equal(paint.mask_labels(mask_of(labels), 4), torch.from_numpy(labels))


def test_unpainted_pixels_belong_to_the_first_texture():
    mask = Image.new("RGB", (16, 8), (255, 255, 255))
    mask.paste((0, 255, 0), (8, 0, 16, 8))
    for neutral in [(255, 255, 255), (128, 128, 128), (0, 0, 0)]:
        mask.paste(neutral, (0, 0, 8, 8))
        labels = paint.mask_labels(mask, 2)
        assert labels[:, :8].eq(0).all() and labels[:, 8:].eq(1).all()


def test_off_colours_go_to_the_nearest_mask_colour():
    mask = Image.new("RGB", (2, 1))
    mask.putpixel((0, 0), (200, 40, 30))  # a dull red
    mask.putpixel((1, 0), (40, 60, 210))  # a dull blue
    assert paint.mask_labels(mask, 3).tolist() == [[0, 2]]


def test_a_painted_colour_without_its_texture_is_refused():
    labels = np.zeros((8, 8), dtype=int)
    labels[:, 4:] = 2  # half the canvas blue, but only two textures
    with pytest.raises(ValueError, match="blue, the colour of texture 3"):
        paint.mask_labels(mask_of(labels), 2)


def test_a_sliver_of_a_missing_colour_goes_to_a_given_one():
    labels = np.zeros((100, 100), dtype=int)
    labels[:, 50:] = 1
    labels[0, 0] = 3  # one stray yellow pixel (1e-4 of the canvas)
    out = paint.mask_labels(mask_of(labels), 2)
    assert out.max() <= 1 and out[:, 50:].eq(1).all()


def test_region_weights_sum_to_one_and_soften_with_softness():
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[:, 32:] = 1
    sharp = paint.region_weights(labels, 2, (8, 8), softness=0.0)
    soft = paint.region_weights(labels, 2, (8, 8), softness=0.5)
    for w in (sharp, soft):
        assert w.shape == (1, 2, 8, 8)
        assert torch.allclose(w.sum(dim=1), torch.ones(1, 8, 8))
    assert torch.equal(sharp[0, 1, 0], torch.tensor([0.0] * 4 + [1.0] * 4))
    # softened: the cells next to the border mix both textures, the far edges barely
    assert 0.1 < soft[0, 1, 0, 3] < 0.5 < soft[0, 1, 0, 4] < 0.9
    assert soft[0, 1, 0, 0] < 0.05


def test_tileable_softening_wraps_around_the_canvas():
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[:, 32:] = 1  # texture 2 on the right: on a tile, its right edge meets the left one
    plain = paint.region_weights(labels, 2, (8, 8), softness=0.5, tileable=False)
    tiled = paint.region_weights(labels, 2, (8, 8), softness=0.5, tileable=True)
    assert plain[0, 1, 0, 0] < 0.05 < 0.2 < tiled[0, 1, 0, 0]
    # across the wrap the weights are as smooth as across the middle border
    assert torch.allclose(tiled[0, 1, 0, 0], 1 - tiled[0, 1, 0, 7], atol=1e-6)


def test_painted_style_is_each_texture_style_inside_its_region():
    styles = torch.randn(2, 8)
    weights = torch.zeros(1, 2, 4, 4)
    weights[:, 0, :, :2], weights[:, 1, :, 2:] = 1.0, 1.0
    style = paint.painted_style(styles, weights, torch.zeros(8))  # (1, 8, 4, 4)
    assert style.shape == (1, 8, 4, 4)
    assert torch.allclose(style[0, :, 1, 0], styles[0], atol=1e-5)
    assert torch.allclose(style[0, :, 1, 3], styles[1], atol=1e-5)


def test_paint_makes_the_asked_size_and_recipe(tiny_engine):
    mask = paint.example_mask("quarters", 64, 4)
    textures = [EXAMPLES / f"{n}.png" for n in ("bricks", "cells", "marble", "wood")]
    result = pg.paint(tiny_engine, mask, textures, softness=0.2, size=96, tileable=True)
    assert result.image.size == (96, 96)
    r = result.recipe
    assert (r["op"], r["textures"], r["softness"], r["size"], r["tileable"]) == (
        "paint", 4, 0.2, 96, True)
    assert len(r["inputs"]) == 5  # the mask and the four textures


def test_paint_keeps_the_mask_size_by_default_and_takes_any_layout(tiny_engine):
    mask = paint.example_mask("halves", 48, 2).resize((80, 48))
    textures = [EXAMPLES / "bricks.png", EXAMPLES / "cells.png"]
    assert pg.paint(tiny_engine, mask, textures).image.size == (80, 48)
    seeded = pg.paint(tiny_engine, mask, textures, seed=3)
    again = pg.paint(tiny_engine, mask, textures, seed=3)
    assert np.array_equal(np.asarray(seeded.image), np.asarray(again.image))
    laid = pg.paint(tiny_engine, mask, textures, layout=EXAMPLES / "wood.png", size=64)
    assert laid.image.size == (64, 64) and laid.recipe["layout"] is True


def test_paint_checks_its_values(tiny_engine):
    mask = paint.example_mask("halves", 32, 2)
    with pytest.raises(ValueError, match="softness"):
        pg.paint(tiny_engine, mask, [EXAMPLES / "bricks.png"] * 2, softness=2)
    with pytest.raises(ValueError, match="1 to 4 images"):
        pg.paint(tiny_engine, mask, [EXAMPLES / "bricks.png"] * 5)


def test_example_masks_use_the_first_colours():
    for shape in paint.MASK_SHAPES:
        labels = paint.mask_labels(paint.example_mask(shape, 32, 3), 4)
        assert set(labels.unique().tolist()) <= {0, 1, 2} and labels.unique().numel() >= 2


def test_bundled_two_colour_mask_gives_each_half_its_style_colours():
    """Left half red (bricks), right half green (cells), over the bricks layout: each half's
    mean colour is near its texture's reconstruction (0.14 and 0.17 of the distance between
    the two textures' colours, measured) and far from the other's."""
    engine = Engine(device="cpu")
    bricks, cells = EXAMPLES / "bricks.png", EXAMPLES / "cells.png"
    painted = pg.paint(engine, paint.example_mask("halves", 256, 2), [bricks, cells],
                       softness=0.1, size=256)
    out = np.asarray(painted.image, dtype=np.float64)
    left, right = out[:, :96].mean((0, 1)), out[:, 160:].mean((0, 1))  # away from the border
    own = [np.asarray(engine.reconstruct(p), dtype=np.float64).mean((0, 1)) for p in (bricks,
                                                                                       cells)]
    gap = np.linalg.norm(own[0] - own[1])  # ~113 levels: red-brown against green
    assert np.linalg.norm(left - own[0]) < 0.2 * gap
    assert np.linalg.norm(right - own[1]) < 0.2 * gap
    assert left[0] > left[1] and right[1] > right[0]  # red left, green right


# ---- the web API and the command line --------------------------------------------------------

def run_cli(*args: str, weights) -> subprocess.CompletedProcess:
    """`python -m artvae ARGS` on `weights` (`tests/test_cli.py`'s `artvae`)."""
    from tests.test_cli import artvae

    return artvae(*args, weights=weights)


def test_paint_endpoint_paints_a_mask(client, tmp_path):
    from gradio_client import handle_file

    mask = tmp_path / "mask.png"
    paint.example_mask("disc", 64, 2).save(mask)
    image, recipe = client.predict(handle_file(mask), [handle_file(EXAMPLES / "bricks.png"),
                                                       handle_file(EXAMPLES / "cells.png")],
                                   softness=0.5, size=96, tileable=True, api_name="/paint")
    assert Image.open(image).size == (96, 96)
    assert (recipe["op"], recipe["softness"], recipe["tileable"]) == ("paint", 0.5, True)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (64, 48), "white").save(plain)  # unpainted: all texture 1
    default, _ = client.predict(handle_file(plain), [handle_file(EXAMPLES / "bricks.png")],
                                api_name="/paint")
    assert Image.open(default).size == (64, 48)  # the mask's size


def test_paint_endpoint_says_when_a_colour_has_no_texture(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    mask = tmp_path / "mask.png"
    paint.example_mask("quarters", 64, 4).save(mask)
    with pytest.raises(AppError, match="add texture 3"):
        client.predict(handle_file(mask), [handle_file(EXAMPLES / "bricks.png")] * 2,
                       api_name="/paint")


def test_paint_command_writes_the_painted_image(tiny_weights, tmp_path):
    mask = tmp_path / "mask.png"
    paint.example_mask("stripes", 48, 3).save(mask)
    textures = [str(EXAMPLES / f"{n}.png") for n in ("bricks", "cells", "wood")]
    result = run_cli("paint", str(mask), *textures, "--softness", "0.2", "--size", "64",
                     "--seed", "2", "--tileable", "--out", str(tmp_path / "p.png"),
                     weights=tiny_weights)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "p.png") as image:
        assert image.size == (64, 64)
    result = run_cli("paint", str(mask), textures[0], "--out", str(tmp_path / "q.png"),
                     weights=tiny_weights)
    assert result.returncode != 0 and "add texture 2" in result.stderr
    assert "Traceback" not in result.stderr

"""Style palettes: bilinear weights between four corner textures, cells that are Mix results,
corners that are the corner textures' reconstructions, and one sheet image."""

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image

from artvae.ops import palette
from artvae.serve import playground as pg
from artvae.serve.engine import Engine

EXAMPLES = ROOT / "examples"
CORNERS = [EXAMPLES / f"{n}.png" for n in ("bricks", "cells", "marble", "wood")]


@pytest.fixture(scope="module")
def tiny_engine(tiny_weights) -> Engine:
    return Engine(str(tiny_weights), device="cpu")


@pytest.fixture(scope="module")
def small_corners(tmp_path_factory) -> list:
    """Four 64x64 textures: a cell of 64 px is then each one's whole canvas."""
    folder = tmp_path_factory.mktemp("corners")
    rng = np.random.default_rng(1)
    paths = []
    for i in range(4):
        base = rng.uniform(40, 215, 3)
        pixels = np.clip(base + rng.normal(0, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        paths.append(folder / f"c{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def test_corner_weights_are_bilinear_and_sum_to_one():
    weights = torch.tensor(palette.corner_weights(3, 5))  # (15, 4)
    assert weights.shape == (15, 4)
    assert torch.allclose(weights.sum(1), torch.ones(15))
    assert weights[0].tolist() == [1, 0, 0, 0] and weights[4].tolist() == [0, 1, 0, 0]
    assert weights[10].tolist() == [0, 0, 1, 0] and weights[14].tolist() == [0, 0, 0, 1]
    assert torch.allclose(weights[7], torch.full((4,), 0.25))  # the centre
    assert torch.allclose(weights[2], torch.tensor([0.5, 0.5, 0.0, 0.0]))  # top edge, middle


def test_palette_corners_equal_the_corner_reconstructions(tiny_engine, small_corners):
    """One-hot weights make Mix the identity (the style's spherical mix and the layouts'
    spread-keeping average both return their one input, up to float32 rounding, ~1e-6), so a
    corner cell differs from the texture's own reconstruction by at most the rounding to 8
    bits: one level, at a few pixels."""
    _, cells, _ = pg.palette(tiny_engine, small_corners, rows=3, cols=4, cell=64)
    for index, path in zip((0, 3, 8, 11), small_corners, strict=True):
        own = np.asarray(tiny_engine.reconstruct(path), dtype=np.int16)
        cell = np.asarray(cells[index], dtype=np.int16)
        difference = np.abs(own - cell)
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_a_palette_cell_is_the_mix_of_the_corners_with_its_weights(tiny_engine, small_corners):
    _, cells, weights = pg.palette(tiny_engine, small_corners, rows=2, cols=3, cell=64)
    mixed = tiny_engine.mix(small_corners, weights[1], structure_from=None, size=(64, 64))
    assert np.abs(np.asarray(mixed, np.int16) - np.asarray(cells[1], np.int16)).max() <= 1


def test_palette_sheet_holds_every_cell(tiny_engine):
    result, cells, weights = pg.palette(tiny_engine, CORNERS, rows=2, cols=3, cell=32,
                                        tileable=True)
    assert len(cells) == len(weights) == 6 and cells[0].size == (32, 32)
    gap = palette.GAP
    assert result.image.size == (3 * 32 + 2 * gap, 2 * 32 + gap)
    assert result.image.crop((32 + gap, 32 + gap, 64 + gap, 64 + gap)).tobytes() == \
        cells[4].tobytes()
    r = result.recipe
    assert (r["op"], r["rows"], r["cols"], r["cell"], r["tileable"]) == (
        "palette", 2, 3, 32, True)
    assert len(r["inputs"]) == 4


def test_palette_checks_its_values(tiny_engine):
    with pytest.raises(ValueError, match="four corner images"):
        pg.palette(tiny_engine, CORNERS[:3])
    with pytest.raises(ValueError, match="rows"):
        pg.palette(tiny_engine, CORNERS, rows=1)
    with pytest.raises(ValueError, match="fewer or smaller cells"):
        pg.palette(tiny_engine, CORNERS, rows=8, cols=8, cell=512)


def test_caption_gives_the_weights_in_per_cent_in_reading_order():
    assert palette.caption([0.5625, 0.1875, 0.1875, 0.0625]) == "56 · 19 · 19 · 6 %"


def test_palette_endpoint_returns_the_sheet_and_weights(client):
    from gradio_client import handle_file

    sheet, weights, recipe = client.predict([handle_file(c) for c in CORNERS], rows=3, cols=2,
                                            cell=32, api_name="/palette")
    assert Image.open(sheet).size == (2 * 32 + palette.GAP, 3 * 32 + 2 * palette.GAP)
    assert weights == palette.corner_weights(3, 2)
    assert (recipe["op"], recipe["rows"], recipe["cols"]) == ("palette", 3, 2)


def test_palette_command_writes_the_sheet_and_cells(tiny_weights, tmp_path):
    from test_paint import run_cli

    result = run_cli("palette", *map(str, CORNERS), "--rows", "2", "--cols", "3", "--cell",
                     "32", "--cells", str(tmp_path / "cells"), "--out", str(tmp_path / "s.png"),
                     weights=tiny_weights)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "s.png") as image:
        assert image.size == (3 * 32 + 2 * palette.GAP, 2 * 32 + palette.GAP)
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == [
        f"{r:02d}_{c:02d}.png" for r in range(2) for c in range(3)]

"""Restore: a PNG made here, dropped back in, gives the settings that made it. Here the Paint
and Palette PNGs (their mask kept in the recipe, their inputs found among the examples by
digest) and the PNGs Restore refuses; the app's own tabs are in test_app.py, the page in
test_browser.py and test_studio_browser.py. Tiny random weights on the CPU."""

import base64
import io

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image

from artvae.ops import paint
from artvae.ops.images import image_digest, load_image, read_recipe, save_png
from artvae.serve import playground as pg
from artvae.serve.engine import MAX_SIDE, Engine
from artvae.serve.restore import restore_settings, restored_controls

EXAMPLES = {p.stem: str(p) for p in sorted((ROOT / "examples").glob("*.png"))}
KNOWN = {image_digest(load_image(p, max_side=MAX_SIDE)): p for p in EXAMPLES.values()}


@pytest.fixture(scope="module")
def tiny_engine(tiny_weights) -> Engine:
    return Engine(str(tiny_weights), device="cpu")


def dropped(result, tmp_path) -> dict:
    """The recipe of a result's PNG, read back as Restore reads it."""
    return read_recipe(save_png(result.image, tmp_path / "made-here.png", result.recipe))


def controls_of(recipe: dict, known=KNOWN, weights="w") -> dict:
    return restored_controls(restore_settings(recipe, known), weights, slots=4, directions=3)


# ---- Paint --------------------------------------------------------------------------------------

def test_a_paint_png_restores_its_mask_textures_and_settings(tiny_engine, tmp_path):
    mask = paint.example_mask("quarters", 64, 3)
    textures = [EXAMPLES[n] for n in ("bricks", "cells", "marble")]
    made = pg.paint(tiny_engine, mask, textures, softness=0.4, size=320, tileable=True,
                    seed=3)
    c = controls_of(dropped(made, tmp_path), weights=tiny_engine.weights)
    assert (c["tab"], c["size"], c["tileable"]) == ("paint", 320, True)
    p = c["paint"]
    assert p["textures"] == [*textures, None]
    assert (p["layout_from"], p["seed"], p["softness"], p["layout_image"]) == (
        "seed", 3, 0.4, None)
    assert torch.equal(paint.mask_labels(p["mask"], 3), paint.mask_labels(mask, 3))
    assert "may differ" not in c["note"] and "drop the same" not in c["note"]


def test_restored_paint_settings_remake_the_painting(tiny_engine, tmp_path):
    """What Restore gives back is all the painting needs: the same pixels again."""
    mask = paint.example_mask("disc", 48, 2)
    made = pg.paint(tiny_engine, mask, [EXAMPLES["wood"], EXAMPLES["woven"]], softness=0.7,
                    size=64, layout=EXAMPLES["stripes"])
    s = restore_settings(dropped(made, tmp_path), KNOWN)
    p = restored_controls(s, tiny_engine.weights, slots=4, directions=3)["paint"]
    assert (p["layout_from"], p["layout_image"]) == ("image", EXAMPLES["stripes"])
    again = pg.paint(tiny_engine, p["mask"], [t for t in p["textures"] if t],
                     layout=p["layout_image"], softness=p["softness"], size=s["size"],
                     tileable=s["tileable"])
    assert np.array_equal(np.asarray(again.image), np.asarray(made.image))


def test_a_paint_png_without_a_size_restores_the_mask_size(tiny_engine, tmp_path):
    made = pg.paint(tiny_engine, paint.example_mask("halves", 512, 2),
                    [EXAMPLES["bricks"]] * 2)  # the CLI's default: the mask's own size
    c = controls_of(dropped(made, tmp_path))
    assert c["size"] == 512 and c["paint"]["layout_from"] == "texture"


def test_paint_inputs_not_among_the_examples_are_asked_for_again(tiny_engine, tmp_path):
    mask = paint.example_mask("stripes", 32, 2)
    made = pg.paint(tiny_engine, mask, [EXAMPLES["bricks"], EXAMPLES["cells"]], size=64)
    c = controls_of(dropped(made, tmp_path), known={})
    assert c["paint"]["textures"] == [None] * 4
    assert "drop the same images in again" in c["note"]
    assert c["paint"]["mask"] is not None  # kept in the PNG itself


def test_a_paint_recipe_without_its_mask_says_so(tiny_engine, tmp_path):
    made = pg.paint(tiny_engine, paint.example_mask("halves", 32, 2),
                    [EXAMPLES["bricks"], EXAMPLES["cells"]], size=64)
    recipe = dropped(made, tmp_path)
    del recipe["mask"]  # as painted before masks were kept, or a mask too big to keep
    c = controls_of(recipe)
    assert c["paint"]["mask"] is None and c["paint"]["textures"][:2] == [
        EXAMPLES["bricks"], EXAMPLES["cells"]]
    assert "Its mask is not in the PNG" in c["note"]


def test_a_damaged_or_foreign_mask_in_a_recipe_is_left_out(tiny_engine, tmp_path):
    made = pg.paint(tiny_engine, paint.example_mask("halves", 32, 2),
                    [EXAMPLES["bricks"], EXAMPLES["cells"]], size=64)
    recipe = dropped(made, tmp_path)
    for bad in ("not base64 at all!", base64.b64encode(b"no image here").decode(), 42,
                "A" * (pg.MAX_MASK_TEXT + 4)):
        settings = restore_settings({**recipe, "mask": bad}, KNOWN)
        assert "mask" not in settings and settings["softness"] == recipe["softness"]


def test_the_kept_mask_is_compact_and_exact():
    halves = paint.mask_labels(paint.example_mask("halves", 512, 2), 2)
    assert len(pg.mask_to_text(halves)) < 1000  # 512 x 512, two regions: a few hundred
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 4, (512, 512)))
    text = pg.mask_to_text(noise)  # the worst a 512 px canvas can be: 2 bits a pixel
    assert text is not None and len(text) < pg.MAX_MASK_TEXT
    assert torch.equal(paint.mask_labels(pg.mask_from_text(text), 4), noise)


def test_a_paint_mask_restores_as_the_colours_it_was_painted_in():
    labels = torch.tensor([[0, 1], [2, 3]]).repeat_interleave(8, 0).repeat_interleave(8, 1)
    image = pg.mask_from_text(pg.mask_to_text(labels))
    assert image.mode == "RGB" and image.size == (16, 16)
    colours = [rgb for _, rgb in paint.MASK_COLOURS]
    assert [image.getpixel((x, y)) for y, x in ((0, 0), (0, 8), (8, 0), (8, 8))] == colours
    assert Image.open(io.BytesIO(base64.b64decode(pg.mask_to_text(labels)))).mode == "P"

def test_a_mask_too_big_to_keep_is_left_out_of_the_recipe(tiny_engine, monkeypatch):
    monkeypatch.setattr(pg, "MAX_MASK_TEXT", 100)
    noise = np.random.default_rng(1).integers(0, 2, (32, 32))
    mask = Image.fromarray(np.array([(255, 0, 0), (0, 255, 0)], np.uint8)[noise])
    made = pg.paint(tiny_engine, mask, [EXAMPLES["bricks"], EXAMPLES["cells"]])
    assert "mask" not in made.recipe and made.recipe["op"] == "paint"


# ---- Palette ------------------------------------------------------------------------------------

def test_a_palette_png_restores_its_corners_and_grid(tiny_engine, tmp_path):
    corners = [EXAMPLES[n] for n in ("stripes", "woven", "cells", "bricks")]
    result, _, _ = pg.palette(tiny_engine, corners, rows=2, cols=3, cell=96,
                              tileable=True)
    c = controls_of(dropped(result, tmp_path))
    assert (c["tab"], c["tileable"], "size" in c) == ("palette", True, False)
    assert c["palette"] == {"corners": corners, "rows": 2, "cols": 3, "cell": 96}
    assert "drop the same" not in c["note"]


def test_a_palette_cell_size_fits_the_cell_slider():
    recipe = {"op": "palette", "weights": "w", "inputs": [], "rows": 3, "cols": 4}
    for cell, shown in ((32, 64), (100, 96), (512, 256)):
        c = controls_of({**recipe, "cell": cell})
        assert c["palette"]["cell"] == shown
    assert c["palette"]["corners"] == [None] * 4 and "drop the same images" in c["note"]


def test_palette_values_out_of_range_are_left_out():
    c = controls_of({"op": "palette", "weights": "w", "inputs": [], "rows": 99, "cols": "3",
                     "cell": -1})
    assert c["palette"] == {"corners": [None] * 4, "cols": 3}


# ---- what Restore refuses ------------------------------------------------------------------------

def test_restore_refuses_a_png_without_a_recipe():
    with pytest.raises(ValueError, match="no ArtVAE recipe"):
        restore_settings(read_recipe(EXAMPLES["bricks"]), {})


def test_restore_refuses_a_recipe_of_another_kind():
    with pytest.raises(ValueError, match="no ArtVAE recipe"):
        restore_settings({"op": "collage", "inputs": []}, {})


def test_restore_says_a_variations_png_has_no_settings_to_put_back():
    with pytest.raises(ValueError, match=r"variations result.*Paint and Palette"):
        restore_settings({"op": "variations", "inputs": [], "seed": 1}, {})


def test_restored_controls_fit_the_sliders():
    mix = {"op": "mix", "images": ["a.png", None], "weights": "w", "size": 1000,
           "mix_weights": [2.0, 1.0], "structure_from": -1, "tileable": True}
    c = restored_controls(mix, "other", slots=4, directions=2)
    assert (c["tab"], c["size"], c["tileable"], c["layout"]) == ("mix", 1024, True, 4)
    assert c["images"] == ["a.png", None, None, None]
    assert c["mix_weights"] == [1.0, 0.5, 1.0, 1.0]
    assert "may differ" in c["note"] and "drop the same images" in c["note"]
    sample = {"op": "sample", "images": [], "weights": "w", "size": 8, "steps": 1,
              "coords": [0.5, -1.0, 2.0]}
    c = restored_controls(sample, "w", slots=4, directions=2)
    assert (c["tab"], c["size"], c["steps"], c["coords"]) == ("explore", 256, 2, [0.5, -1.0])
    assert "may differ" not in c["note"]



# ---- Encode's Refine switch ---------------------------------------------------------------------

def test_a_refined_encode_png_turns_refine_back_on(tiny_engine, tmp_path):
    plain = pg.encode(tiny_engine, EXAMPLES["bricks"])
    refined = pg.encode(tiny_engine, EXAMPLES["bricks"], refine=3)
    assert "refine" not in plain.recipe and refined.recipe["refine"] == 3
    assert refined.image.tobytes() != plain.image.tobytes()  # closer: test_bundled, real weights
    assert controls_of(dropped(refined, tmp_path))["refine"] is True
    assert controls_of(dropped(plain, tmp_path))["refine"] is False
    assert controls_of({**refined.recipe, "refine": "lots"})["refine"] is False  # checked
    with pytest.raises(ValueError, match="refine"):
        pg.encode(tiny_engine, EXAMPLES["bricks"], refine=-1)


# ---- the named controls -------------------------------------------------------------------------

def test_an_edited_encode_png_restores_its_controls_and_remakes_the_image(tiny_engine, tmp_path):
    edits = {"brightness": 1.5, "warmth": -0.75, "scale": 2.0}
    edited = pg.encode(tiny_engine, EXAMPLES["bricks"], controls=edits)
    plain = pg.encode(tiny_engine, EXAMPLES["bricks"])
    assert edited.recipe["controls"] == edits and "controls" not in plain.recipe
    assert edited.image.tobytes() != plain.image.tobytes()
    c = controls_of(dropped(edited, tmp_path))
    assert (c["tab"], c["named"], c["images"][0]) == ("encode", edits, EXAMPLES["bricks"])
    again = pg.encode(tiny_engine, c["images"][0], controls=c["named"])
    assert again.image.tobytes() == edited.image.tobytes()
    assert controls_of(dropped(plain, tmp_path))["named"] == {}


def test_named_controls_out_of_range_in_a_recipe_are_left_out():
    recipe = {"op": "mix", "images": [], "weights": "w", "controls": {"contrast": 9}}
    assert controls_of(recipe)["named"] == {}
    assert controls_of({**recipe, "controls": "loud"})["named"] == {}


def test_mix_blend_and_sample_take_the_named_controls_into_their_recipes(tiny_engine):
    edits = {"grain": 1.0, "scale": 0.5}
    mixed = pg.mix(tiny_engine, [EXAMPLES["bricks"], EXAMPLES["wood"]], [1, 1], controls=edits)
    blended = pg.blend(tiny_engine, EXAMPLES["bricks"], EXAMPLES["wood"], 0.5, controls=edits)
    sampled = pg.sample(tiny_engine, 3, size=64, controls=edits)
    for result in (mixed, blended, sampled):
        assert result.recipe["controls"] == edits
    assert sampled.image.size == (64, 64)
    with pytest.raises(ValueError, match="no style control called"):
        pg.mix(tiny_engine, [EXAMPLES["bricks"]], [1], controls={"sharpness": 1})

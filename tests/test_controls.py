"""Named style controls and scale: stored beside the weights, loaded with them, applied to codes;
restyling a batch at each input's own size. Tiny random weights (the bundled weights' controls
are checked in test_bundled_controls.py)."""

import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.model.controls import CONTROLS_FILE, STYLE_CONTROLS, read_controls, write_controls
from artvae.model.hub import load_model
from artvae.ops.latent import Code
from artvae.ops.looks import LOOKS, look, mean_frequency, seam_ratio
from artvae.ops.restyle import (
    check_edits,
    edit_style,
    edited,
    rescale_structure,
    rescaled,
    restyled,
    shrunk_back,
)
from artvae.serve.engine import Engine
from tests.conftest import made_up_controls


@pytest.fixture(scope="module")
def tiny_engine(tiny_weights) -> Engine:
    return Engine(str(tiny_weights), device="cpu")


def write_image(path, size=(64, 48), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


# ---- storage -------------------------------------------------------------------------------

def test_controls_round_trip_through_their_file(tmp_path):
    controls = made_up_controls(8)
    read = read_controls(write_controls(tmp_path, controls), 8)
    assert read.names == STYLE_CONTROLS and read.info == {"made_up": True}
    for name, tensor in controls.to_tensors().items():
        assert torch.equal(read.to_tensors()[name], tensor), name


def test_weights_with_a_controls_file_load_them_and_keep_their_state_dict(tiny_weights):
    model = load_model(str(tiny_weights))
    assert model.style_controls is not None and model.style_controls.names == STYLE_CONTROLS
    assert set(model.state_dict()) == set(ArtVAE(ModelConfig.tiny()).state_dict())


def test_weights_without_the_file_load_strictly_with_no_controls(tiny_weights, tmp_path):
    folder = shutil.copytree(tiny_weights, tmp_path / "plain")
    (folder / CONTROLS_FILE).unlink()
    assert load_model(str(folder)).style_controls is None


def test_a_controls_file_that_does_not_fit_is_left_out_with_a_warning(tiny_weights, tmp_path):
    folder = shutil.copytree(tiny_weights, tmp_path / "other")
    write_controls(folder, made_up_controls(16))  # a style of 16, the weights have 8
    with pytest.warns(UserWarning, match="do not fit"):
        assert load_model(str(folder)).style_controls is None


def test_controls_learned_for_other_weights_load_with_a_warning(tiny_weights, tmp_path):
    folder = shutil.copytree(tiny_weights, tmp_path / "stale")
    controls = made_up_controls(8)
    controls.info["weights_sha256"] = "0" * 16
    write_controls(folder, controls)
    with pytest.warns(UserWarning, match="python -m artvae controls"):
        assert load_model(str(folder)).style_controls is not None
    controls.info.pop("weights_sha256")
    write_controls(folder, controls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(str(folder))


# ---- applying them --------------------------------------------------------------------------

def test_zero_amounts_leave_the_style_untouched():
    style = torch.randn(3, 8)
    assert edit_style(style, made_up_controls(8), {"brightness": 0.0}) is style
    assert edit_style(style, None, {}) is style


def test_a_control_steps_by_its_gain_on_each_side():
    controls = made_up_controls(8)
    controls.gains[0] = torch.tensor([0.5, 2.0])
    style = torch.randn(2, 8)
    up = edit_style(style, controls, {"brightness": 1.0}) - style
    down = edit_style(style, controls, {"brightness": -1.0}) - style
    assert torch.allclose(up, 0.5 * controls.offsets[0].expand(2, -1))
    assert torch.allclose(down, -2.0 * controls.offsets[0].expand(2, -1))


def test_saturation_step_depends_on_the_style_and_style_maps_work_too():
    controls = made_up_controls(8)
    style = torch.randn(2, 8)
    steps = edit_style(style, controls, {"saturation": 1.0}) - style
    assert not torch.allclose(steps[0], steps[1])
    style_map = style[..., None, None].expand(-1, -1, 3, 5)  # (B, D, h, w)
    moved = edit_style(style_map, controls, {"saturation": 1.0, "warmth": -2})
    flat = edit_style(style, controls, {"saturation": 1.0, "warmth": -2})
    assert torch.allclose(moved, flat[..., None, None].expand_as(moved), atol=1e-6)


@pytest.mark.parametrize("amounts, scale, message", [
    ({"brightness": 3.5}, 1.0, "between -3 and 3"),
    ({"sharpness": 1.0}, 1.0, "no style control called"),
    ({}, 8.0, "scale must be between"),
])
def test_edits_out_of_range_or_unknown_say_what_to_send(amounts, scale, message):
    with pytest.raises(ValueError, match=message):
        check_edits(made_up_controls(8), amounts, scale)


def test_weights_without_controls_say_how_to_learn_them():
    with pytest.raises(ValueError, match="python -m artvae controls"):
        edit_style(torch.randn(1, 8), None, {"warmth": 1.0})


def stripes(period: float, size: int = 32) -> torch.Tensor:
    """(1, 2, size, size): stripes of `period` map cells across, a cosine and a sine."""
    x = torch.arange(size) * 2 * torch.pi / period
    return torch.stack([x.cos(), x.sin()])[None, :, None, :].expand(1, 2, size, size).clone()


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_scale_resamples_the_pattern(factor):
    big = rescale_structure(stripes(8.0), factor)
    assert big.shape == (1, 2, 32, 32)
    # the stripes' period is now 8 x factor cells: the spectrum's peak moves accordingly
    spectrum = torch.fft.rfft(big[0, 0, 0] - big[0, 0, 0].mean()).abs()
    assert int(spectrum.argmax()) == round(32 / (8 * factor))


def test_a_tileable_map_rescaled_still_wraps_around():
    for factor in (2.0, 0.5, 0.75, 1.5):
        out = rescale_structure(stripes(8.0), factor, tileable=True)
        assert out.shape == (1, 2, 32, 32)
        # the step across the wrap is like the steps inside
        assert seam_ratio(out).item() < 2.0, factor


def test_a_tileable_map_at_half_scale_repeats_itself_exactly():
    structure = torch.randn(1, 4, 16, 16)
    half = rescale_structure(structure, 0.5, tileable=True, normalise=False)
    assert torch.allclose(half[..., :8, :8], half[..., 8:, 8:])


def test_edited_with_nothing_to_do_is_the_same_code():
    code = Code.full_size(torch.randn(1, 4, 8, 8), torch.randn(1, 8))
    assert edited(code, None) == (code, 1)


def test_a_smaller_pattern_is_drawn_on_a_bigger_canvas_and_averaged_back_down():
    code = Code(torch.randn(1, 4, 8, 8), torch.randn(1, 8), (60, 64))
    big, render = rescaled(code, 0.5, tileable=True)
    assert render == 2 and big.size == (120, 128) and big.structure.shape[-2:] == (16, 16)
    assert torch.allclose(big.structure[..., :8, :8], big.structure[..., 8:, 8:])
    quarter, render = rescaled(code, 0.25)
    assert render == 4 and quarter.size == (240, 256)
    _, capped = rescaled(code, 0.25, max_pixels=128 * 128)  # no more than this is decoded
    assert capped == 2
    assert shrunk_back(torch.rand(2, 3, 120, 128), (60, 64)).shape == (2, 3, 60, 64)


def test_restyled_at_full_strength_takes_the_style_images_style_and_keeps_the_layout():
    own = Code.full_size(torch.randn(3, 4, 8, 8), torch.randn(3, 8))
    style = Code.full_size(torch.randn(1, 4, 8, 8), torch.randn(1, 8))
    out, render = restyled(own, style, 1.0, None)
    # the layout is kept: only its bare places take the style image's grain (latent.with_texture)
    kept = [torch.corrcoef(torch.stack([o.flatten(), i.flatten()]))[0, 1]
            for o, i in zip(out.structure, own.structure, strict=True)]
    assert render == 1 and min(kept) > 0.9
    assert torch.allclose(out.style, style.style.expand(3, -1), atol=1e-5)
    unchanged = restyled(own, style, 0.0, None)[0]
    assert torch.allclose(unchanged.style, own.style)
    assert torch.equal(unchanged.structure, own.structure)


# ---- the looks --------------------------------------------------------------------------------

def test_looks_measure_what_they_name():
    grey = torch.full((1, 3, 32, 32), 0.5)
    warm = grey.clone()
    warm[:, 0] += 0.2
    warm[:, 2] -= 0.2
    base, tinted = look(grey)[0], look(warm)[0]
    assert tinted[LOOKS.index("warmth")] > base[LOOKS.index("warmth")] + 0.3
    assert tinted[LOOKS.index("saturation")] > base[LOOKS.index("saturation")] + 0.3
    assert look(grey + 0.2)[0, LOOKS.index("brightness")] == pytest.approx(0.7, abs=1e-5)
    # warmth is the colour's lean: more of the same colour is more saturated, not warmer
    warmer = look(grey + 2 * (warm - grey))[0]
    assert warmer[LOOKS.index("saturation")] > tinted[LOOKS.index("saturation")] + 0.3
    assert warmer[LOOKS.index("warmth")].item() == pytest.approx(
        tinted[LOOKS.index("warmth")].item(), abs=0.03)
    blue = grey.clone()
    blue[:, 2] += 0.2
    assert look(blue)[0, LOOKS.index("warmth")] < -0.5


def test_mean_frequency_halves_when_features_double():
    x = torch.arange(256) * 2 * torch.pi / 32
    fine = (0.5 + 0.4 * x.sin())[None, None, None].expand(1, 3, 256, 256)
    coarse = (0.5 + 0.4 * (x / 2).sin())[None, None, None].expand(1, 3, 256, 256)
    ratio = (mean_frequency(fine) / mean_frequency(coarse)).item()
    assert ratio == pytest.approx(2.0, rel=0.1)


# ---- the engine ------------------------------------------------------------------------------

def test_restyle_keeps_each_inputs_size_and_reports_a_broken_file(tiny_engine, tmp_path):
    a = write_image(tmp_path / "a.png", (64, 48), 0)
    b = write_image(tmp_path / "b.png", (64, 48), 1)
    c = write_image(tmp_path / "c.png", (40, 56), 2)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    out = tiny_engine.restyle([a, broken, b, c], style=c, strength=0.5,
                              edits={"warmth": 1.0}, scale=2.0)
    assert isinstance(out[1], ValueError) and "not an image" in str(out[1])
    assert [o.size for o in (out[0], out[2], out[3])] == [(64, 48), (64, 48), (40, 56)]


def test_restyle_in_batches_matches_one_at_a_time(tiny_engine, tmp_path):
    files = [write_image(tmp_path / f"{i}.png", (48, 48), i) for i in range(5)]
    together = tiny_engine.restyle(files, edits={"contrast": 1.0}, batch=4)
    alone = tiny_engine.restyle(files, edits={"contrast": 1.0}, batch=1)
    for x, y in zip(together, alone, strict=True):
        assert np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max() <= 2


# ---- evaluate --------------------------------------------------------------------------------

def test_evaluate_only_controls_fills_the_cards_controls_block(tiny_weights, corpus, tmp_path):
    from artvae.measure.evaluate import CARD_END, CARD_START, CONTROLS_START, run

    card = tmp_path / "README.md"
    card.write_text(f"intro\n{CARD_START}\nquality, kept\n{CARD_END}\noutro\n")
    model = load_model(str(tiny_weights))
    metrics = run(model, corpus, card, only="controls")["controls"]
    assert set(metrics) == {"style", "scale", "restyle", "seams"}
    for name in STYLE_CONTROLS:
        assert 0 <= metrics["style"][f"{name}+"]["right_way"] <= 1
    text = card.read_text()
    assert "quality, kept" in text and CONTROLS_START in text and "| brightness +2 |" in text
    assert "Scale (" in text and "Seams (" in text


def test_scale_is_measured_against_the_reconstruction_and_half_against_double():
    from artvae.measure.controls import scale_effects

    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    pattern = torch.cat([stripes(4.0, 16), stripes(4.0, 16).transpose(-1, -2)], dim=1)
    code = Code.full_size(pattern.expand(2, -1, -1, -1).clone(), torch.randn(2, 8))
    with torch.inference_mode():
        m = scale_effects(model, code)
    assert set(m) == {"images", "scale_2", "scale_0.5", "scale_0.5_vs_2"}
    assert m["scale_0.5_vs_2"]["block"] == 4 and m["scale_2"]["block"] == 8
    # a plain zoom out against a plain zoom in: the measure sees the pattern shrink
    assert m["scale_0.5_vs_2"]["ideal_zoom"]["median_ratio"] > 1.0

"""The decoder's optional noise inputs (`ModelConfig.noise_inputs`): off by default and in old
configs, added at zero strength without changing a decode, reproducible, the same alone or
batched and whole or banded, and seamless on tileable canvases."""

import json
from dataclasses import replace

import pytest
import torch

from artvae.model.autoencoder import ArtVAE, with_noise_inputs
from artvae.model.config import ModelConfig
from artvae.ops import tiled


def random_model(noise_inputs: bool) -> ArtVAE:
    """Tiny weights drawn at random: FiLM and the noise strengths start at zero, and here
    every weight must matter."""
    torch.manual_seed(0)
    model = ArtVAE(replace(ModelConfig.tiny(), noise_inputs=noise_inputs)).eval()
    for p in model.parameters():
        p.data.normal_(0.0, 0.2)
    return model


def code(batch: int = 2, side: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(batch, 4, side, side + 1, generator=g), torch.randn(batch, 8, generator=g)


def test_noise_inputs_are_off_by_default_and_in_configs_saved_before_them(tmp_path):
    model = ArtVAE(ModelConfig.tiny())
    assert model.decoder.noise4 is None and model.decoder.noise2 is None
    assert not any("noise" in k for k in model.state_dict())
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["noise_inputs"]  # as config.json was written before the field existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert ArtVAE.from_pretrained(tmp_path).config.noise_inputs is False


def test_noise_inputs_are_saved_and_load_strictly(tmp_path):
    random_model(True).save_pretrained(tmp_path)
    loaded = ArtVAE.from_pretrained(tmp_path).eval()
    assert loaded.config.noise_inputs
    s, w = code()
    with torch.no_grad():
        assert torch.equal(loaded.decode(s, w), random_model(True).decode(s, w))


def test_added_noise_inputs_decode_exactly_as_before():
    plain = random_model(False)
    noisy = with_noise_inputs(plain)
    assert noisy.config.noise_inputs and not noisy.training
    s, w = code()
    with torch.no_grad():
        assert torch.equal(noisy.decode(s, w), plain.decode(s, w))
        assert torch.equal(noisy.decode(s, w, tileable=True), plain.decode(s, w, tileable=True))


def test_noise_adds_grain_reproducibly_the_same_alone_or_batched():
    model, plain = random_model(True), random_model(False)
    s, w = code()
    with torch.no_grad():
        first = model.decode(s, w)
        assert torch.equal(first, model.decode(s, w))  # a seed fixed by the canvas size
        assert torch.allclose(model.decode(s[1:], w[1:]), first[1:], atol=1e-4)
        model.decoder.noise4 = model.decoder.noise2 = None  # the same weights, no noise
        assert (first - model.decode(s, w)).abs().mean() > 0.01
    assert plain.decoder.noise4 is None


def test_a_generator_chooses_the_grain_and_training_draws_it_fresh():
    model = random_model(True)
    s, w = code()
    with torch.no_grad():
        seeded = [model.decode(s, w, generator=torch.Generator().manual_seed(seed))
                  for seed in (1, 1, 2)]
        assert torch.equal(seeded[0], seeded[1])
        assert not torch.allclose(seeded[0], seeded[2])
        model.train()
        assert not torch.allclose(model.decode(s, w), model.decode(s, w))


def test_a_tileable_decode_with_noise_wraps_around(monkeypatch):
    """Noise is drawn per pixel at the canvas size, so the tileable decode stays a function
    on the torus: shifting the code (and its noise) by k cells shifts the image by 8k px."""
    model = random_model(True)
    s, w = code(batch=1)
    quarter, half = model.decoder.noise_fields(s)
    with torch.no_grad():
        image = model.decode(s, w, tileable=True)
        monkeypatch.setattr(model.decoder, "noise_fields", lambda structure, generator=None: (
            quarter.roll((2, 4), dims=(-2, -1)), half.roll((4, 8), dims=(-2, -1))))
        shifted = model.decode(s.roll((1, 2), dims=(-2, -1)), w, tileable=True)
    assert torch.allclose(shifted, image.roll((8, 16), dims=(-2, -1)), atol=1e-4)


@pytest.mark.parametrize("tileable", [False, True])
@pytest.mark.parametrize("spatial_style", [False, True])
def test_banded_decoding_adds_the_same_noise(monkeypatch, tileable, spatial_style):
    monkeypatch.setattr(tiled, "BAND_ELEMENTS", 64)  # many bands even on a tiny canvas
    model = random_model(True)
    s, w = code()
    if spatial_style:
        w = torch.randn(2, 8, 3, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model.decode(s, w, tileable=tileable)
        banded = tiled.decode(model.decoder, s, w, tileable=tileable)
    assert torch.allclose(banded, whole, atol=1e-4)

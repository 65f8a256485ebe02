"""The network: shapes, tiling, determinism, the posterior, save/load."""

import pytest
import torch

from artvae.model.autoencoder import ArtVAE, DiagonalGaussian
from artvae.model.config import ModelConfig


@pytest.fixture
def model() -> ArtVAE:
    torch.manual_seed(0)
    return ArtVAE(ModelConfig.tiny()).eval()


@pytest.mark.parametrize("size", [(8, 8), (64, 64), (48, 80), (128, 40)])
def test_latent_shapes_follow_image_size(model, size):
    q_s, q_w = model.encode(torch.zeros(2, 3, *size))
    assert q_s.mean.shape == (2, 4, size[0] // 8, size[1] // 8)
    assert q_w.mean.shape == (2, 8)
    assert torch.isfinite(q_w.mean).all()  # even when the style stage sees a single pixel
    assert model.decode(q_s.mode(), q_w.mode()).shape == (2, 3, *size)


def test_spatial_style_map_decodes_like_global_style(model):
    s, w = torch.randn(1, 4, 4, 6), torch.randn(1, 8)
    as_map = w[:, :, None, None].expand(1, 8, 4, 6)
    assert torch.allclose(model.decode(s, w), model.decode(s, as_map), atol=1e-5)


def test_tileable_decode_has_no_wraparound_seam(model):
    """A tileable texture repeated 2x2 is the decode of its structure map repeated 2x2: every
    seam between the copies is made as the pixels inside are."""
    torch.manual_seed(1)
    structure, style = torch.randn(1, 4, 8, 8), torch.randn(1, 8)
    image = model.decode(structure, style, tileable=True)  # (1, 3, 64, 64)
    repeated = model.decode(structure.repeat(1, 1, 2, 2), style, tileable=True)  # (1, 3, 128, 128)
    assert (repeated - image.repeat(1, 1, 2, 2)).abs().max() < 1e-4
    plain = model.decode(structure.repeat(1, 1, 2, 2), style)  # zero padding: seams show
    assert (plain - model.decode(structure, style).repeat(1, 1, 2, 2)).abs().max() > 1e-2


def test_sampling_is_deterministic_with_a_seed():
    posterior = DiagonalGaussian(torch.randn(2, 8, 4, 4))
    a = posterior.sample(torch.Generator().manual_seed(3))
    b = posterior.sample(torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_same_seed_builds_the_same_model():
    torch.manual_seed(5)
    a = ArtVAE(ModelConfig.tiny())
    torch.manual_seed(5)
    b = ArtVAE(ModelConfig.tiny())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_kl_matches_closed_form():
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    posterior = DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    var = logvar.exp()
    expected = 0.5 * (mean**2 + var - 1 - logvar).sum()
    assert torch.allclose(posterior.kl(), expected[None])


def test_kl_of_standard_normal_is_zero():
    assert torch.allclose(DiagonalGaussian(torch.zeros(3, 4, 2, 2)).kl(), torch.zeros(3))


def test_save_and_load_round_trip(model, tmp_path):
    model.style_mean.fill_(0.25)  # buffers (explore directions) travel with the weights
    model.save_pretrained(tmp_path)
    loaded = ArtVAE.from_pretrained(tmp_path)
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_configs_saved_before_structure_norm_load_as_trained(model, tmp_path):
    values = model.config.to_dict()
    del values["structure_norm"]  # a config.json written before the option existed
    assert ModelConfig.from_dict(values).structure_norm is False
    assert ModelConfig.from_dict(model.config.to_dict()) == model.config


def test_loading_is_strict(model, tmp_path):
    from safetensors.torch import load_file, save_file

    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights.pop("decoder.out.weight")
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(RuntimeError, match=r"decoder\.out\.weight"):
        ArtVAE.from_pretrained(tmp_path)

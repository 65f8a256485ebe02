"""Banded decoding (`artvae.ops.tiled`): the decoder's own image, in bounded pieces."""

from pathlib import Path

import numpy as np
import pytest
import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops import tiled


@pytest.fixture(scope="module")
def decoder():
    """A tiny decoder with every weight random (FiLM starts at zero: it must do something)."""
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    for p in model.decoder.parameters():
        p.data.normal_(0.0, 0.3)
    return model.decoder


@pytest.fixture
def small_bands(monkeypatch):
    monkeypatch.setattr(tiled, "BAND_ELEMENTS", 64)  # a few rows per band: halos everywhere


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    return (a - b).abs().max().item() <= rel * b.abs().max().item()


@pytest.mark.parametrize("tileable", [False, True])
@pytest.mark.parametrize("spatial", [False, True])
def test_banded_decode_is_the_decoders_image(decoder, small_bands, tileable, spatial):
    torch.manual_seed(1)
    structure = torch.randn(2, 4, 13, 6)  # many bands, odd sides
    style = torch.randn(2, 8, 3, 5) if spatial else torch.randn(2, 8)
    with torch.inference_mode():
        expected = decoder(structure, style, tileable)
        banded = tiled.decode(decoder, structure, style, tileable)
    assert banded.shape == expected.shape == (2, 3, 104, 48)
    assert close(banded, expected)


def test_band_size_does_not_change_the_image(decoder, monkeypatch):
    structure, style = torch.randn(1, 4, 16, 9), torch.randn(1, 8)
    images = []
    for elements in (64, 1 << 22):
        monkeypatch.setattr(tiled, "BAND_ELEMENTS", elements)
        with torch.inference_mode():
            images.append(tiled.decode(decoder, structure, style, tileable=True))
    assert close(images[0], images[1])


def test_tileable_banded_decode_wraps_without_a_seam(decoder, small_bands):
    """A tileable canvas is periodic: decoding its map repeated 2x2 gives its image repeated
    2x2, bands crossing the wrap-around included."""
    structure, style = torch.randn(1, 4, 7, 5), torch.randn(1, 8)
    with torch.inference_mode():
        one = tiled.decode(decoder, structure, style, tileable=True)
        four = tiled.decode(decoder, structure.repeat(1, 1, 2, 2), style, tileable=True)
    assert close(four, one.repeat(1, 1, 2, 2))


def test_banded_decode_runs_under_bf16_autocast(decoder, small_bands):
    """The CUDA path's dtype handling, checked on the CPU: bf16 convs, float32 statistics."""
    structure, style = torch.randn(1, 4, 9, 7), torch.randn(1, 8, 2, 2)
    with torch.inference_mode():
        expected = decoder(structure, style, True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            banded = tiled.decode(decoder, structure, style, True)
    assert banded.dtype == torch.bfloat16 and torch.isfinite(banded).all()
    assert close(banded.float(), expected, rel=0.05)


def test_bundled_weights_decode_banded_to_within_a_level(monkeypatch):
    """On the shipped weights, a banded tileable decode of a texture rounds to the untiled
    image's 8-bit levels within 1."""
    from artvae.ops.images import tensor_to_image
    from artvae.serve.engine import Engine

    monkeypatch.setattr(tiled, "BAND_ELEMENTS", 1 << 16)  # several bands at 1/8 resolution
    engine = Engine(device="cpu")
    code = engine.encode(Path(__file__).resolve().parent.parent / "examples" / "bricks.png")
    with torch.inference_mode():
        plain = engine.model.decode(code.structure, code.style, tileable=True)
        banded = tiled.decode(engine.model.decoder, code.structure, code.style, tileable=True)
    levels = [torch.from_numpy(np.array(tensor_to_image(engine.model.to_image_range(x)))).int()
              for x in (banded, plain)]
    assert (levels[0] - levels[1]).abs().max() <= 1

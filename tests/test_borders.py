"""Made borders: a reconstruction decodes as the encoder gave it; anything made from codes
decodes without the encoder's ring of border correction and with its edges drawn as its inside."""

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops import borders, latent
from artvae.ops.latent import Code


def code(encoded: bool, h: int = 8, w: int = 10, spatial_style: bool = False) -> Code:
    g = torch.Generator().manual_seed(0)
    structure = torch.randn(1, 4, h, w, generator=g)
    style = torch.randn(1, 6, h // 2, w // 2, generator=g) if spatial_style else torch.randn(1, 6)
    return Code.full_size(structure, style, encoded)


def test_an_encoded_code_and_a_tile_decode_as_they_are():
    for c, tileable in ((code(True), False), (code(False), True), (code(False, 5, 5), False)):
        structure, style, margin = borders.made(c, tileable)
        assert structure is c.structure and style is c.style and margin == 0


def test_a_made_code_loses_its_ring_and_is_continued_past_its_edges():
    c = code(False)
    structure, style, margin = borders.made(c)
    m, r = borders.MARGIN, borders.RING
    assert margin == m and structure.shape[-2:] == (8 + 2 * m, 10 + 2 * m)
    inside = structure[..., r + m:-(r + m), r + m:-(r + m)]
    assert torch.equal(inside, c.structure[..., r:-r, r:-r])
    assert not torch.isin(structure[..., 0, :], c.structure[..., 0, :]).any()  # ring gone
    assert style is c.style
    _, spatial, _ = borders.made(code(False, spatial_style=True))
    assert spatial.shape[-2:] == (8 + 2 * m, 10 + 2 * m)


def test_a_made_decode_is_cut_back_to_the_codes_canvas():
    model = ArtVAE(ModelConfig.tiny()).eval()
    structure = torch.randn(1, model.config.structure_channels, 8, 10)
    style = torch.randn(1, model.config.style_dim)
    with torch.inference_mode():
        for encoded in (False, True):
            x = borders.decode(model, Code.full_size(structure, style, encoded))
            assert x.shape[-2:] == (64, 80)


def test_ops_keep_the_encoded_mark_only_where_nothing_was_made():
    a, b = code(True), code(True)
    assert latent.mix([a, b], [1.0, 0.0], 0).encoded  # the layout's own style, nothing added
    assert not latent.mix([a, b], [0.0, 1.0], 0).encoded  # a swap
    assert latent.blend(a, b, 0.5, "full").encoded  # two reconstructions' maps mixed
    assert latent.blend(a, b, 0.0, "style").encoded
    assert not latent.blend(a, b, 0.5, "style").encoded
    assert not latent.blend(a, b, 0.5, "spatial").encoded
    assert latent.shrink(a, 2).encoded and not latent.shrink(code(False), 2).encoded

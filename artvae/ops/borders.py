"""How a code becomes pixels at the canvas' edges.

The encoder and decoder were trained together on crops, both with zero padding, and learned a
pact about the borders: the encoder writes a ring of correction into the outermost cells of the
structure map, and the decoder relies on it (without it a reconstruction loses ~10 dB within
8 px of the edge). On a smooth layout that ring is most of what its normalised map holds
(about 7x the interior's energy beside the left edge), so a detailed style painted it as a
coloured frame; and a decode with a style that is not the map's own drew a frame of its own at
the decoder's padding.

So a code straight from the encoder (`Code.encoded`) decodes as it is, and every made one (a
swap, a blend, a restyle, a sample) with *made borders*: the ring is dropped, the map continued
past each edge by reflection, `MARGIN` cells more decoded on every side and cut away. The edge
of the image is then drawn as its inside is. Tiles wrap around and have no edge to make.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from artvae.model.autoencoder import DOWNSCALE, ArtVAE

from .latent import Code

MARGIN = 2  # map cells decoded beyond each edge of a made image, then cut away
RING = 1  # map cells at each edge that hold the encoder's border correction


def made(code: Code, tileable: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(structure, style, margin) to decode for `code`: its own map and style (margin 0) for
    an encoded code, a tile or a map too small to continue; else the map without its ring,
    continued by reflection `RING + MARGIN` cells past each edge, a style map stretched to
    the map and continued `MARGIN` cells by its edge values. Cut the decode with `cut`."""
    structure, style = code.structure, code.style
    h, w = structure.shape[-2:]
    if code.encoded or tileable or min(h, w) - 2 * RING <= RING + MARGIN:  # reflect's limit
        return structure, style, 0
    inner = structure[..., RING:h - RING, RING:w - RING]
    structure = F.pad(inner, (RING + MARGIN,) * 4, mode="reflect")
    if style.dim() == 4:
        style = F.interpolate(style, size=(h, w), mode="bilinear", align_corners=False)
        style = F.pad(style, (MARGIN,) * 4, mode="replicate")
    return structure, style, MARGIN


def cut(x: torch.Tensor, margin: int) -> torch.Tensor:
    """A decode of a `made` map (B, 3, H, W) without its `margin` (map cells) each side."""
    if margin == 0:
        return x
    m = margin * DOWNSCALE
    return x[..., m:x.shape[-2] - m, m:x.shape[-1] - m]


def decode(model: ArtVAE, code: Code, tileable: bool = False) -> torch.Tensor:
    """`code` -> (B, 3, 8h, 8w) in [0, 1], as the playground draws it (made borders where they
    apply), on the model's device; the caller crops to `code.size`."""
    structure, style, margin = made(code, tileable)
    device = next(model.parameters()).device
    x = model.decode(structure.to(device), style.to(device), tileable)
    return ArtVAE.to_image_range(cut(x, margin))

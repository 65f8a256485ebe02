"""The code corrector: the encoder's code, one look at what the decoder makes of it, a better code.

The encoder is a fast guess at the code the decoder rebuilds best (an amortisation gap: on the
stage-9 weights, Adam steps on each code through the frozen decoder, `refine.py`, gain 3-4 dB
on held-out textures, and about 3 dB even on training images, so the encoder underfits rather
than overfits; a deeper encoder closed 0.05-0.1 dB of it). Refining sees the decoder's error and
the encoder does not. The corrector is a learned refining step (iterative amortised inference,
Marino et al. 2018): it sees the image, its decode and the code, and predicts a change of the
code. Its output layers start at zero, so a model that gains one encodes exactly as before until
`train-corrector` trains it, with the rest of the model frozen, towards `refine.py`'s objective
(pixel terms plus as much fine detail in each place as the input has). It may look more than
once (`ModelConfig.corrector_passes`, the same weights each time, trained unrolled: each pass
decodes the code it was given and sees what is still wrong).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Conv, ResBlock
from .config import ModelConfig


class CodeCorrector(nn.Module):
    """(image, decode of its code, structure, style) -> corrected (structure, style).
    Images (B, 3, H, W) in [-1, 1]; structure (B, C_s, H/8, W/8); style (B, D_w). Shaped like
    the encoder (pixel-unshuffle by 4, blocks at 1/4 and 1/8), with the style modulating its
    blocks: what an error means depends on the look that was asked for."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c4, c8 = cfg.corrector_width, 2 * cfg.corrector_width
        g, d = cfg.norm_groups, cfg.style_dim
        self.stem = Conv(2 * 3 * 16, c4)  # image and error, pixel-unshuffled: (B, 96, H/4, W/4)
        self.block4 = ResBlock(c4, g, d)
        self.down = Conv(c4, c8, kernel=3, stride=2)  # -> H/8
        self.lift = nn.Conv2d(cfg.structure_channels, c8, 1)  # the code's own map joins here
        self.blocks8 = nn.ModuleList(ResBlock(c8, g, d) for _ in range(2))
        self.structure_head = nn.Sequential(
            nn.GroupNorm(g, c8), nn.SiLU(), nn.Conv2d(c8, cfg.structure_channels, 1))
        self.style_head = nn.Sequential(
            nn.Linear(2 * c8, 2 * c8), nn.SiLU(), nn.Linear(2 * c8, cfg.style_dim))
        # zero changes at first: a model that gains a corrector encodes as before
        for last in (self.structure_head[-1], self.style_head[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, image: torch.Tensor, decoded: torch.Tensor, structure: torch.Tensor,
                style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The changes (delta structure (B, C_s, h, w), delta style (B, D_w)) to add."""
        seen = torch.cat([image, image - decoded], dim=1)  # (B, 6, H, W)
        h = self.block4(self.stem(F.pixel_unshuffle(seen, 4)), style)
        h = self.down(F.silu(h)) + self.lift(structure.to(h.dtype))  # (B, c8, H/8, W/8)
        for block in self.blocks8:
            h = block(h, style)
        pooled = torch.cat([h.mean((2, 3)), h.std((2, 3), correction=0)], dim=1)  # (B, 2 c8)
        return self.structure_head(h), self.style_head(pooled)

"""The measured look of an image: what the named style controls move, and how a restyle is checked.

Each measure is a pure function of float images (B, 3, H, W) in [0, 1] returning (B,) (or
(B, K)), defined once here for the controls' learning (`artvae.train.controls`), their
evaluation (`artvae.measure.controls`) and the tests:

- **brightness**: mean BT.601 luma.
- **contrast**: spread (std) of the luma averaged over 4x4 blocks: the contrast of shapes and
  shading, apart from the fine grain.
- **saturation**: mean chroma, max(R, G, B) - min(R, G, B) per pixel.
- **warmth**: which way the colour leans, the mean of R - B over the mean chroma (plus
  WARMTH_FLOOR, so a grey image reads about 0): +1 orange, -1 blue. Over the chroma, not
  R - B alone: R - B grows with colourfulness too, so saturation +2 read as warming (R - B
  moved 1.38 spreads beside saturation's own 1.93; the lean moves 0.22).
- **grain**: fine-scale contrast (DESIGN.md), the std of the detail finer than 4 px.
- **mean spatial frequency** (what `scale` moves): the power-weighted mean radial frequency of
  the luma averaged over 8x8 blocks, in cycles per block: the pattern's, apart from the grain
  and from the decoder's 8 px cell, which a smooth layout can show as a faint grid.
- **seam ratio**: the step across the wrap-around (last column to first, last row to first)
  over the mean step between neighbouring columns and rows inside: ~1 for a seamless tile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .metrics import fine_scale_contrast, grey

LOOKS = ("brightness", "contrast", "saturation", "warmth", "grain")


def brightness(x: torch.Tensor) -> torch.Tensor:
    return grey(x).mean(dim=(1, 2, 3))


def contrast(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(grey(x), 4).std(dim=(1, 2, 3))


def saturation(x: torch.Tensor) -> torch.Tensor:
    return (x.max(dim=1).values - x.min(dim=1).values).mean(dim=(1, 2))


WARMTH_FLOOR = 0.02  # chroma added to warmth's divisor: greys have no lean to speak of


def warmth(x: torch.Tensor) -> torch.Tensor:
    chroma = (x.max(dim=1).values - x.min(dim=1).values).mean(dim=(1, 2))
    return (x[:, 0] - x[:, 2]).mean(dim=(1, 2)) / (chroma + WARMTH_FLOOR)


def grain(x: torch.Tensor) -> torch.Tensor:
    return fine_scale_contrast(x)


def look(x: torch.Tensor) -> torch.Tensor:
    """Every measure of LOOKS, in that order: (B, 3, H, W) -> (B, 5). Differentiable."""
    return torch.stack([brightness(x), contrast(x), saturation(x), warmth(x), grain(x)], dim=1)


def mean_frequency(x: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Power-weighted mean radial frequency of the luma averaged over `block` x `block`
    blocks (mean removed, Hann-windowed so the frame's edges add no false detail), in cycles
    per block: (B,). Twice as big features halve it."""
    g = F.avg_pool2d(grey(x.float()), block)[:, 0]  # (B, H / block, W / block)
    h, w = g.shape[-2:]
    window = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)
    g = (g - g.mean(dim=(1, 2), keepdim=True)) * window.to(g)
    power = torch.fft.rfft2(g).abs().pow(2)  # (B, H, W // 2 + 1)
    fy = torch.fft.fftfreq(h).abs()[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    radius = (fy.pow(2) + fx.pow(2)).sqrt().to(power)
    power[:, 0, 0] = 0
    return (power * radius).sum(dim=(1, 2)) / power.sum(dim=(1, 2)).clamp_min(1e-12)


def seam_ratio(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute step across the wrap-around over the mean step between neighbours inside,
    rows and columns together: (B,). About 1 for an image that tiles without a seam."""
    inner = torch.cat([(x[..., 1:] - x[..., :-1]).abs().flatten(1),
                       (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1)], dim=1).mean(1)
    wrap = torch.cat([(x[..., 0] - x[..., -1]).abs().flatten(1),
                      (x[..., 0, :] - x[..., -1, :]).abs().flatten(1)], dim=1).mean(1)
    return wrap / inner.clamp_min(1e-8)

"""The network's building blocks: a convolution whose padding is chosen per call (circular for
tileable output) and a pre-activation residual block, FiLM-modulated by a style (map).

The encoder, the decoder and the code corrector are all built from these, so they live apart
from any of them: `corrector.py` needs them and `autoencoder.py` needs the corrector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Conv(nn.Conv2d):
    """3x3 (or kxk) convolution whose padding is zeros or circular, chosen per call."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        self.pad = kernel // 2

    def forward(self, x: torch.Tensor, tileable: bool = False) -> torch.Tensor:
        if tileable and self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="circular")
            return F.conv2d(x, self.weight, self.bias, self.stride)
        # zero padding inside the conv kernel: an explicit F.pad costs a quarter of a decode
        return F.conv2d(x, self.weight, self.bias, self.stride, padding=self.pad)


class ResBlock(nn.Module):
    """Pre-activation residual block; with `style_dim`, FiLM-modulated by a style (map)."""

    def __init__(self, channels: int, groups: int, style_dim: int = 0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels, affine=style_dim == 0)
        self.conv1 = Conv(channels, channels)
        self.norm2 = nn.GroupNorm(groups, channels, affine=style_dim == 0)
        self.conv2 = Conv(channels, channels)
        # style -> per-channel (scale, shift) for both norms; zero-init: starts as plain norm
        self.film = nn.Conv2d(style_dim, 4 * channels, 1) if style_dim else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(
        self, x: torch.Tensor, style: torch.Tensor | None = None, tileable: bool = False
    ) -> torch.Tensor:
        h1, h2 = self.norm1(x), None
        if self.film is not None:
            # style: (B, D_w, 1, 1) or (B, D_w, h, w) resized to x -> (B, 4C, h, w)
            s1, b1, s2, b2 = self.film(_fit_style(style, x)).chunk(4, dim=1)
            h1 = h1 * (1 + s1) + b1
        h = self.conv1(F.silu(h1), tileable)
        h2 = self.norm2(h)
        if self.film is not None:
            h2 = h2 * (1 + s2) + b2
        return x + self.conv2(F.silu(h2), tileable)


def _fit_style(style: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A global (B, D) or spatial (B, D, h, w) style -> broadcastable against x (B, C, H, W)."""
    if style.dim() == 2:
        return style[:, :, None, None]
    if style.shape[-2:] == x.shape[-2:] or style.shape[-2:] == (1, 1):
        return style
    return F.interpolate(style, size=x.shape[-2:], mode="bilinear", align_corners=False)

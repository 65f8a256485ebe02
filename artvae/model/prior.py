"""A learned prior over structure maps: seeded textures, variations of an upload, expansion.

Flow matching (Lipman et al. 2023; rectified flow, Liu et al. 2023): a small fully convolutional
network v(x, t, w) learns the velocity that carries Gaussian noise x_0 to a training structure
map x_1 along the straight line x_t = (1 - t) x_0 + t x_1, given the image's style w. Sampling
integrates dx/dt = v from t = 0 to 1 in a few Heun steps. Every convolution pads circularly, so
a sample wraps around seamlessly at any size whose map side is a multiple of 8 (64 px images).
A variation starts part-way (SDEdit, Meng et al. 2022): the upload's map re-arranged on the
output's canvas (quilted from its own pieces, `latent.quilt`), mixed with noise at time t0
and carried to t = 1 under the upload's style, so it keeps the upload's kind of structure in a
new arrangement.

Styles for seeded samples blend two of 256 stored training styles (`style_bank`, filled in by
`train-prior`).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

MULTIPLE = 8  # the map side must divide by the pixel-unshuffle and the two 2x downsamplings
STYLE_BANK = 256  # training styles stored with the prior (64 KB)
STYLE_REACH = 1.15  # how far from the bank's mean a drawn style sits, in the bank's own spread:
# the held-out textures' styles sit 1.14x as far out as the stored training ones (RMS distance)


def circular_conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with wrap-around padding: the network sees a torus."""
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="circular")


class FlowBlock(nn.Module):
    """Residual block whose normalised features are scaled and shifted by the condition."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        groups = math.gcd(8, channels)
        self.norm1 = nn.GroupNorm(groups, channels, affine=False)
        self.conv1 = circular_conv(channels, channels)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = circular_conv(channels, channels)
        self.film = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.conv2.weight)  # starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
        h = self.conv1(F.silu(self.norm1(x) * (1 + scale) + shift))
        return x + self.conv2(F.silu(self.norm2(h)))


class StructurePrior(nn.Module):
    """v(x, t, w): (B, C_s, h, w) map, (B,) times, (B, D_w) styles -> (B, C_s, h, w) velocity.
    A pixel-unshuffle by 2, then a three-level U-Net (1/2, 1/4, 1/8 of the map's resolution):
    the field sees far enough for bricks and tiles while the work runs small (a 2048 px canvas
    is a 256 x 256 map)."""

    def __init__(self, channels: int, style_dim: int, width: int):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        cond = 4 * width
        self.time_freqs = nn.Parameter(torch.arange(1, 17).float() * math.pi, requires_grad=False)
        self.cond = nn.Sequential(nn.Linear(32 + style_dim, cond), nn.SiLU(), nn.Linear(cond, cond))
        self.null_style = nn.Parameter(torch.zeros(style_dim))  # "no style given" (dropout)
        self.stem = circular_conv(4 * channels, w1)
        self.enc1 = FlowBlock(w1, cond)
        self.down1 = circular_conv(w1, w2, stride=2)
        self.enc2 = FlowBlock(w2, cond)
        self.down2 = circular_conv(w2, w3, stride=2)
        self.mid = nn.ModuleList([FlowBlock(w3, cond) for _ in range(3)])
        self.up2 = circular_conv(w3, w2)
        self.dec2 = FlowBlock(w2, cond)
        self.up1 = circular_conv(w2, w1)
        self.dec1 = FlowBlock(w1, cond)
        self.head = nn.Sequential(nn.GroupNorm(math.gcd(8, w1), w1), nn.SiLU(),
                                  circular_conv(w1, 4 * channels))
        # training styles, filled in at export: a seeded sample's style blends two of them
        self.register_buffer("style_bank", torch.zeros(STYLE_BANK, style_dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        angles = t[:, None] * self.time_freqs  # (B, 16)
        cond = self.cond(torch.cat([angles.sin(), angles.cos(), style], dim=1))  # (B, cond)
        h1 = self.enc1(self.stem(F.pixel_unshuffle(x, 2)), cond)  # (B, w1, h/2, w/2)
        h2 = self.enc2(self.down1(h1), cond)  # (B, w2, h/4, w/4)
        h = self.down2(h2)  # (B, w3, h/8, w/8)
        for block in self.mid:
            h = block(h, cond)
        h = self.dec2(self.up2(F.interpolate(h, scale_factor=2.0)) + h2, cond)
        h = self.dec1(self.up1(F.interpolate(h, scale_factor=2.0)) + h1, cond)
        return F.pixel_shuffle(self.head(h), 2)

    def draw_styles(self, count: int, generator: torch.Generator | None = None,
                    temperature: float = 1.0) -> torch.Tensor:
        """(count, D_w) styles: blends of two stored training styles at a random weight in
        [0.25, 0.75], so each is new but stays among the looks the decoder knows (a Gaussian
        fitted to the styles drew garish mixtures of unrelated palettes). A plain blend of two
        averages their departures from the bank's mean away (0.74 of the bank's spread): each
        is rescaled to the spread of the stored styles, times STYLE_REACH, so seeded styles are
        as distinct as new textures' are. `temperature` moves them away from (> 1) or towards
        (< 1) the bank's mean."""
        picks = torch.randint(len(self.style_bank), (count, 2), generator=generator)
        weight = 0.25 + 0.5 * torch.rand(count, 1, generator=generator)
        bank = self.style_bank.cpu()
        mean = bank.mean(0)
        blend = (1 - weight) * (bank[picks[:, 0]] - mean) + weight * (bank[picks[:, 1]] - mean)
        blend = blend / ((1 - weight) ** 2 + weight**2).sqrt()  # the spread of one stored style
        return (mean + temperature * STYLE_REACH * blend).to(self.style_bank.device)


def flow_matching_loss(prior: StructurePrior, maps: torch.Tensor, styles: torch.Tensor,
                       generator: torch.Generator | None = None,
                       style_dropout: float = 0.1) -> torch.Tensor:
    """Mean squared error of the predicted velocity against x_1 - x_0 on the straight path, at
    logit-normal times (most weight mid-way, as in Esser et al. 2024)."""
    b = maps.shape[0]
    noise = torch.randn(maps.shape, generator=generator).to(maps)
    t = torch.sigmoid(torch.randn(b, generator=generator)).to(maps)
    drop = torch.rand(b, generator=generator).to(maps) < style_dropout
    styles = torch.where(drop[:, None], prior.null_style.expand_as(styles), styles)
    x_t = (1 - t[:, None, None, None]) * noise + t[:, None, None, None] * maps
    return F.mse_loss(prior(x_t, t, styles), maps - noise)


def padded_side(side: int) -> int:
    """The smallest map side >= side the prior can work on."""
    return -(-side // MULTIPLE) * MULTIPLE


@torch.inference_mode()
def integrate(prior: StructurePrior, x: torch.Tensor, style: torch.Tensor, t0: float = 0.0,
              steps: int = 4) -> torch.Tensor:
    """Carry x at time t0 to t = 1 in `steps` Heun steps: (B, C_s, h, w) -> the same shape.
    (The encoder's maps are normalised per channel over space; normalise the result likewise
    before decoding.)"""
    times = torch.linspace(t0, 1.0, steps + 1).tolist()
    for t, t_next in pairwise(times):
        now = torch.full((x.shape[0],), t, device=x.device, dtype=x.dtype)
        v = prior(x, now, style)
        guess = x + (t_next - t) * v
        later = torch.full_like(now, t_next)
        x = x + (t_next - t) * 0.5 * (v + prior(guess, later, style))
    return x


def sample_structure(prior: StructurePrior, style: torch.Tensor, shape: tuple[int, int],
                     generator: torch.Generator | None = None, steps: int = 4,
                     temperature: float = 1.0) -> torch.Tensor:
    """New layouts for styles (B, D_w): (B, C_s, h, w) maps for a map of `shape` (h, w). The
    canvas is padded to the prior's multiple and cropped back, so only shapes that are already
    multiples wrap around exactly."""
    h, w = shape
    canvas = style.new_zeros(style.shape[0], prior.stem.in_channels // 4, padded_side(h),
                             padded_side(w))
    # strength 1: the start is all noise
    return vary_structure(prior, canvas, style, 1.0, generator, steps, temperature)[..., :h, :w]


def vary_structure(prior: StructurePrior, start: torch.Tensor, style: torch.Tensor,
                   strength: float, generator: torch.Generator | None = None,
                   steps: int = 4, temperature: float = 1.0) -> torch.Tensor:
    """A new arrangement of `start` (B, C_s, h, w), already at the output's map size and side a
    multiple of 8: noised to t0 = 1 - strength and carried to t = 1 under `style`. Strength 1 is
    a fresh sample; small strengths keep more of `start`. `temperature` scales the noise."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    t0 = 1.0 - strength
    noise = torch.randn(start.shape, generator=generator).to(start) * temperature
    x = t0 * start + (1 - t0) * noise
    return integrate(prior, x, style, t0, max(1, round(steps * strength)))

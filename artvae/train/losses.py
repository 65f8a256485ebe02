"""Training losses: the style-swap terms and a patch discriminator (the pixel, structural and
spectral reconstruction terms, which refining shares, are in `artvae.ops.reconstruction`).

No pretrained perceptual network can be downloaded here, so crispness comes from two sources that
need none: a Fourier-amplitude term (blur shows up as missing high-frequency energy, which an
average pixel loss does not punish) and, after a warm-up, a small patch discriminator with the
hinge loss. A swapped decode D(s_A, w_B) of two different textures has no pixel target; it is
judged by its multi-scale patch distribution against B's (a sliced Wasserstein distance over
random patch projections, Heitz et al. 2021, on pixels instead of VGG features) and by cycles
through the encoder: its style must encode back to w_B and its structure back to s_A.
Images are (B, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from artvae.ops.metrics import grid_power


def sliced_patch_loss(
    x: torch.Tensor,
    target: torch.Tensor,
    generator: torch.Generator | None = None,
    projections: int = 32,
    patch: int = 5,
    scales: int = 3,
) -> torch.Tensor:
    """Sliced Wasserstein distance between each image's patch distribution and its target's,
    at `scales` octaves: (B, 3, H, W) x2 -> scalar. Every patch x patch x 3 window is projected
    on random unit directions (a convolution), the per-image projections are sorted and
    compared: a match of patch statistics (colour, contrast, grain), blind to where the patches
    sit, so x keeps its own layout. Both images must be the same size."""
    total = x.new_zeros(())
    x, target = x.float(), target.float()
    for level in range(scales):
        if level:
            x, target = F.avg_pool2d(x, 2), F.avg_pool2d(target, 2)
        dirs = torch.randn(projections, 3 * patch * patch, generator=generator)
        dirs = (dirs / dirs.norm(dim=1, keepdim=True)).view(projections, 3, patch, patch)
        dirs = dirs.to(x.device)
        px = F.conv2d(x, dirs).flatten(2).sort(dim=2).values  # (B, P, N) sorted projections
        pt = F.conv2d(target, dirs).flatten(2).sort(dim=2).values
        total = total + (px - pt).abs().mean()
    return total / scales


def lattice_loss(swapped: torch.Tensor, style_source: torch.Tensor) -> torch.Tensor:
    """How far each swap's fine-detail power on the 8-px grid's harmonics exceeds its style
    source's, in log units (0 where it has no more than the style itself): the waffle a textured
    style drew on a smooth layout. Power, not a share of it: a share could also be lowered by
    adding detail elsewhere (along the border, say), power only by drawing less grid.
    Both are windowed (the borders do not count) and floored at 1% of the source's detail power.
    Images in [-1, 1]: (B, 3, H, W) x2 -> scalar."""
    grid_x, _ = grid_power(swapped.float(), windowed=True)
    grid_b, total_b = grid_power(style_source.float(), windowed=True)
    floor = 0.01 * total_b + 1e-8
    return F.relu(torch.log(grid_x + floor) - torch.log(grid_b + floor)).mean()


def style_cycle_loss(style_of_swap: torch.Tensor, style_source: torch.Tensor) -> torch.Tensor:
    """Squared distance of the swap's encoded style from the style it was given: (B, D) -> scalar.
    The source is a fixed target: the encoder must not move it towards the swap."""
    return (style_of_swap - style_source.detach()).pow(2).mean()


def layout_cycle_loss(structure_of_swap: torch.Tensor, layout_source: torch.Tensor) -> torch.Tensor:
    """Squared distance of the swap's encoded structure from the layout it was given: keeps A's
    layout in D(s_A, w_B) (the style may change its look, not where things are)."""
    return (structure_of_swap - layout_source.detach()).pow(2).mean()


class PatchDiscriminator(nn.Module):
    """(B, 3, H, W) -> (B, 1, H/8, W/8) realness logits of overlapping ~30 px patches."""

    def __init__(self, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in (width, 2 * width, 4 * width):
            layers += [
                nn.utils.parametrizations.spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1)),
                nn.LeakyReLU(0.2),
            ]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge loss."""
    return -fake_logits.mean()

"""Training losses: pixel, structural and spectral reconstruction terms, and a patch discriminator.

No pretrained perceptual network can be downloaded here, so crispness comes from two sources that
need none: a Fourier-amplitude term (blur shows up as missing high-frequency energy, which an
average pixel loss does not punish) and, after a warm-up, a small patch discriminator with the
hinge loss. Images are (B, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import ssim

PSNR_CEILING_MSE = 1e-5  # the PSNR term stops pulling at 50 dB: beyond it, 8-bit output rounds


def fourier_amplitude_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between log-amplitude spectra: texture detail lives in the spectrum, not in phase."""
    fx = torch.fft.rfft2(x.float(), norm="ortho").abs()
    fy = torch.fft.rfft2(y.float(), norm="ortho").abs()
    return (torch.log1p(fx) - torch.log1p(fy)).abs().mean()


def reconstruction_loss(
    x: torch.Tensor,
    target: torch.Tensor,
    ssim_weight: float,
    fourier_weight: float,
    psnr_weight: float = 0.0,
    colour_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 + (1 - SSIM) + Fourier amplitude - mean PSNR (dB) + L1 of the 8x8 block means, with
    the parts for logging.

    The PSNR term is the evaluation's own average: a log of each image's squared error, so
    an image that is already close (a smooth gradient, a flat colour) is pulled as hard as a
    busy one, where a pixel-average loss lets a little drift and grain there go unpunished.
    The block-mean (colour) term is there because pixel L1's gradient is a sign: under busy
    detail, a colour drift of a level or two barely moves it."""
    l1 = (x - target).abs().mean()
    structural = 1.0 - ssim((x.float() + 1) / 2, (target.float() + 1) / 2).mean()
    spectral = fourier_amplitude_loss(x, target)
    mse = (x.float() - target.float()).pow(2).flatten(1).mean(1) / 4  # (B,), on [0, 1] pixels
    peak = -10 * torch.log10(mse + PSNR_CEILING_MSE).mean()
    colour = (F.avg_pool2d(x.float(), 8) - F.avg_pool2d(target.float(), 8)).abs().mean()
    total = (l1 + ssim_weight * structural + fourier_weight * spectral - psnr_weight * peak
             + colour_weight * colour)
    parts = {
        "l1": l1.item(),
        "psnr": peak.item(),
        "ssim": 1.0 - structural.item(),
        "fourier": spectral.item(),
        "colour": colour.item(),
    }
    return total, parts


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

"""The reconstruction objective: how far a decode is from its image, in pixels, structure (SSIM),
spectrum (Fourier amplitude), PSNR, block colour and local amount of fine detail.

Training lowers it over the model's weights (`artvae.train.autoencoder`); refining lowers it over
one image's code, the weights untouched (`artvae.ops.refine`), so it lives here, below both.
No pretrained perceptual network can be downloaded here, so crispness comes from terms that need
none: blur shows up as missing high-frequency energy in the spectrum, which an average pixel loss
does not punish, and as less fine detail than the target has in a place.
Images are (B, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .metrics import fine_detail, ssim

PSNR_CEILING_MSE = 1e-5  # the PSNR term stops pulling at 50 dB: beyond it, 8-bit output rounds


def fourier_amplitude_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between log-amplitude spectra: texture detail lives in the spectrum, not in phase."""
    fx = torch.fft.rfft2(x.float(), norm="ortho").abs()
    fy = torch.fft.rfft2(y.float(), norm="ortho").abs()
    return (torch.log1p(fx) - torch.log1p(fy)).abs().mean()


def detail_loss(x: torch.Tensor, target: torch.Tensor, window: int = 8) -> torch.Tensor:
    """How far the local amount of fine detail (mean |`metrics.fine_detail`| over each
    `window` x `window` block) of `x` is from `target`'s, relative to the target's average.
    Blur lowers it where the target is busy; invented grain raises it where the target is
    smooth: either costs. It asks for as much detail as the target has in each place, not
    for the same pixels, so a pixel loss beside it decides what that detail looks like."""
    def amount(z: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(fine_detail((z.float() + 1) / 2).abs(), window)

    wanted = amount(target)
    return (amount(x) - wanted).abs().mean() / wanted.mean().clamp_min(1e-4)


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

"""Codes refined through the decoder: the encoder's code, then gradient steps on it.

The encoder is a fast guess, not the best code the decoder can use (an amortisation gap):
Adam steps on (s, w) per image, the model's weights untouched, bring the decode closer. With
training's pixel terms alone the closer codes are the blurrier ones (on the stage-9 weights, 10
steps took the 110 held-out textures from 30.65 to 32.83 dB but sharpness from 0.958 to 0.899,
and art from 0.916 to 0.857, SWD up on both), so the objective adds `reconstruction.detail_loss`: as
much fine detail in each place as the input has. With it (DETAIL_WEIGHT 0.3, 10 steps at lr
0.05, float32) every measure improves on both held-out groups: textures 30.65 -> 32.17 dB, SSIM
0.835 -> 0.854, SWD 49.9 -> 47.3, sharpness 0.958 -> 0.967; art 27.68 -> 28.58 dB, 0.843 ->
0.857, 48.0 -> 43.3, 0.916 -> 0.965 (25 steps: art 28.89 dB / SWD 40.6 / 0.973). Since stage
10 the start is the corrector's code (`ArtVAE.encode`; `corrector.py` learns one such step),
and 10 steps take it further: textures 32.04 -> 32.53 dB and sharpness 0.957 -> 0.976, art
28.47 -> 28.74 dB and 0.932 -> 0.960 (stage 11, two corrector passes: textures 32.27 -> 32.61
dB, art 28.44 -> 28.76). In bf16
autocast the steps are 1.5x faster but drift (art 28.27 dB and SWD 66.8 after 10 steps without
the detail term; NaN at 25 with a heavier spectral term), so refining always runs in float32.
A step is a forward and backward pass of the decoder, about 80 ms at 256 px on this 2-core CPU:
an option for a one-off reconstruction (`python -m artvae reconstruct --refine 10`), not for a
moving slider.
"""

from __future__ import annotations

import torch

from artvae.model.autoencoder import ArtVAE, normalise_over_space

from .reconstruction import detail_loss, reconstruction_loss

# training's reconstruction weights (TrainConfig: ssim 0.5, fourier 0.5; psnr 0.01 as in the
# runs behind the bundled weights), plus the local-detail term that keeps the result as crisp
SSIM_WEIGHT, FOURIER_WEIGHT, PSNR_WEIGHT, DETAIL_WEIGHT = 0.5, 0.5, 0.01, 0.3
# on training crops, 10 steps at 0.05 kept more sharpness than at 0.02, at equal PSNR
LEARNING_RATE = 0.05


def refine_loss(y: torch.Tensor, x: torch.Tensor, detail_weight: float = DETAIL_WEIGHT
                ) -> torch.Tensor:
    """What refining lowers: decode `y` against image `x`, both (B, 3, H, W) in [-1, 1]."""
    loss, _ = reconstruction_loss(y, x, SSIM_WEIGHT, FOURIER_WEIGHT, PSNR_WEIGHT)
    return loss + detail_weight * detail_loss(y, x)


def refine(model: ArtVAE, x: torch.Tensor, steps: int = 10, lr: float = LEARNING_RATE,
           tileable: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) images in [-1, 1] -> (structure (B, C_s, H/8, W/8), style (B, D_w)): the
    posterior means, then `steps` Adam steps on them that lower `refine_loss`, in float32
    whatever autocast is on outside. Only the codes get gradients (the model's weights are
    left untouched, so concurrent callers can share it); the structure stays normalised over
    space, as the encoder gives it."""
    with torch.inference_mode(False), torch.enable_grad(), \
            torch.autocast(x.device.type, enabled=False):
        x = x.float().clone()  # an inference-mode tensor cannot take part in autograd
        with torch.no_grad():  # the start needs no graph (the corrector decodes once)
            q_s, q_w = model.encode(x)
        structure = q_s.mode().detach().float().clone().requires_grad_(True)
        style = q_w.mode().detach().float().clone().requires_grad_(True)
        optimiser = torch.optim.Adam([structure, style], lr=lr)
        for _ in range(steps):
            y = model.decode(normalise_over_space(structure), style, tileable)
            loss = refine_loss(y, x)
            structure.grad, style.grad = torch.autograd.grad(loss, [structure, style])
            optimiser.step()
        return normalise_over_space(structure).detach(), style.detach()

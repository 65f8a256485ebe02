"""Behaviour of the quality measures on small seeded images (CPU, well under a second each)."""

import math

import pytest
import torch
import torch.nn.functional as F

from artvae.ops.metrics import (
    bicubic_baseline,
    blend_measures,
    crossfade,
    fine_scale_contrast,
    grey,
    psnr,
    sharpness,
    ssim,
    swd,
)


def noise(seed: int, size: int = 64, batch: int = 1) -> torch.Tensor:
    """Uniform RGB noise in [0, 1]: (batch, 3, size, size)."""
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def gradient(size: int = 64) -> torch.Tensor:
    """A smooth diagonal colour ramp: (1, 3, size, size)."""
    t = torch.linspace(0, 1, size)
    ramp = (t[:, None] + t[None, :]) / 2
    return torch.stack([ramp, 1 - ramp, ramp * 0.5 + 0.25])[None]


def stripes(size: int = 64, batch: int = 1) -> torch.Tensor:
    """Vertical sine stripes, period 8 px: (batch, 3, size, size)."""
    s = 0.5 + 0.5 * torch.sin(torch.arange(size) * 2 * math.pi / 8)
    return s.view(1, 1, 1, size).expand(batch, 3, size, size).clone()


def blur(x: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Gaussian blur with reflected borders, size kept."""
    t = torch.arange(-6, 7, dtype=x.dtype)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    k = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, 13, 13)
    return F.conv2d(F.pad(x, (6, 6, 6, 6), mode="reflect"), k, groups=3)


def test_grey_uses_bt601_weights():
    x = torch.zeros(1, 3, 2, 2)
    x[:, 1] = 1.0
    assert grey(x).shape == (1, 1, 2, 2)
    assert torch.allclose(grey(x), torch.full((1, 1, 2, 2), 0.587))


def test_psnr_of_identical_images_is_high_and_finite():
    x = noise(0, batch=2)
    p = psnr(x, x)
    assert p.shape == (2,)
    assert torch.isfinite(p).all() and (p >= 99).all()


def test_psnr_of_uniform_offset_matches_closed_form():
    x = noise(0) * 0.8
    assert psnr(x + 0.1, x).item() == pytest.approx(20.0, abs=1e-3)  # 10 log10(1 / 0.1^2)


def test_ssim_of_identical_images_is_one():
    x = noise(0, batch=2)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)


def test_ssim_drops_with_noise():
    x = blur(noise(0))
    g = torch.Generator().manual_seed(1)
    mild = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    strong = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert 1 > ssim(mild, x).item() > ssim(strong, x).item()


def test_ssim_is_differentiable():
    target = noise(0)
    x = noise(1).requires_grad_()
    (1 - ssim(x, target).mean()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_fine_scale_contrast_is_near_zero_for_smooth_gradient_and_high_for_noise():
    assert fine_scale_contrast(gradient()).item() < 0.01
    assert fine_scale_contrast(noise(0)).item() > 0.1


def test_fine_scale_contrast_is_differentiable():
    x = noise(0).requires_grad_()
    fine_scale_contrast(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_sharpness_of_blurred_noise_is_well_below_one():
    x = noise(0)
    assert sharpness(blur(x), x).item() < 0.3


def test_sharpness_of_identical_copy_is_one():
    x = noise(0, batch=2)
    assert torch.allclose(sharpness(x.clone(), x), torch.ones(2))


def test_swd_of_identical_sets_is_zero():
    x = noise(0, batch=2)
    assert swd(x, x.clone()) == pytest.approx(0.0, abs=1e-6)


def test_swd_of_different_textures_is_larger_than_of_same_texture():
    # Two draws of the same noise differ only by sampling (~100 at 4 x 128 patches a level).
    same = swd(noise(0, batch=4), noise(1, batch=4))
    different = swd(noise(0, batch=4), stripes(batch=4))
    assert different > 3 * same


def test_swd_is_deterministic_across_calls():
    x, y = noise(0, batch=2), blur(noise(1, batch=2))
    assert swd(x, y) == swd(x, y)


def test_bicubic_baseline_keeps_shape_and_smooth_images():
    x = gradient(64)
    out = bicubic_baseline(x, 4)
    assert out.shape == x.shape
    assert psnr(out, x).item() > 35
    assert out.min() >= 0 and out.max() <= 1


def test_crossfade_endpoints_equal_inputs():
    a, b = noise(0), noise(1)
    frames = crossfade(a, b, 8)
    assert frames.shape == (9, 3, 64, 64)
    assert torch.allclose(frames[0], a[0]) and torch.allclose(frames[-1], b[0])


def test_crossfade_of_unrelated_textures_ghosts_but_moves_evenly():
    a, b = noise(0), noise(1)
    m = blend_measures(crossfade(a, b, 8), a, b)
    assert 0.65 < m["contrast"] < 0.78  # ~1/sqrt(2): two uncorrelated textures half-cancel
    assert m["evenness"] == pytest.approx(1.0, abs=1e-3)
    assert m["ends_psnr_a"] >= 99 and m["ends_psnr_b"] >= 99


def test_patch_copy_scores_find_a_moved_piece_of_a_source_and_not_new_grain():
    from artvae.ops.metrics import patch_copy_scores

    g = torch.Generator().manual_seed(0)
    sources = F.avg_pool2d(torch.rand(4, 3, 128, 128, generator=g), 5, 1, 2)
    moved = torch.roll(sources[2:3], (32, 48), (2, 3)) * 0.5 + 0.2  # brightness and contrast
    fresh = F.avg_pool2d(torch.rand(1, 3, 128, 128, generator=g), 5, 1, 2)
    flat = torch.full((1, 3, 128, 128), 0.4)
    scores = patch_copy_scores(torch.cat([moved, fresh, flat]), sources)
    assert scores.shape == (3, 4)  # 2x2 tiles of 64 px
    assert scores[0].min() > 0.999
    assert scores[1].max() < 0.9
    assert scores[2].isnan().all()  # flat tiles: no correlation to speak of

"""Image-quality measures, defined once and used by evaluation, the training losses, the tests
and the README. Each is a pure function of float image tensors (B, 3, H, W) in [0, 1] that returns
a per-image tensor (B,) or a plain number: PSNR, SSIM (Wang et al. 2004), the sliced Wasserstein
distance between patch distributions (Karras et al. 2018), fine-scale contrast and sharpness, the
bicubic down-and-up baseline, and the blend measures (contrast, evenness, ends) of a morph A -> B.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

BT601 = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights for R, G, B


def grey(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma: (B, 3, H, W) -> (B, 1, H, W)."""
    w = x.new_tensor(BT601).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, data range 1: (B,). Identical images give 100 dB."""
    mse = (x.float() - y.float()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_1d(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Normalised 1-D Gaussian of `size` taps, on the device and dtype of `like`."""
    t = torch.arange(size, device=like.device, dtype=like.dtype) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _blur_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable per-channel blur with 1-D kernel `g`, no padding: (B, C, H, W) -> smaller."""
    c, k = x.shape[1], g.numel()
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)  # along H
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)  # along W


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004): (B,), differentiable, used as a training loss.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1, 'valid' filtering (no
    padding, so the border adds nothing). Computed per RGB channel and averaged over the channels
    and the map (not on luma), so colour errors count.
    """
    c1, c2 = 0.01**2, 0.03**2
    g = _gaussian_1d(11, 1.5, x)
    mu_x, mu_y = _blur_valid(x, g), _blur_valid(y, g)
    var_x = _blur_valid(x * x, g) - mu_x**2
    var_y = _blur_valid(y * y, g) - mu_y**2
    cov = _blur_valid(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2, 3))


def fine_detail(x: torch.Tensor) -> torch.Tensor:
    """Grey minus grey averaged 4x down and bilinearly back up: (B, 1, H, W), the band of
    detail finer than 4 px. Differentiable."""
    g = grey(x)  # (B, 1, H, W)
    low = F.interpolate(F.avg_pool2d(g, 4), size=g.shape[-2:], mode="bilinear",
                        align_corners=False)
    return g - low


def fine_scale_contrast(x: torch.Tensor) -> torch.Tensor:
    """Std of `fine_detail`: (B,). Differentiable."""
    return fine_detail(x).std(dim=(1, 2, 3))


def sharpness(reconstruction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Fine-scale contrast of the reconstruction / the reference's: (B,); 1.0 = as crisp."""
    return fine_scale_contrast(reconstruction) / fine_scale_contrast(reference).clamp_min(1e-8)


def _binomial_5(x: torch.Tensor) -> torch.Tensor:
    """Per-channel 5x5 binomial blur [1, 4, 6, 4, 1]/16 with reflected borders, size kept."""
    g = x.new_tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    return _blur_valid(F.pad(x, (2, 2, 2, 2), mode="reflect"), g)


def laplacian_pyramid(x: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """Band-pass levels, finest first, then the low-pass residual: `levels` tensors in all."""
    bands = []
    for _ in range(levels - 1):
        small = _binomial_5(x)[..., ::2, ::2]  # (B, C, H/2, W/2)
        up = torch.zeros_like(x)
        up[..., ::2, ::2] = small * 4  # zero insertion; x4 keeps the mean after the blur
        bands.append(x - _binomial_5(up))
        x = small
    return [*bands, x]


def _patches(x: torch.Tensor, count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`count` random size x size patches per image, flattened: (B * count, C * size * size)."""
    b, c, h, w = x.shape
    top = torch.randint(0, h - size + 1, (b, count), generator=generator).to(x.device)
    left = torch.randint(0, w - size + 1, (b, count), generator=generator).to(x.device)
    d = torch.arange(size, device=x.device)
    rows = (top[..., None, None] + d[:, None]).expand(b, count, size, size)  # (B, P, s, s)
    cols = (left[..., None, None] + d[None, :]).expand(b, count, size, size)
    img = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    patches = x.permute(0, 2, 3, 1)[img, rows, cols]  # (B, P, s, s, C)
    return patches.permute(0, 1, 4, 2, 3).reshape(b * count, c * size * size)


SWD_SPREAD_FLOOR = 2 / 255  # flat areas must not blow quantisation noise up


def _normalise_by_reference(desc_x: torch.Tensor, desc_y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Both descriptor sets divided by the reference's (y's) spread per dimension, floored at
    2/255. One scale for both, so a colour or contrast change shows (normalising each set by
    its own statistics, as Karras et al. do for whole datasets, would hide it)."""
    spread = desc_y.std(dim=0, keepdim=True).clamp_min(SWD_SPREAD_FLOOR)
    return desc_x / spread, desc_y / spread


def swd(
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator | None = None,
    patches: int = 128,
    projections: int = 512,
) -> float:
    """Sliced Wasserstein distance between the 7x7 patch sets of two image batches, x 1e3.

    Karras et al. 2018 (progressive GAN): per level of a 3-level Laplacian pyramid, `patches`
    7x7x3 patches per image, both sets divided by the reference y's spread per dimension, projected
    on `projections` random unit directions, sorted, mean absolute difference. The result is the
    mean over levels times 1e3, the scale the paper reports. Both sets are sampled at the same
    positions (same generator state), so identical sets give exactly 0 and aligned pairs (a
    reconstruction and its reference) carry less sampling noise. Deterministic: seed 0 by default.
    The sets may differ in batch size; the projections then compare quantiles.
    """
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    x, y = x.detach().float(), y.detach().float()
    distances = []
    for level_x, level_y in zip(laplacian_pyramid(x), laplacian_pyramid(y), strict=True):
        state = gen.get_state()
        desc_x = _patches(level_x, patches, 7, gen)
        gen.set_state(state)  # the same positions for y
        desc_y = _patches(level_y, patches, 7, gen)
        desc_x, desc_y = _normalise_by_reference(desc_x, desc_y)
        dirs = torch.randn(desc_x.shape[1], projections, generator=gen).to(x.device)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)  # (147, projections) unit directions
        # (N_x, projections), sorted down each column: sorted as rows, a column is contiguous
        proj_x = (dirs.T @ desc_x.T).sort(dim=1).values.T
        proj_y = (dirs.T @ desc_y.T).sort(dim=1).values.T
        if proj_x.shape[0] != proj_y.shape[0]:  # unequal sets: compare at common quantiles
            n = max(proj_x.shape[0], proj_y.shape[0])
            proj_x, proj_y = _resample_sorted(proj_x, n), _resample_sorted(proj_y, n)
        distances.append((proj_x - proj_y).abs().mean())
    return float(torch.stack(distances).mean()) * 1e3


def _level_draw(level_x: torch.Tensor, level_y: torch.Tensor, patches: int, projections: int,
                gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One pyramid level's draw for `swd_matrix` and `swd_pairs`, in this order from `gen`:
    7x7 patches of x (N, P, D) and of y (M, P, D), y's spread per dimension (M, D, floored),
    and unit projection directions (D, K)."""
    desc_x = _patches(level_x, patches, 7, gen).view(len(level_x), patches, -1)
    desc_y = _patches(level_y, patches, 7, gen).view(len(level_y), patches, -1)
    spread = desc_y.std(dim=1).clamp_min(SWD_SPREAD_FLOOR)
    dirs = torch.randn(desc_x.shape[-1], projections, generator=gen).to(level_x.device)
    return desc_x, desc_y, spread, dirs / dirs.norm(dim=0, keepdim=True)


def swd_matrix(x: torch.Tensor, y: torch.Tensor, patches: int = 128, projections: int = 128,
               chunk: int = 16, seed: int = 0) -> torch.Tensor:
    """SWD (as `swd`, x 1e3) between every image of x (N, 3, H, W) and every image of y
    (M, 3, H', W'), each pair normalised by its reference y's spread: (N, M). Fewer projections
    than `swd` by default: enough to rank neighbours, and N x M pairs stay affordable. `seed`
    draws the patches' positions and the projections."""
    gen = torch.Generator().manual_seed(seed)
    x, y = x.detach().float(), y.detach().float()
    total = torch.zeros(len(x), len(y))
    levels = 0
    for level_x, level_y in zip(laplacian_pyramid(x), laplacian_pyramid(y), strict=True):
        desc_x, desc_y, spread, dirs = _level_draw(level_x, level_y, patches, projections, gen)
        for start in range(0, len(y), chunk):
            scaled = dirs[None] / spread[start : start + chunk, :, None]  # (m, D, K)
            # sorted along the patches, kept last (contiguous): (m, n, K, P)
            proj_x = torch.einsum("npd,mdk->mnkp", desc_x, scaled).sort(dim=-1).values
            proj_y = torch.einsum("mpd,mdk->mkp", desc_y[start : start + chunk], scaled)
            proj_y = proj_y.sort(dim=-1).values[:, None]  # (m, 1, K, P)
            total[:, start : start + chunk] += (proj_x - proj_y).abs().mean(dim=(2, 3)).T.cpu()
        levels += 1
    return total / levels * 1e3


def swd_pairs(x: torch.Tensor, y: torch.Tensor, pairs: torch.Tensor, patches: int = 512,
              projections: int = 128, seeds: Sequence[int] = (1,), chunk: int = 8
              ) -> torch.Tensor:
    """`swd_matrix`'s figure for chosen pairs only: image i of x (N, 3, H, W) against each image
    `pairs[i]` (N, k) names in y (M, 3, H', W'), averaged over one draw of patches and
    projections per seed: (N, k). Per seed the draws are `swd_matrix`'s, so each figure is the
    matrix's entry for that pair; scoring k pairs instead of all M affords more patches."""
    x, y = x.detach().float(), y.detach().float()
    pyramids = laplacian_pyramid(x), laplacian_pyramid(y)
    total = torch.zeros(pairs.shape)
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        for level_x, level_y in zip(*pyramids, strict=True):
            desc_x, desc_y, spread, dirs = _level_draw(level_x, level_y, patches, projections,
                                                       gen)
            for start in range(0, len(x), chunk):
                near = pairs[start : start + chunk]  # (n, k)
                scaled = dirs / spread[near][..., None]  # (n, k, D, K)
                proj_x = torch.einsum("npd,nmdk->nmkp", desc_x[start : start + chunk], scaled)
                proj_y = torch.einsum("nmpd,nmdk->nmkp", desc_y[near], scaled)
                gap = proj_x.sort(dim=-1).values - proj_y.sort(dim=-1).values
                total[start : start + chunk] += gap.abs().mean(dim=(2, 3)).cpu()
    return total / (len(seeds) * len(pyramids[0])) * 1e3


def patch_copy_scores(x: torch.Tensor, sources: torch.Tensor, patch: int = 16,
                      scale: int = 4, chunk: int = 16) -> torch.Tensor:
    """How literally each image of x (N, 3, H, W) repeats pieces of `sources` (M, 3, H', W'):
    both are turned grey and averaged over `scale` x `scale` pixels; each image is cut into a
    grid of `patch` x `patch` tiles (64 px of the original at the defaults), and each tile's
    best normalised cross-correlation with any source at any (circular) shift is taken: 1.0 is
    an exact copy up to brightness and contrast. Returns (N, T): the score of every tile;
    nearly flat tiles, whose correlation means nothing, are NaN. A measure of memorisation at
    the scale of shapes, where SWD compares patch statistics only."""
    small = F.avg_pool2d(grey(x.detach().float()), scale)  # (N, 1, h, w)
    src = F.avg_pool2d(grey(sources.detach().float()), scale)[:, 0]  # (M, h', w')
    h, w = src.shape[-2:]
    if small.shape[-2] < patch or small.shape[-1] < patch or h < patch or w < patch:
        raise ValueError(f"images must be at least {patch * scale} px on a side")
    tiles = F.unfold(small, patch, stride=patch).transpose(1, 2)  # (N, T, p*p)
    tiles = tiles - tiles.mean(dim=-1, keepdim=True)
    norm = tiles.norm(dim=-1, keepdim=True)
    flat = norm[..., 0] < 1e-3 * patch  # spread under ~1/1000 of the range per pixel
    tiles = (tiles / norm.clamp_min(1e-8)).reshape(-1, patch, patch)  # (N*T, p, p)

    def spectrum(kernels: torch.Tensor) -> torch.Tensor:  # (K, p, p) -> rfft2 of it padded
        return torch.fft.rfft2(F.pad(kernels, (0, w - patch, 0, h - patch)))

    def correlate(signal_f: torch.Tensor, kernel_f: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(signal_f * kernel_f.conj(), s=(h, w))  # window at each origin

    src_f = torch.fft.rfft2(src)  # (M, h, w')
    box_f = spectrum(torch.ones(1, patch, patch))
    count = patch * patch
    sums = correlate(src_f, box_f)
    energy = correlate(torch.fft.rfft2(src * src), box_f) - sums.pow(2) / count
    spread = energy.clamp_min(0).sqrt()  # (M, h, w): norm of each zero-meaned source window
    valid = spread > 1e-3 * patch
    best = torch.empty(len(tiles))
    for start in range(0, len(tiles), chunk):
        kernel_f = spectrum(tiles[start:start + chunk])[:, None]  # (k, 1, h, w')
        ncc = correlate(src_f[None], kernel_f) / spread.clamp_min(1e-8)  # (k, M, h, w)
        best[start:start + chunk] = ncc.masked_fill(~valid, -1).amax(dim=(1, 2, 3))
    best = best.view(flat.shape).clamp(-1, 1)
    return best.masked_fill(flat, float("nan"))


def _resample_sorted(v: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted columns (N, D) linearly resampled to n rows (the quantile function at n points)."""
    return F.interpolate(v.T[None], size=n, mode="linear", align_corners=True)[0].T


def bicubic_baseline(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Antialiased bicubic down by `factor` and bicubic back up, clamped: same shape as x."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(h // factor, w // factor), mode="bicubic", antialias=True,
                          align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def crossfade(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear pixel crossfade, the ghosting reference: (1, 3, H, W) x2 -> (steps + 1, 3, H, W)."""
    t = torch.linspace(0, 1, steps + 1, device=a.device, dtype=a.dtype).view(-1, 1, 1, 1)
    return (1 - t) * a + t * b


def blend_measures(frames: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Contrast, evenness and end fidelity of a morph: frames (N + 1, 3, H, W), a, b (1, 3, H, W).

    contrast: fine-scale contrast of the middle frame (index len // 2) / mean of first and last
    (a crossfade of unrelated textures keeps ~0.71-0.75: ghosting). evenness: max / mean of the
    frame-to-frame RMS change (1.0 = even pace). ends_psnr_a / _b: first vs a, last vs b in dB.
    """
    fsc = fine_scale_contrast(frames)  # (N + 1,)
    steps = (frames[1:] - frames[:-1]).pow(2).mean(dim=(1, 2, 3)).sqrt()  # (N,)
    return {
        "contrast": float(fsc[len(frames) // 2] / ((fsc[0] + fsc[-1]) / 2).clamp_min(1e-8)),
        "evenness": float(steps.max() / steps.mean().clamp_min(1e-12)),
        "ends_psnr_a": float(psnr(frames[:1], a)[0]),
        "ends_psnr_b": float(psnr(frames[-1:], b)[0]),
    }


# --- style swaps: X = D(s_A, w_B), R = D(s_A, w_A), B the style source -----------------------


def match_colour(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The no-model swap baseline: each colour channel of `source` moved to the mean and spread
    of `reference`'s, in pixel space, clamped: (B, 3, H, W) x2 -> (B, 3, H, W)."""
    mean_s, std_s = source.mean(dim=(2, 3), keepdim=True), source.std(dim=(2, 3), keepdim=True)
    mean_r = reference.mean(dim=(2, 3), keepdim=True)
    std_r = reference.std(dim=(2, 3), keepdim=True)
    return ((source - mean_s) / std_s.clamp_min(1e-6) * std_r + mean_r).clamp(0, 1)


def colour_transfer(swapped: torch.Tensor, recon: torch.Tensor,
                    style: torch.Tensor) -> torch.Tensor:
    """1 - |mean colour X - mean colour B| / |mean colour R - mean colour B|: (B,). 1 = the swap
    has B's mean colour, 0 = it kept A's."""
    gap = (swapped.mean(dim=(2, 3)) - style.mean(dim=(2, 3))).norm(dim=1)
    before = (recon.mean(dim=(2, 3)) - style.mean(dim=(2, 3))).norm(dim=1)
    return 1 - gap / before.clamp_min(1e-6)


def style_transfer(swapped: torch.Tensor, recon: torch.Tensor, style: torch.Tensor,
                   patches: int = 512) -> torch.Tensor:
    """1 - SWD(X, B) / SWD(R, B), pair by pair: (B,). 1 = X has B's patch statistics, 0 = the
    style did nothing. Each pair's SWD uses `patches` 7x7 patches per pyramid level."""
    out = []
    for x, r, b in zip(swapped, recon, style, strict=True):
        after = swd(x[None], b[None], patches=patches)
        before = swd(r[None], b[None], patches=patches)
        out.append(1 - after / max(before, 1e-6))
    return torch.tensor(out)


def _edges(x: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of grey at 1/4 scale, where layout lives and grain does not: (B, N)."""
    g = F.avg_pool2d(grey(x.float()), 4)
    dy, dx = g[..., 1:, :-1] - g[..., :-1, :-1], g[..., :-1, 1:] - g[..., :-1, :-1]
    return (dx.pow(2) + dy.pow(2)).sqrt().flatten(1)


def layout_kept(swapped: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the 1/4-scale edge maps of X and of its layout source A: (B,).
    1 = X has its edges where A has them, ~0 = unrelated images. It can fail both ways: a copy
    of A scores 1 with no style at all (read it beside the transfer), and a near-flat A, or a
    style whose grain is coarser than 4 px, scores low for a layout a person would call kept."""
    ex, ea = _edges(swapped), _edges(layout)
    ex, ea = ex - ex.mean(dim=1, keepdim=True), ea - ea.mean(dim=1, keepdim=True)
    return (ex * ea).sum(dim=1) / (ex.norm(dim=1) * ea.norm(dim=1)).clamp_min(1e-8)


GRID = 8  # the decoder's cell: one structure-map value per 8x8 pixels


def grid_power(x: torch.Tensor, period: int = GRID, windowed: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Power of the fine detail (`fine_detail`, luma) on the harmonics of a `period`-px grid,
    k/period cycles per pixel along x or along y (k >= 1), and in all: (B,), (B,). Sides that
    are multiples of `period` put every harmonic on an exact frequency bin. `windowed` fades the
    detail out towards the borders first (Hann), so what happens at the edges does not count."""
    detail = fine_detail(x.float())[:, 0]  # (B, H, W)
    h, w = detail.shape[-2:]
    if windowed:
        detail = detail * (torch.hann_window(h, device=x.device)[:, None]
                           * torch.hann_window(w, device=x.device))
    power = torch.fft.fft2(detail).abs().pow(2)  # (B, H, W)
    on_rows = torch.zeros(h, dtype=torch.bool, device=x.device)
    on_cols = torch.zeros(w, dtype=torch.bool, device=x.device)
    on_rows[torch.arange(h // period, h, h // period, device=x.device)] = True
    on_cols[torch.arange(w // period, w, w // period, device=x.device)] = True
    lines = on_rows[:, None] | on_cols[None, :]  # (H, W): fy or fx a non-zero multiple of 1/period
    return (power * lines).sum(dim=(1, 2)), power.sum(dim=(1, 2))


def grid_share(x: torch.Tensor, period: int = GRID) -> torch.Tensor:
    """Share of the fine-detail power that sits on the harmonics of a `period`-px grid: (B,).
    A lattice of `period`-px cells puts its power there; natural images and textures keep about
    0.05 (the lines' share of the frequency plane)."""
    grid, total = grid_power(x, period)
    return grid / total.clamp_min(1e-12)


def lattice_score(x: torch.Tensor, *sources: torch.Tensor) -> torch.Tensor:
    """`grid_share` of a rendering over that of its source (B,): 1 = as much 8-px grid as the
    style source itself has; a waffle of the decoder's cells scores 3 and more. Given several
    sources (each (B, 3, H, W)), over the grainiest's: a blend, or a detailed layout in a
    near-flat style, keeps its sources' own detail, which is not the decoder's grid."""
    reference = torch.stack([grid_share(source) for source in sources]).amax(dim=0)
    return grid_share(x) / reference.clamp_min(1e-6)


EDGE_BAND = 4  # px: the outermost band of an image `edge_step` compares with the next 8 px


def edge_step(x: torch.Tensor) -> torch.Tensor:
    """How much a frame the image has: (B, 3, H, W) -> (B,). Along each side, the colour step
    from the outermost EDGE_BAND px (averaged along the side) to the next 8 px, over the same
    step measured at offsets every 8 px inside, summed over the four sides. About 1 for an image
    whose edge is drawn like its inside; a rim or a stripe along the edges scores several."""
    edge = inside = 0.0
    for profile in (x.mean(-2), x.mean(-2).flip(-1), x.mean(-1), x.mean(-1).flip(-1)):  # (B, 3, n)
        edge = edge + _band_step(profile, 0)
        offsets = range(32, profile.shape[-1] - 44, 8)
        inside = inside + torch.stack([_band_step(profile, at) for at in offsets]).mean(0)
    return edge / inside.clamp_min(1e-4)


def _band_step(profile: torch.Tensor, at: int) -> torch.Tensor:
    """Mean colour step of a profile (B, 3, n) from its EDGE_BAND values at `at` to the 8 after
    them: (B,)."""
    outer = profile[..., at:at + EDGE_BAND].mean(-1)
    inner = profile[..., at + EDGE_BAND:at + EDGE_BAND + 8].mean(-1)
    return (outer - inner).abs().mean(-1)

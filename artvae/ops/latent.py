"""Latent codes and the pure maths over them: mix, blend, spatial style ramps, resizing, tiling.

A `Code` is what the encoder makes of an image: a structure map (where things are) and a style
vector (what they look like). Every operation here is a pure function from codes to a code; the
engine decodes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from artvae.model.autoencoder import DOWNSCALE


@dataclass(frozen=True)
class Code:
    structure: torch.Tensor  # (B, C_s, h, w): the layout map at 1/8 resolution
    style: torch.Tensor  # (B, D_w) global, or (B, D_w, h, w) varying across the canvas
    size: tuple[int, int]  # (H, W) of the image it decodes to, <= (8h, 8w)
    # the map and style as the encoder gave them for one image (a reconstruction): decoded as
    # they are. Anything made from codes (a swap, a blend, a sample) is decoded with made
    # borders (`artvae.ops.borders`).
    encoded: bool = False

    @classmethod
    def full_size(cls, structure: torch.Tensor, style: torch.Tensor, encoded: bool = False
                  ) -> Code:
        """A code whose image covers the whole structure map."""
        h, w = structure.shape[-2:]
        return cls(structure, style, (h * DOWNSCALE, w * DOWNSCALE), encoded)


def _fit_structure(structure: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C_s, h, w) -> (B, C_s, *size): bilinear resampling of the layout map."""
    if tuple(structure.shape[-2:]) == tuple(size):
        return structure
    return F.interpolate(structure, size=size, mode="bilinear", align_corners=False)


def _keep_spread(
    mixed: torch.Tensor, sources: list[torch.Tensor], weights: list[float]
) -> torch.Tensor:
    """Re-scale a weighted average of structure maps, channel by channel, to the weighted
    spread of its sources. Averaging unrelated maps shrinks their spread (they partly cancel),
    which decodes washed out and blurry; identical sources come back unchanged."""
    target = sum(
        w * s.std(dim=(-2, -1), keepdim=True) for w, s in zip(weights, sources, strict=True)
    )
    mean = mixed.mean(dim=(-2, -1), keepdim=True)
    spread = mixed.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
    return mean + (mixed - mean) * (target / spread)


def _mix_styles(
    styles: list[torch.Tensor], weights: list[float] | list[torch.Tensor], centre: torch.Tensor
) -> torch.Tensor:
    """Weighted combination of style vectors around `centre` (the training mean) whose distance
    from the centre is the weighted mean of theirs: a spherical, not a shrinking, average."""
    offsets = [s - centre for s in styles]
    mixed = sum(w * o for w, o in zip(weights, offsets, strict=True))
    length = sum(w * o.norm(dim=1, keepdim=True) for w, o in zip(weights, offsets, strict=True))
    return centre + mixed * (length / mixed.norm(dim=1, keepdim=True).clamp_min(1e-6))


DETAIL_SIGMA = 1.0  # map cells: the fine band is what a Gaussian blur of this width takes away
DETAIL_REACH = 2.0  # map cells: how far around a place its own fine detail is judged


def gaussian_blur(x: torch.Tensor, sigma: float, circular: bool) -> torch.Tensor:
    """(B, C, h, w) blurred by a Gaussian of `sigma` cells; circular wraps around the edges
    (for tiles), else the edges are extended."""
    if sigma <= 0:
        return x
    for dim in (-1, -2):  # separable: along the width, then the height
        n = x.shape[dim]
        radius = min(math.ceil(3 * sigma), n - 1 if circular else 4 * n)
        if radius < 1:
            continue
        taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
        kernel = kernel / kernel.sum()
        moved = x.transpose(dim, -1)  # the blurred axis last
        shape = moved.shape
        flat = moved.reshape(-1, 1, shape[-1])
        flat = F.pad(flat, (radius, radius), mode="circular" if circular else "replicate")
        x = F.conv1d(flat, kernel[None, None]).reshape(shape).transpose(dim, -1)
    return x


def fine_band(structure: torch.Tensor) -> torch.Tensor:
    """The finest detail of a layout map, a cell or two across: (B, C_s, h, w) -> same shape."""
    return structure - gaussian_blur(structure, DETAIL_SIGMA, False)


def with_texture(layout: torch.Tensor, donors: list[torch.Tensor],
                 weights: list[float] | list[torch.Tensor]) -> torch.Tensor:
    """A layout map (B, C_s, h, w) whose fine band is topped up, place by place, to the weighted
    fine-band energy of the style sources' maps (`donors`), with their grain: each source's
    fine band rearranged on the canvas as a random-phase field (`grain_of`), so the grain comes
    without the source's own objects (a style image's sword does not appear on a sky). A style
    is rendered from the map it is given: a smooth layout (a sky, a gradient) gives a textured
    style nothing to draw its grain, planks or blades from, and it drew the decoder's 8-px cells
    instead. Where the layout has detail of its own it is left as it is; `weights` (floats, or
    (1, 1, h, w) maps for a style that varies across the canvas) say how much each source's
    look counts. Each channel keeps the layout's spread over space (for encoded maps: 1)."""
    size = layout.shape[-2:]
    bands = [grain_of(d.to(layout), tuple(size)) for d in donors]
    wanted = sum(w * b.pow(2).mean(dim=(1, 2, 3), keepdim=True)
                 for w, b in zip(weights, bands, strict=True))  # fine-band energy asked for
    detail = sum(w * b for w, b in zip(weights, bands, strict=True))
    detail = detail / detail.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-6)
    own = fine_band(layout).pow(2).mean(dim=1, keepdim=True)  # (B, 1, h, w)
    own = gaussian_blur(own, DETAIL_REACH, False)
    missing = (wanted - own).clamp_min(0.0).sqrt()
    return _keep_spread(layout + missing * detail, [layout], [1.0])


GRAIN_SEED = 1234  # the noise `grain_of` rearranges a style source's fine band with


def grain_of(donor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The fine band of a style source's map (B, C_s, h0, w0) rearranged on a `size` canvas as a
    random-phase field (`random_phase`, one fixed noise): its grain (scale, orientation,
    contrast, the channels' correlations) without where anything is. Deterministic, so one
    request always renders the same image; periodic, so a tile stays a tile."""
    return torch.cat([random_phase(band, size, torch.Generator().manual_seed(GRAIN_SEED))
                      for band in fine_band(donor)])


def _tiled_to(structure: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C_s, h0, w0) -> (B, C_s, *size): mirror-tiled or cropped, never stretched (a stretched
    map would change the grain's scale)."""
    h, w = size
    if structure.shape[-2] < h or structure.shape[-1] < w:
        block = torch.cat([structure, structure.flip(-1)], dim=-1)
        block = torch.cat([block, block.flip(-2)], dim=-2)
        reps = (-(-h // block.shape[-2]), -(-w // block.shape[-1]))
        structure = block.repeat(1, 1, *reps)
    return structure[..., :h, :w]


def normalise_weights(weights: list[float] | torch.Tensor) -> list[float]:
    """Non-negative weights scaled to sum to one."""
    weights = [float(w) for w in weights]
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("mix weights must be >= 0 and not all zero")
    total = sum(weights)
    return [w / total for w in weights]


def mix(
    codes: list[Code],
    weights: list[float],
    structure_from: int | None = 0,
    style_centre: torch.Tensor | None = None,
) -> Code:
    """Style = weighted mix of the codes' styles; structure = codes[structure_from]'s (where it
    is bare, textured from the other codes' maps: `with_texture`), or (None) a weighted mix of
    all structures resized to the first's size."""
    if len(codes) != len(weights) or not codes:
        raise ValueError("give one weight per texture")
    weights = normalise_weights(weights)
    # the centre is a model buffer (on its device); the codes may be kept elsewhere (the
    # engine keeps them on the CPU): the codes' device wins
    centre = (style_centre.to(codes[0].style.device) if style_centre is not None
              else torch.zeros_like(codes[0].style))
    style = _mix_styles([c.style for c in codes], weights, centre)
    if structure_from is not None:
        base = codes[structure_from]
        others = [i for i in range(len(codes)) if i != structure_from and weights[i] > 0]
        structure = base.structure
        if not others:
            return Code(structure, style, base.size, base.encoded)
        # the other styles' grain, drawn from their own maps where the layout is bare
        structure = with_texture(structure, [codes[i].structure for i in others],
                                 [weights[i] for i in others])
        return Code(structure, style, base.size)
    size = codes[0].structure.shape[-2:]
    maps = [_fit_structure(c.structure, size) for c in codes]
    structure = _keep_spread(sum(w * m for w, m in zip(weights, maps, strict=True)), maps, weights)
    # reconstructions' maps mixed keep the borders they were all decoded with
    return Code(structure, style, codes[0].size, all(c.encoded for c in codes))


BLEND_MODES = ("full", "style", "spatial")


def spatial_ramp(
    size: tuple[int, int], t: float, shape: str = "left-right", softness: float = 0.35
) -> torch.Tensor:
    """(1, 1, h, w) weights of B across a canvas: 0 = A, 1 = B. `t` moves the transition
    through the canvas (0: all A, 1: all B); `shape` is "left-right" or "radial"."""
    h, w = size
    if shape == "left-right":
        position = torch.linspace(0.0, 1.0, w).expand(h, w)
    elif shape == "radial":
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        position = (xs.pow(2) + ys.pow(2)).sqrt() / 2**0.5
    else:
        raise ValueError(f"unknown ramp shape {shape!r}: use 'left-right' or 'radial'")
    # the edge sweeps from beyond one side (t=0) to beyond the other (t=1)
    edge = -softness + t * (1.0 + 2 * softness)
    ramp = ((edge - position) / softness + 0.5).clamp(0.0, 1.0)
    return (ramp * ramp * (3 - 2 * ramp))[None, None]  # smoothstep


def blend(
    a: Code,
    b: Code,
    t: float,
    mode: str = "full",
    style_centre: torch.Tensor | None = None,
    ramp: str = "left-right",
) -> Code:
    """A -> B at `t` in [0, 1]. full: layout and style move together; style: A's layout, the
    style moves; spatial: one canvas of A's layout whose style ramps from A to B across it. In
    `style` and `spatial`, A's bare places take B's grain as B's style arrives (`with_texture`)."""
    if not 0.0 <= t <= 1.0:
        raise ValueError("t must be between 0 and 1")
    centre = (style_centre.to(a.style.device) if style_centre is not None
              else torch.zeros_like(a.style))
    if mode == "full":
        b_structure = _fit_structure(b.structure, a.structure.shape[-2:])
        maps, weights = [a.structure, b_structure], [1.0 - t, t]
        structure = _keep_spread((1 - t) * a.structure + t * b_structure, maps, weights)
        # two reconstructions' maps mixed keep the borders both were decoded with
        return Code(structure, _mix_styles([a.style, b.style], weights, centre), a.size,
                    a.encoded and b.encoded)
    if mode == "style":
        if t == 0:
            return a
        structure = with_texture(a.structure, [b.structure], [t])
        return Code(structure, _mix_styles([a.style, b.style], [1.0 - t, t], centre), a.size)
    if mode == "spatial":
        weight_b = spatial_ramp(a.structure.shape[-2:], t, ramp)  # (1, 1, h, w)
        styles = [a.style[..., None, None], b.style[..., None, None]]  # (B, D, 1, 1)
        # the same spherical mix, with weights that vary across the canvas -> (B, D, h, w)
        style = _mix_styles(styles, [1 - weight_b, weight_b], centre[..., None, None])
        if weight_b.max() == 0:
            return Code(a.structure, style, a.size, a.encoded)
        return Code(with_texture(a.structure, [b.structure], [weight_b]), style, a.size)
    raise ValueError(f"unknown blend mode {mode!r}: use one of {', '.join(BLEND_MODES)}")


def resize(code: Code, size: tuple[int, int], tile: bool = True) -> Code:
    """The code for an output of `size` (H, W): the structure map is tiled (tile=True, keeps the
    texture's scale) or stretched to the new size. Tiles alternate with their mirror images, so
    a layout that does not wrap around meets itself without a seam."""
    if tuple(size) == tuple(code.size):
        return code
    h, w = -(-size[0] // DOWNSCALE), -(-size[1] // DOWNSCALE)  # ceil: the crop trims the rest
    if tile:
        structure = _tiled_to(code.structure, (h, w))
    else:
        structure = _fit_structure(code.structure, (h, w))
    style = code.style
    if style.dim() == 4:
        style = F.interpolate(style, size=(h, w), mode="bilinear", align_corners=False)
    return Code(structure, style, tuple(size))


def shrink(code: Code, factor: int) -> Code:
    """The code of a `factor` times smaller picture of the same canvas (a fast preview): the
    structure map area-averaged, each channel's spread kept (averaging alone would wash it
    out), a spatial style map averaged too; the image size divided, rounding up."""
    if factor <= 1:
        return code
    h, w = (-(-n // factor) for n in code.structure.shape[-2:])
    small = F.adaptive_avg_pool2d(code.structure, (h, w))
    mean = small.mean(dim=(-2, -1), keepdim=True)
    spread = code.structure.std(dim=(-2, -1), keepdim=True)
    small = mean + (small - mean) * spread / small.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
    style = code.style if code.style.dim() == 2 else F.adaptive_avg_pool2d(code.style, (h, w))
    return Code(small, style, (-(-code.size[0] // factor), -(-code.size[1] // factor)),
                code.encoded)


def _taper(n: int) -> torch.Tensor:
    """(n,) window: 1 in the middle half, raised-cosine fades over the outer quarters."""
    window = torch.ones(n)
    ramp = n // 4
    if ramp:
        fade = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(ramp) + 0.5) / ramp)
        window[:ramp], window[n - ramp:] = fade, fade.flip(0)
    return window


def sample(
    structure_bank: torch.Tensor,
    style_mean: torch.Tensor,
    style_basis: torch.Tensor,
    style_spread: torch.Tensor,
    size: tuple[int, int],
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> Code:
    """A seeded random texture without a learned prior: a random-phase field (`random_phase`)
    of one stored training structure map, in a style from the Gaussian spanned by the principal
    training-style directions."""
    h, w = -(-size[0] // DOWNSCALE), -(-size[1] // DOWNSCALE)
    spot = structure_bank[int(torch.randint(len(structure_bank), (1,), generator=generator))]
    structure = random_phase(spot, (h, w), generator, temperature)
    coords = torch.randn(1, style_basis.shape[0], generator=generator) * temperature
    return Code(structure, explore(style_mean[None], style_basis, style_spread, coords), size)


def random_phase(spot: torch.Tensor, shape: tuple[int, int],
                 generator: torch.Generator | None = None,
                 temperature: float = 1.0) -> torch.Tensor:
    """A random-phase field (Galerne, Gousseau and Morel, "Random phase textures", 2011) of a
    structure map (C, h0, w0) on an (h, w) canvas -> (1, C, h, w): white noise convolved with
    the map's deviation from its mean, so it keeps the map's channel correlations and spatial
    spectrum in a new arrangement, at any size, wrapping around seamlessly."""
    h, w = shape
    spot = spot[:, :h, :w]  # an output smaller than the map keeps a corner of it
    mean = spot.mean(dim=(-2, -1), keepdim=True)
    spread = spot.std(dim=(-2, -1), keepdim=True)
    # edges faded out (a hard edge would streak the field), then scaled so each position of
    # the field has the map's own variance
    spot = (spot - mean) * _taper(spot.shape[-2])[:, None] * _taper(spot.shape[-1])
    spot = spot * spread / spot.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-8)
    noise = torch.randn(1, h, w, generator=generator).to(spot)
    field = torch.fft.irfft2(
        torch.fft.rfft2(spot, s=(h, w)) * torch.fft.rfft2(noise), s=(h, w)
    )  # circular convolution: the field is periodic on the (h, w) canvas
    return (mean + temperature * field)[None]


def explore(
    style: torch.Tensor, basis: torch.Tensor, spread: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """Move styles (B, D_w) along principal directions (K, D_w) by coords (B, K) in units of the
    training styles' spread along each direction."""
    return style + (coords * spread) @ basis


QUILT_BLOCK = 24  # at most, in map pixels (192 image pixels): a big input's blocks stay cheap
QUILT_CANDIDATES = 1024  # offsets each block chooses from, at most (a regular grid of them)


def quilt(spot: torch.Tensor, shape: tuple[int, int], generator: torch.Generator | None = None,
          tolerance: float = 0.3) -> torch.Tensor:
    """A map (C, h0, w0) rearranged on an (h, w) canvas by image quilting (Efros and Freeman,
    "Image quilting for texture synthesis and transfer", 2001) -> (1, C, h, w): square blocks
    of the map (half its side, at most QUILT_BLOCK) laid in raster order with a quarter-block
    overlap, each taken at the offset (drawn at random among those within `tolerance` of the
    best) that best continues what its neighbours already put in the overlap, and joined to
    them along the cheapest path through the overlap (`_seam`). The canvas is a torus: the
    last row and column continue the first, so the field wraps around. Unlike a random-phase
    field it keeps the map's own local arrangement, so brick courses, weaves and cell walls
    stay whole; each place draws its block afresh, so the canvas does not repeat the map as a
    tiling would."""
    c, h0, w0 = spot.shape
    h, w = shape
    block = max(2, min(h0 // 2, w0 // 2, h // 2, w // 2, QUILT_BLOCK))
    stride = block - max(1, block // 4)
    step = 1  # between candidate offsets: a big map offers a regular grid of them
    while -(-(h0 - block + 1) // step) * -(-(w0 - block + 1) // step) > QUILT_CANDIDATES:
        step += 1
    spot = spot.float()[None]  # (1, C, h0, w0)
    # with its energy per pixel: one correlation gives a candidate's whole masked error
    stacked = torch.cat([spot, spot.pow(2).sum(1, keepdim=True)], dim=1)  # (1, C + 1, h0, w0)
    # every candidate block, flattened once: (candidates, (C + 1) * block^2), at most ~20 MB;
    # a candidate's masked error is then one row times the kernel (a matrix-vector product,
    # cheaper than a convolution call per block on these small maps)
    candidates = F.unfold(stacked, block, stride=step)[0].T.contiguous()
    across = -(-(w0 - block + 1) // step)  # candidate offsets per row
    canvas = torch.zeros(c, h * w)
    filled = torch.zeros(h * w, dtype=torch.bool)
    for i in range(-(-h // stride)):
        for j in range(-(-w // stride)):
            ys = (i * stride + torch.arange(block)) % h
            xs = (j * stride + torch.arange(block)) % w
            index = (ys[:, None] * w + xs[None, :]).flatten()  # the block's place on the canvas
            covered = filled[index].view(block, block)  # what neighbours already put there
            old = canvas[:, index].view(c, block, block)
            if covered.any():
                mask = covered.float()[None]
                # masked squared error of the block at every candidate offset, as one
                # correlation: sum of mask * (candidate^2 - 2 candidate * old + old^2)
                kernel = torch.cat([-2 * mask * old, mask])  # (C + 1, block, block)
                error = (candidates @ kernel.flatten() + (mask * old**2).sum()).clamp_min(0)
                good = torch.nonzero(error <= (1 + tolerance) * error.min() + 1e-6).flatten()
            else:
                good = torch.arange(across * -(-(h0 - block + 1) // step))
            pick = int(good[int(torch.randint(len(good), (1,), generator=generator))])
            y, x = pick // across * step, pick % across * step
            new = spot[0, :, y:y + block, x:x + block]
            take = torch.from_numpy(_seam((new - old).pow(2).sum(0).numpy(),
                                          covered.numpy())).float()
            canvas[:, index] = (take * new + (1 - take) * old).reshape(c, -1)
            filled[index] = True
    return canvas.view(1, c, h, w)


def _seam(error: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """How much of a new block to take over what is there, (block, block) in [0, 1]: on each
    side where whole rows or columns are already covered, the new block starts past the
    cheapest top-to-bottom (or left-to-right) path through that strip of `error` (dynamic
    programming, a step of at most one pixel per row), softened by one pixel across the cut.
    Uncovered pixels are always taken. numpy: small arrays, many blocks."""
    take = np.ones(error.shape)
    # each side turned into a left strip (the path runs down its rows), and turned back
    for turn, back, full in (
        (lambda e: e, lambda t: t, covered.all(axis=0)),  # left columns
        (lambda e: e[:, ::-1], lambda t: t[:, ::-1], covered.all(axis=0)[::-1]),  # right
        (lambda e: e.T, lambda t: t.T, covered.all(axis=1)),  # top rows
        (lambda e: e.T[:, ::-1], lambda t: t[:, ::-1].T, covered.all(axis=1)[::-1]),  # bottom
    ):
        width = min(int(np.cumprod(full).sum()), len(full) - 1)  # leading lines covered
        if width == 0:
            continue
        path = _cheapest_path(turn(error)[:, :width])
        side = np.ones(error.shape)
        side[:, :width] = np.arange(width)[None, :] >= path[:, None]
        take = np.minimum(take, back(side))
    padded = np.pad(take, 1, mode="edge")
    h, w = take.shape
    soft = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9
    return np.where(covered, soft, 1.0)


def _cheapest_path(cost: np.ndarray) -> np.ndarray:
    """(rows, width) costs -> the column of the cheapest top-to-bottom path in each row,
    moving at most one column a row (dynamic programming; numpy: a small array per block)."""
    total = cost.astype(np.float64)
    for r in range(1, len(total)):
        prev = total[r - 1]
        best = prev.copy()
        best[1:] = np.minimum(best[1:], prev[:-1])
        best[:-1] = np.minimum(best[:-1], prev[1:])
        total[r] += best
    path = np.empty(len(total), dtype=np.int64)
    path[-1] = int(total[-1].argmin())
    for r in range(len(total) - 2, -1, -1):
        low = max(0, path[r + 1] - 1)
        path[r] = low + int(total[r, low:path[r + 1] + 2].argmin())
    return path

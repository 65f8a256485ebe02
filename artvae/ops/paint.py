"""Paint with styles: a mask of up to four coloured regions, each bound to a texture's style.

The mask's colours say which texture styles each place (`MASK_COLOURS`: red, green, blue,
yellow for textures 1-4; white, grey, black and transparent are unpainted and belong to
texture 1). The regions are averaged down to the structure map's resolution and blurred there
by `softness` (wrapping around when the result is tileable), and the decoder gets a style map
that follows them: at each place the spherical mix (`latent._mix_styles`) of the textures'
styles with the regions' weights. The layout under it comes from a layout image, the first
texture, or the seeded sampler. Pure maths over tensors and images; the operation as the app,
the web API and the CLI ask for it (values checked, the engine's codes, a recipe that keeps the
mask) is `artvae.serve.playground.paint`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .latent import Code, _mix_styles, gaussian_blur, with_texture

# (name, RGB): the mask colour of texture i is MASK_COLOURS[i]
MASK_COLOURS = (("red", (255, 0, 0)), ("green", (0, 255, 0)), ("blue", (0, 0, 255)),
                ("yellow", (255, 255, 0)))
UNPAINTED = ((255, 255, 255), (128, 128, 128), (0, 0, 0))  # count as texture 1 (background)
MAX_TEXTURES = len(MASK_COLOURS)
MAX_BLUR = 0.25  # softness 1 blurs the regions by 1/4 of the canvas' shorter side (one sigma)
STRAY_FRACTION = 0.02  # a colour without a texture may cover this much (brush edges) unasked
MASK_SHAPES = ("halves", "quarters", "disc", "stripes")


def mask_labels(mask: Image.Image, count: int) -> torch.Tensor:
    """RGB mask -> (H, W) long labels in 0..count-1: each pixel goes to the texture whose colour
    (MASK_COLOURS) is nearest; unpainted pixels (UNPAINTED) to texture 1. A colour whose texture
    is missing is a ValueError, unless it only covers a sliver (anti-aliased brush edges)."""
    colours = [rgb for _, rgb in MASK_COLOURS] + list(UNPAINTED)
    owner = torch.tensor(list(range(MAX_TEXTURES)) + [0] * len(UNPAINTED))  # colour -> texture
    pixels = torch.from_numpy(np.asarray(mask.convert("RGB"), dtype=np.float32))  # (H, W, 3)
    distance = torch.cdist(pixels.reshape(-1, 3), torch.tensor(colours, dtype=torch.float32))
    nearest = owner[distance.argmin(dim=1)]
    used = torch.bincount(nearest, minlength=MAX_TEXTURES) / nearest.numel()
    for i in range(count, MAX_TEXTURES):
        if used[i] > STRAY_FRACTION:
            raise ValueError(
                f"The mask paints {used[i]:.0%} of the canvas {MASK_COLOURS[i][0]}, the colour of "
                f"texture {i + 1}, but only {count} texture{'s' * (count > 1)} given: add texture "
                f"{i + 1} or paint that area in another colour.")
    # strays and anti-aliasing fall to the nearest colour that has a texture
    allowed = owner < count
    distance[:, ~allowed] = float("inf")
    return owner[distance.argmin(dim=1)].reshape(mask.height, mask.width)


def region_weights(labels: torch.Tensor, count: int, shape: tuple[int, int], softness: float,
                   tileable: bool = False) -> torch.Tensor:
    """(H, W) labels -> (1, count, h, w) weights of each texture at the structure map's
    resolution, summing to one everywhere: region fractions per cell, blurred by `softness`
    (0: as sharp as a cell, 1: one sigma = MAX_BLUR of the shorter side)."""
    one_hot = F.one_hot(labels, count).permute(2, 0, 1)[None].float()  # (1, K, H, W)
    weights = F.interpolate(one_hot, size=shape, mode="area")  # (1, K, h, w)
    weights = gaussian_blur(weights, softness * MAX_BLUR * min(shape), tileable)
    return weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-8)


def painted_style(styles: torch.Tensor, weights: torch.Tensor,
                  centre: torch.Tensor) -> torch.Tensor:
    """Styles (K, D_w) and weights (1, K, h, w) -> a style map (1, D_w, h, w): at each place the
    spherical mix of the styles around the training mean `centre` (D_w,)."""
    k = styles.shape[0]
    sources = [styles[i][None, :, None, None] for i in range(k)]  # (1, D_w, 1, 1) each
    return _mix_styles(sources, [weights[:, i:i + 1] for i in range(k)],
                       centre[None, :, None, None])


def paint_code(structure: torch.Tensor, styles: torch.Tensor, labels: torch.Tensor,
               size: tuple[int, int], centre: torch.Tensor, softness: float,
               tileable: bool = False, donors: torch.Tensor | None = None) -> Code:
    """A layout (1, C_s, h, w) whose style follows the mask's regions -> the painted Code.
    `donors` (K, C_s, h', w'), the textures' own maps, give each region their grain where the
    layout is bare (`latent.with_texture`)."""
    weights = region_weights(labels, styles.shape[0], tuple(structure.shape[-2:]), softness,
                             tileable)
    if donors is not None:
        structure = with_texture(structure, list(donors.split(1)), list(weights.split(1, dim=1)))
    return Code(structure, painted_style(styles, weights, centre), size)


def example_mask(shape: str = "halves", side: int = 512, count: int = 2) -> Image.Image:
    """A starting mask of `count` (1-4) regions: halves (left/right), quarters, a disc on a
    background, or vertical stripes; colours as MASK_COLOURS."""
    if shape not in MASK_SHAPES:
        raise ValueError(f"shape must be one of {', '.join(MASK_SHAPES)}; got {shape!r}")
    count = max(1, min(MAX_TEXTURES, int(count)))
    ys, xs = np.mgrid[0:side, 0:side] / side  # [0, 1)
    if shape == "halves":
        labels = (xs >= 0.5).astype(int)
    elif shape == "quarters":  # four textures: one each; fewer: a checkerboard of them
        right, bottom = (xs >= 0.5).astype(int), (ys >= 0.5).astype(int)
        labels = right + 2 * bottom if count == 4 else right + bottom
    elif shape == "disc":
        labels = ((xs - 0.5) ** 2 + (ys - 0.5) ** 2 < 0.3 ** 2).astype(int)
    else:
        labels = (xs * 2 * count).astype(int)
    labels = labels % count
    palette = np.array([rgb for _, rgb in MASK_COLOURS], dtype=np.uint8)
    return Image.fromarray(palette[labels])


"""Style swaps on held-out images: how much of a look the style carries, and the grid picture.

A swap decodes A's layout in B's style, X = D(s_A, w_B), for pairs of *different* held-out images.
`evaluate_swaps` scores it against R = D(s_A, w_A), A's own reconstruction (measures defined in
`metrics`): transfer (patch statistics moved to B's), colour transfer (mean colour moved to B's)
and layout kept (X's edges where A's are). Beside it stands the no-model baseline: A's colour
channels matched to B's mean and spread in pixel space. `swap_grid` draws layouts as rows and
styles as columns, the picture people look at first (`python -m artvae grid`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.ops import borders
from artvae.ops.latent import Code, mix
from artvae.ops.metrics import (
    colour_transfer,
    fine_scale_contrast,
    layout_kept,
    match_colour,
    style_transfer,
)
from artvae.train.data import centre_crops

SIDE = 256


def swap_pairs(count: int, pairs: int) -> list[tuple[int, int]]:
    """Indices (layout, style) of `pairs` pairs of different images out of `count`: each image
    lends its layout to the one half the list away, so neighbours (often one source) never pair."""
    if count < 2:
        raise ValueError("style swaps need at least two images")
    shift = max(1, count // 2)
    return [(i, (i + shift) % count) for i in range(min(pairs, count))]


@torch.inference_mode()
def swap_codes(model: ArtVAE, layouts: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (N, 3, H, W) x2 -> each layout in its partner's style, in [0, 1], made as
    Mix makes it (`latent.mix`, layout from the first): D(s_layout, w_style), with the style
    source's grain where the layout is bare."""
    codes = [Code.full_size(q_s.mode(), q_w.mode(), encoded=True) for q_s, q_w in
             (model.encode(ArtVAE.to_model_range(x)) for x in (layouts, styles))]
    made = mix(codes, [0.0, 1.0], 0, model.style_mean)
    return borders.decode(model, made)


def _summary(values: torch.Tensor) -> dict[str, float]:
    return {"mean": round(values.mean().item(), 3), "median": round(values.median().item(), 3)}


@torch.inference_mode()
def evaluate_swaps(model: ArtVAE, images: list[torch.Tensor], pairs: int = 24,
                   batch: int = 8) -> dict:
    """Transfer, colour transfer and layout kept of the model's swaps and of the pixel
    colour-matching baseline, over `pairs` pairs of different images ((3, H, W) uint8)."""
    device = next(model.parameters()).device
    crops = centre_crops(images, SIDE)
    index = swap_pairs(len(crops), pairs)
    a = crops[[i for i, _ in index]]
    b = crops[[j for _, j in index]]
    swapped, recon = [], []
    for x, y in zip(a.split(batch), b.split(batch), strict=True):
        x, y = x.to(device), y.to(device)
        swapped.append(swap_codes(model, x, y).cpu())
        recon.append(model.reconstruct(x).cpu())
    swapped, recon = torch.cat(swapped), torch.cat(recon)
    matched = match_colour(a, b)
    return {
        "pairs": len(index),
        "model": {
            "transfer": _summary(style_transfer(swapped, recon, b)),
            "colour_transfer": _summary(colour_transfer(swapped, recon, b)),
            "layout_kept": _summary(layout_kept(swapped, a)),
            "layout_kept_reconstruction": _summary(layout_kept(recon, a)),
        },
        # no model: R is A itself, X is A recoloured to B's channel statistics
        "colour_matching": {
            "transfer": _summary(style_transfer(matched, a, b)),
            "colour_transfer": _summary(colour_transfer(matched, a, b)),
            "layout_kept": _summary(layout_kept(matched, a)),
        },
    }


@torch.inference_mode()
def swap_grid(model: ArtVAE, layouts: torch.Tensor, styles: torch.Tensor,
              side: int = 192, gap: int = 4) -> torch.Tensor:
    """The picture of the latent: a corner cell, then the style sources along the top and the
    layout sources down the left; cell (i, j) is layout i in style j. (3, H, W) in [0, 1]."""
    device = next(model.parameters()).device
    layouts = centre_crops_of(layouts, side).to(device)
    styles = centre_crops_of(styles, side).to(device)
    rows, cols = len(layouts), len(styles)
    canvas = torch.ones(3, (rows + 1) * (side + gap) - gap, (cols + 1) * (side + gap) - gap)

    def put(image: torch.Tensor, row: int, col: int) -> None:
        top, left = row * (side + gap), col * (side + gap)
        canvas[:, top : top + side, left : left + side] = image.cpu()

    for j, style in enumerate(styles):
        put(style, 0, j + 1)
    for i, layout in enumerate(layouts):
        put(layout, i + 1, 0)
        cells = swap_codes(model, layout[None].expand(cols, -1, -1, -1), styles)
        for j, cell in enumerate(cells):
            put(cell, i + 1, j + 1)
    return canvas


def centre_crops_of(images: torch.Tensor, side: int) -> torch.Tensor:
    """Centre crops (N, 3, side, side) of a batch that is at least that large."""
    h, w = images.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return images[..., top : top + side, left : left + side]


def grid_from_folder(model: ArtVAE, images: list[torch.Tensor], out: Path, layouts: int = 4,
                     styles: int = 4, side: int = 192, smooth: bool = False) -> Path:
    """Draw `swap_grid` from held-out images ((3, H, W) uint8): layouts from the first half of
    the list, styles from the second half, evenly spaced (`smooth`: the smoothest images as
    layouts, the most detailed as styles); saved as a PNG."""
    from artvae.ops.images import save_picture, tensor_to_image

    crops = centre_crops(images, 256)
    half = len(crops) // 2
    if half < max(layouts, styles):
        raise ValueError(f"a {layouts}x{styles} grid needs {2 * max(layouts, styles)} images, "
                         f"found {len(crops)}")
    if smooth:  # the case that once drew a waffle: the least detailed layouts, grainiest styles
        order = fine_scale_contrast(crops).argsort()
        pick_l, pick_s = order[:layouts], order.flip(0)[:styles]
    else:
        pick_l = torch.linspace(0, half - 1, layouts).round().long()
        pick_s = torch.linspace(half, len(crops) - 1, styles).round().long()
    grid = swap_grid(model, crops[pick_l], crops[pick_s], side)
    save_picture(tensor_to_image(grid), out)
    return Path(out)

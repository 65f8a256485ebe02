"""The lattice check: does a style render as texture, or as a grid of the decoder's 8-px cells?

A textured style (wood, grass, metal) on a smooth layout (a sky, a soft gradient, a painting) once
came out as a waffle at the decoder's cell spacing. The swap measures (transfer, colour, layout)
did not see it: a waffle's patch statistics are close enough to wood's. `metrics.lattice_score`
does: the share of a rendering's fine detail on the 8-px grid's harmonics over its style
source's (1 = as much grid as the style itself). Scored here for every way a look is rendered:
swaps between each pair of source groups (layouts of one group in styles of another, as Mix
does them), Blend's `style` and `spatial` modes halfway, and the grid share of seeded samples
and variations beside the held-out textures'.
"""

from __future__ import annotations

from itertools import product

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.ops.generate import sample_code, variation_code
from artvae.ops.latent import Code, blend, mix
from artvae.ops.metrics import edge_step, grid_share, lattice_score
from artvae.train.data import centre_crops

from .samples import decode_codes, encode_codes

SIDE = 256


def pair_indices(layouts: int, styles: int, count: int, same: bool) -> list[tuple[int, int]]:
    """`count` (layout, style) index pairs spread over both lists; within one list (`same`)
    the style is taken half the list away, so an image is never its own style."""
    count = min(count, layouts)
    picks = torch.linspace(0, layouts - 1, count).round().long().tolist()
    shift = styles // 2 if same else 0
    return [(i, (7 * i + 3 + shift) % styles) for i in picks
            if not (same and (7 * i + 3 + shift) % styles == i)]


def _summary(scores: torch.Tensor) -> dict[str, float]:
    return {"pairs": len(scores), "median": round(scores.median().item(), 2),
            "p90": round(scores.quantile(0.9).item(), 2), "max": round(scores.max().item(), 2)}


@torch.inference_mode()
def swap_lattice(model: ArtVAE, layouts: list[Code], styles: list[Code],
                 layout_images: torch.Tensor, style_images: torch.Tensor,
                 index: list[tuple[int, int]]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lattice scores of layout i in style j for each (i, j) of `index`, made as Mix makes
    them (`latent.mix` with the layout from the first code), over the style source's grid
    share and over the grainier source's (as blends are scored: a detailed layout in a near-flat
    style keeps its own detail, which the first counts as grid), and how much of a frame each
    has (`edge_step`, about 1: edges drawn like the inside): three (len(index),)."""
    made = decode_codes(model, [mix([layouts[i], styles[j]], [0.0, 1.0], 0,
                                    model.style_mean.cpu()) for i, j in index])
    style = style_images[[j for _, j in index]]
    layout = layout_images[[i for i, _ in index]]
    return lattice_score(made, style), lattice_score(made, style, layout), edge_step(made)


@torch.inference_mode()
def blend_lattice(model: ArtVAE, codes: list[Code], images: torch.Tensor, mode: str,
                  index: list[tuple[int, int]], t: float = 0.5) -> torch.Tensor:
    """Lattice scores of Blend frames A -> B at `t` in `mode`, each against the grid share of
    the grainier of its two sources: (len(index),)."""
    made = [blend(codes[i], codes[j], t, mode, model.style_mean.cpu()) for i, j in index]
    return lattice_score(decode_codes(model, made), images[[i for i, _ in index]],
                         images[[j for _, j in index]])


@torch.inference_mode()
def generated_grid_share(model: ArtVAE, textures: torch.Tensor, count: int = 32) -> dict:
    """Median and largest grid share of `count` seeded samples (seeds 0 ...) and of one
    variation of each of the first `count` held-out textures, beside the textures' own."""
    codes = encode_codes(model, textures[:count])
    made = {"held_out_textures": textures[:count]}
    if model.prior is not None:
        made["samples"] = decode_codes(model, [sample_code(model, s, (SIDE, SIDE))
                                               for s in range(count)])
        made["variations"] = decode_codes(model, [variation_code(model, c, seed)
                                                  for seed, c in enumerate(codes)])
    return {name: {"median": round(grid_share(x).median().item(), 4),
                   "max": round(grid_share(x).max().item(), 4)} for name, x in made.items()}


def evaluate_lattice(model: ArtVAE, groups: dict[str, list[torch.Tensor]],
                     pairs: int = 32) -> dict:
    """The lattice check on held-out images by source group ((3, H, W) uint8 each): swaps for
    every (layout group, style group), blends (`style`, `spatial`, t = 0.5) over all images, and
    the grid share of samples and variations (those of the "textures" group, or of all)."""
    crops = {name: centre_crops(images, SIDE) for name, images in groups.items()}
    codes = {name: encode_codes(model, x) for name, x in crops.items()}
    swaps = {}
    for lg, sg in product(crops, crops):
        index = pair_indices(len(crops[lg]), len(crops[sg]), pairs, same=lg == sg)
        scores, grainier, frames = swap_lattice(model, codes[lg], codes[sg], crops[lg],
                                                crops[sg], index)
        swaps[f"{lg} layouts x {sg} styles"] = {**_summary(scores), "grainier": _summary(grainier),
                                                "edge_step": _summary(frames)}
    everything = torch.cat(list(crops.values()))
    all_codes = [c for name in crops for c in codes[name]]
    index = pair_indices(len(everything), len(everything), pairs, same=True)
    blends = {f"blend_{mode}": _summary(blend_lattice(model, all_codes, everything, mode, index))
              for mode in ("style", "spatial")}
    textures = crops.get("textures", everything)
    return {"swaps": swaps, **blends, "grid_share": generated_grid_share(model, textures),
            "edge_step_held_out": _summary(edge_step(everything))}

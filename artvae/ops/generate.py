"""New codes from a model: seeded textures, variations of an image, larger canvases.

Each function takes the model and returns a `Code` (on the CPU) for the engine to decode. With a
learned prior (`prior.py`) layouts are drawn from it; weights without one fall back to
random-phase fields of the stored training maps, which repeat those maps' spectra. A larger
canvas of an image quilts its own layout (`expanded`). Seeds are
reproducible: every random draw comes from one generator seeded by the caller.
"""

from __future__ import annotations

import torch

from artvae.model.autoencoder import DOWNSCALE, ArtVAE, normalise_over_space
from artvae.model.prior import padded_side, vary_structure

from . import latent
from .latent import Code

SAMPLE_STRENGTH = 0.5  # of a seeded sample's quilted start that the prior redraws
# of a variation's quilt of the upload's map that the prior redraws; 0.6, the default until
# stop 34, blurred mortar lines, cell walls and cracks into grain (the card has the figures)
VARIATION_STRENGTH = 0.3


def map_shape(size: tuple[int, int]) -> tuple[int, int]:
    """Image (H, W) -> structure map (h, w), rounding up (the decode crops back)."""
    return -(-size[0] // DOWNSCALE), -(-size[1] // DOWNSCALE)


def _explore(model: ArtVAE, coords: list[float]) -> torch.Tensor:
    """(1, D_w) style at `coords` along the principal training-style directions."""
    k = model.style_basis.shape[0]
    coords = torch.tensor([list(coords)], dtype=torch.float32)
    coords = torch.nn.functional.pad(coords, (0, max(0, k - coords.shape[1])))[:, :k]
    return latent.explore(model.style_mean.cpu()[None], model.style_basis.cpu(),
                          model.style_spread.cpu(), coords)


@torch.inference_mode()
def sample_code(model: ArtVAE, seed: int, size: tuple[int, int], temperature: float = 1.0,
                coords: list[float] | None = None, fast: bool = False,
                offsets: list[float] | None = None) -> Code:
    """A seeded texture's code: a style (from the seed, or at `coords` along the explore
    directions) and a layout drawn for it by the prior from a quilt of one of the stored
    training maps, SAMPLE_STRENGTH of it redrawn (`fast`, or no prior: a random-phase field of
    a stored training map). `offsets` then move the style along the explore
    directions (in training spreads) and leave the layout alone: the playground's sliders
    nudge the sample a person picked."""
    generator = torch.Generator().manual_seed(int(seed))
    if model.prior is None or fast:
        code = latent.sample(model.structure_bank.cpu(), model.style_mean.cpu(),
                             model.style_basis.cpu(), model.style_spread.cpu(), size, generator,
                             temperature)
        style = code.style if coords is None else _explore(model, coords)
        return Code(code.structure, _nudged(model, style, offsets), size)
    style = model.prior.draw_styles(1, generator, temperature).cpu()
    if coords is not None:
        style = _explore(model, coords)
    device = model.prior.style_bank.device
    h, w = map_shape(size)
    # the prior alone draws blotchy grain: it starts from one of the stored training maps
    # quilted into a new arrangement, and redraws half of it (SDEdit) for the style
    spot = model.structure_bank[int(torch.randint(len(model.structure_bank), (1,),
                                                  generator=generator))].cpu()
    start = latent.quilt(spot, (padded_side(h), padded_side(w)), generator)
    structure = vary_structure(model.prior, normalise_over_space(start).to(device),
                               style.to(device), SAMPLE_STRENGTH, generator,
                               temperature=temperature)[..., :h, :w]
    return Code(normalise_over_space(structure.float()).cpu(), _nudged(model, style, offsets),
                size)


def _nudged(model: ArtVAE, style: torch.Tensor, offsets: list[float] | None) -> torch.Tensor:
    """(1, D_w) style moved by `offsets` along the explore directions (None: as it is)."""
    if not offsets:
        return style
    return style + _explore(model, offsets) - model.style_mean.cpu()[None]


@torch.inference_mode()
def variation_code(model: ArtVAE, code: Code, seed: int, size: tuple[int, int] | None = None,
                   strength: float = VARIATION_STRENGTH) -> Code:
    """A new arrangement of `code`'s kind of layout in its style, at `size` (default: the
    code's): its map quilted afresh on the output's canvas (`latent.quilt`: its own pieces,
    so bricks stay bricks), then carried by the prior from time 1 - strength (no prior: the
    quilt alone). A random-phase start, tried first, kept the map's spectrum but lost its
    shapes: brick walls came back as a red weave."""
    size = size or code.size
    h, w = map_shape(size)
    generator = torch.Generator().manual_seed(int(seed))
    if model.prior is None:
        return Code(latent.quilt(code.structure[0], (h, w), generator), code.style, size)
    canvas = (padded_side(h), padded_side(w))
    start = normalise_over_space(latent.quilt(code.structure[0], canvas, generator))
    device = model.prior.style_bank.device
    style = code.style if code.style.dim() == 2 else code.style.mean(dim=(2, 3))
    structure = vary_structure(model.prior, start.to(device), style.to(device), strength,
                               generator)
    return Code(normalise_over_space(structure.float()[..., :h, :w]).cpu(), code.style, size)


def expanded(model: ArtVAE, code: Code, size: tuple[int, int], seed: int = 0) -> Code:
    """`code` on a canvas of `size`: its own layout where the canvas is not larger; where it
    is, its layout quilted over the canvas (`latent.quilt`): its own pieces, rearranged
    afresh for each seed and joined where they continue each other, wrapping around, so
    brick courses and weaves stay whole and nothing repeats as a tile or mirror would."""
    if size[0] <= code.size[0] and size[1] <= code.size[1]:
        return latent.resize(code, size)
    generator = torch.Generator().manual_seed(int(seed))
    structure = latent.quilt(code.structure[0], map_shape(size), generator)
    if model.config.structure_norm:
        structure = normalise_over_space(structure)
    # a spatial style map (B, D_w, h0, w0) is stretched over the canvas by the decoder
    return Code(structure.to(code.structure), code.style, size)

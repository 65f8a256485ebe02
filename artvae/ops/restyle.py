"""Restyling: named edits of a code's look, and an image's layout in another image's style.

The style controls (brightness, contrast, saturation, warmth, grain; `artvae.model.controls`)
move a code's style, and `scale` resamples its structure map. Pure functions from a code to a
code, like `latent`; every playground operation applies them last, to the code it is about to
decode. Amounts are in the controls' units: 0 as it is, +-1 a clear step, +-CONTROL_RANGE the
slider's end. `scale` 2 draws the pattern's features twice as big, 0.5 half as big. Bigger: the
map is zoomed and cut to the canvas (a tile: laid over it by `latent.quilt`, which wraps
around, so it stays seamless). Smaller: features finer than the map's 8 px cell cannot be
drawn from the map, so the pattern is laid over a canvas 2 or 4 times as big (repeated where it
tiles, else quilted), decoded, and averaged back down (`rescaled`, `shrunk_back`).

`restyled` is the whole restyle of a batch of codes: their styles moved `strength` of the way
to a style image's (a style swap at 1), then the named edits. `wrapped_codes` encodes images
that tile seamlessly so that their codes wrap around too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from artvae.model.autoencoder import DOWNSCALE, ArtVAE, normalise_over_space
from artvae.model.controls import StyleControls

from . import latent
from .latent import Code

CONTROL_RANGE = 3.0  # the sliders' end, in control units
SCALE_RANGE = (0.25, 4.0)  # pattern scale: a quarter to four times the features' size
SCALE_SEED = 0  # the quilt that lays a rescaled map over a canvas: the same result every time
WRAP = 32  # pixels of wrap-around padding for a tileable encode (4 map cells)
MAX_RENDER_PIXELS = 2048 * 2048  # a pattern made smaller is decoded this big at most


NO_CONTROLS = ("these weights carry no named style controls (brightness, contrast, saturation, "
               "warmth, grain): learn them with `python -m artvae controls --weights FOLDER "
               "--data CORPUS`")


def check_edits(controls: StyleControls | None, amounts: dict[str, float] | None,
                scale: float = 1.0) -> None:
    """ValueError unless every amount names one of the controls and lies within
    +-CONTROL_RANGE, and `scale` within SCALE_RANGE."""
    low, high = SCALE_RANGE
    if not low <= float(scale) <= high:
        raise ValueError(f"scale must be between {low} and {high}; got {scale}")
    amounts = {k: float(v) for k, v in (amounts or {}).items() if float(v) != 0.0}
    if amounts and controls is None:
        raise ValueError(NO_CONTROLS)
    for name, amount in amounts.items():
        if name not in controls.names:
            raise ValueError(f"no style control called {name!r}: use "
                             f"{', '.join(controls.names)} or scale")
        if abs(amount) > CONTROL_RANGE:
            raise ValueError(f"{name} must be between -{CONTROL_RANGE:g} and "
                             f"{CONTROL_RANGE:g}; got {amount:g}")


def edit_style(style: torch.Tensor, controls: StyleControls | None,
               amounts: dict[str, float]) -> torch.Tensor:
    """Styles (B, D_w) or a style map (B, D_w, h, w) moved by `amounts` of the named controls
    (each step taken from the style as given, so the order does not matter)."""
    check_edits(controls, amounts)
    amounts = {k: float(v) for k, v in amounts.items() if float(v) != 0.0}
    if not amounts:
        return style
    flat = style.movedim(1, -1) if style.dim() == 4 else style  # (..., D_w)
    moved = flat + sum(controls.step(flat.reshape(-1, flat.shape[-1]), name, amount)
                       .reshape(flat.shape) for name, amount in amounts.items())
    return moved.movedim(-1, 1) if style.dim() == 4 else moved


def _zoomed(structure: torch.Tensor, factor: float, tileable: bool) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, ~h*factor, ~w*factor), bilinear; a tileable map wraps around at
    its edges while it is resampled (its last column leads into its first)."""
    h, w = structure.shape[-2:]
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    if not tileable:
        return F.interpolate(structure, size=size, mode="bilinear", align_corners=False)
    pad = 2  # cells of wrap-around each side: more than bilinear reaches
    scales = (size[0] / h, size[1] / w)
    big = F.interpolate(F.pad(structure, (pad,) * 4, mode="circular"), scale_factor=scales,
                        mode="bilinear", align_corners=False, recompute_scale_factor=False)
    top, left = round(pad * scales[0]), round(pad * scales[1])
    return big[..., top:top + size[0], left:left + size[1]]


def rescale_structure(structure: torch.Tensor, factor: float, tileable: bool = False,
                      normalise: bool = True) -> torch.Tensor:
    """The layout map (B, C, h, w) with its features `factor` times as big, on the same canvas
    (see the module's docstring); `normalise`: each channel back to zero mean and unit spread
    over space (as the encoder makes maps), which resampling nudges."""
    check_edits(None, None, factor)
    if factor == 1.0:
        return structure
    h, w = structure.shape[-2:]
    zoomed = _zoomed(structure, factor, tileable)
    zh, zw = zoomed.shape[-2:]
    if zh >= h and zw >= w and not tileable:
        top, left = (zh - h) // 2, (zw - w) // 2
        out = zoomed[..., top:top + h, left:left + w]
    elif tileable and h % zh == 0 and w % zw == 0:
        out = zoomed.repeat(1, 1, h // zh, w // zw)
    else:
        out = torch.cat([latent.quilt(one, (h, w), torch.Generator().manual_seed(SCALE_SEED))
                         for one in zoomed.float()]).to(structure)
    return normalise_over_space(out) if normalise else out


def render_factor(factor: float, size: tuple[int, int],
                  max_pixels: int = MAX_RENDER_PIXELS) -> int:
    """How many times bigger (a power of two) a canvas of `size` is decoded, then averaged
    back down, to draw its pattern `factor` (< 1) times as big: features smaller than the
    map's cell (8 px) can only be drawn that way. At most `max_pixels` are decoded."""
    n = 1
    while factor * n < 1 - 1e-6 and (2 * n) ** 2 * size[0] * size[1] <= max_pixels:
        n *= 2
    return n


def _laid_out(structure: torch.Tensor, shape: tuple[int, int], tileable: bool) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, *shape), the same pattern at the same size over a bigger
    canvas: repeated where it tiles (and the canvas is a whole number of it), else quilted."""
    h, w = structure.shape[-2:]
    if tileable and shape[0] % h == 0 and shape[1] % w == 0:
        return structure.repeat(1, 1, shape[0] // h, shape[1] // w)
    return torch.cat([latent.quilt(one, shape, torch.Generator().manual_seed(SCALE_SEED))
                      for one in structure.float()]).to(structure)


def rescaled(code: Code, factor: float, tileable: bool = False, normalise: bool = True,
             max_pixels: int = MAX_RENDER_PIXELS) -> tuple[Code, int]:
    """(the code to decode, `render`): `code`'s pattern drawn `factor` times as big. Above 1
    (or where `max_pixels` stops it) its map is resampled (`rescale_structure`); below 1 the
    pattern is laid over a canvas `render` times as big, to be decoded and averaged back down
    `render` times (`shrunk_back`), which makes the grain finer too, as a zoom out does."""
    check_edits(None, None, factor)
    render = render_factor(factor, code.size, max_pixels)
    structure = code.structure
    if render > 1:
        h, w = structure.shape[-2:]
        structure = _laid_out(structure, (h * render, w * render), tileable)
        if normalise and factor * render == 1.0:
            structure = normalise_over_space(structure)  # a quilt moves the map's statistics
    structure = rescale_structure(structure, factor * render, tileable, normalise)
    if structure is code.structure:
        return code, 1
    size = (code.size[0] * render, code.size[1] * render)
    return Code(structure, code.style, size), render


def shrunk_back(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images (B, 3, H', W') decoded on a canvas bigger than `size` (`rescaled`), averaged
    down to it (box filter: a tile stays seamless)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.adaptive_avg_pool2d(x, size)


def edited(code: Code, controls: StyleControls | None, amounts: dict[str, float] | None = None,
           scale: float = 1.0, tileable: bool = False, normalise: bool = True
           ) -> tuple[Code, int]:
    """(the code with its style moved by `amounts` of the named controls and its pattern
    drawn `scale` times as big, `render`: see `rescaled`); the same code and 1 when there is
    nothing to do."""
    style = edit_style(code.style, controls, amounts or {})
    if style is not code.style:
        code = Code(code.structure, style, code.size)
    return rescaled(code, float(scale), tileable, normalise)


def restyled(code: Code, style: Code | None, strength: float, controls: StyleControls | None,
             amounts: dict[str, float] | None = None, scale: float = 1.0,
             tileable: bool = False, centre: torch.Tensor | None = None,
             normalise: bool = True) -> tuple[Code, int]:
    """Codes (B, ...) restyled: their styles `strength` (0-1) of the way to `style`'s (one
    image's code; None: their own; a mix as `latent.mix` makes it, around `centre`), then
    the named edits (`edited`: the code and its `render`). Their layouts stay."""
    if style is not None and strength > 0:
        code = latent.mix([code, style], [1.0 - strength, strength], 0, centre)
    return edited(code, controls, amounts, scale, tileable, normalise)


def wrapped_codes(model: ArtVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (structure, style) of images (B, 3, H, W) in [-1, 1] (H, W multiples
    of 8) encoded as tiles: padded with WRAP pixels of their own wrap-around, the map's border
    cut off again, so the map's edges continue each other and a tileable decode shows no seam
    (zero padding left the encoder guessing at the edges: seams up to 10x the inner steps)."""
    cells = WRAP // DOWNSCALE
    q_s, q_w = model.encode(F.pad(x, (WRAP,) * 4, mode="circular"))
    return q_s.mode()[..., cells:-cells, cells:-cells], q_w.mode()

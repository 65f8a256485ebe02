"""Style palettes: four corner textures and a grid of blends between them.

Cell (r, c) of a rows x cols palette mixes the corners with bilinear weights (`corner_weights`,
corners in reading order: top-left, top-right, bottom-left, bottom-right). Each cell is what Mix
makes of the four textures with those weights and the layouts blended ("Blend all"), on a
cell-sized canvas: styles mixed spherically, layouts averaged with their spread kept
(`latent.mix`). So a corner cell is that corner texture's reconstruction, and a clicked cell
opens in Mix as it looks here. Pure maths over codes and images; the operation as the app, the
web API and the CLI ask for it (values checked, the engine's codes, the sheet with its recipe) is
`artvae.serve.playground.palette`.
"""

from __future__ import annotations

import torch
from PIL import Image

from . import latent
from .latent import Code

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
MIN_GRID, MAX_GRID = 2, 8  # cells per side
MIN_CELL, MAX_CELL = 32, 512  # cell side in pixels
CELL_SLIDER = (64, 256, 32)  # the Palette tab's cell slider: min, max, step (Restore fits to it)
MAX_PALETTE_PIXELS = 8 * 1024 * 1024  # all the cells together: 5x5 of 512 px; bounded work
DECODE_BATCH = 8  # cells decoded at once
GAP = 4  # pixels between cells on the sheet
GAP_COLOUR = (245, 245, 245)


def corner_weights(rows: int, cols: int) -> list[list[float]]:
    """Bilinear weights (top-left, top-right, bottom-left, bottom-right) of every cell, row by
    row: each sums to one, and the corner cells are one-hot."""
    cells = []
    for r in range(rows):
        v = r / (rows - 1)
        for c in range(cols):
            u = c / (cols - 1)
            cells.append([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v])
    return cells


def palette_codes(corners: list[Code], weights: list[list[float]],
                  centre: torch.Tensor) -> Code:
    """Four codes on one canvas and N weight rows -> one batched Code of the N cells: each the
    Mix of the corners with its weights, layouts blended (structure (N, C_s, h, w), style
    (N, D_w))."""
    cells = [latent.mix(corners, w, structure_from=None, style_centre=centre) for w in weights]
    return Code(torch.cat([c.structure for c in cells]), torch.cat([c.style for c in cells]),
                corners[0].size, all(c.encoded for c in cells))


def sheet(cells: list[Image.Image], cols: int, gap: int = GAP) -> Image.Image:
    """Cells (all one size) in a grid of `cols` columns, `gap` pixels apart."""
    w, h = cells[0].size
    rows = -(-len(cells) // cols)
    out = Image.new("RGB", (cols * w + (cols - 1) * gap, rows * h + (rows - 1) * gap),
                    GAP_COLOUR)
    for i, cell in enumerate(cells):
        out.paste(cell, ((i % cols) * (w + gap), (i // cols) * (h + gap)))
    return out


def caption(weights: list[float]) -> str:
    """A cell's weights in per cent, corners in reading order: "56 · 19 · 19 · 6 %"."""
    return " · ".join(f"{100 * w:.0f}" for w in weights) + " %"

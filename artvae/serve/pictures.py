"""Pictures that help a person read a code or a result: the structure map in false colour, the
style as a bar chart, and a 2x2 tiled copy that shows seams (or their absence).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw


def tiled(image: Image.Image, max_side: int = 1024) -> Image.Image:
    """Four copies in a 2x2 grid, so seams (or their absence) show; at most `max_side` wide."""
    grid = Image.new("RGB", (2 * image.width, 2 * image.height))
    for x in (0, image.width):
        for y in (0, image.height):
            grid.paste(image, (x, y))
    scale = min(1.0, max_side / max(grid.size))
    if scale < 1.0:
        grid = grid.resize((round(grid.width * scale), round(grid.height * scale)),
                           Image.Resampling.BOX)
    return grid


def structure_picture(structure: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """(1, C_s, h, w) structure map -> false colour (its first three principal components as
    R, G, B, each stretched to its 2nd..98th percentile), blown up to `size` (W, H)."""
    c, h, w = structure.shape[1:]
    x = structure[0].float().reshape(c, h * w).T  # (hw, C_s)
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    comps = x @ v[:3].T  # (hw, <=3)
    comps = torch.cat([comps, comps.new_zeros(h * w, 3 - comps.shape[1])], 1)
    low, high = torch.quantile(comps, 0.02, dim=0), torch.quantile(comps, 0.98, dim=0)
    rgb = ((comps - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)
    pixels = (rgb.reshape(h, w, 3) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels).resize((w * 8, h * 8), Image.Resampling.NEAREST).crop(
        (0, 0, *size))


def style_chart(style: list[float], height: int = 120, bar: int = 6) -> Image.Image:
    """A bar per style dimension (offset from the average training style): up is positive."""
    values = np.asarray(style, dtype=np.float64)
    top = max(float(np.abs(values).max()), 1e-6)
    chart = Image.new("RGB", (max(64, bar * len(values)), height), (250, 250, 250))
    draw, mid = ImageDraw.Draw(chart), height // 2
    for i, v in enumerate(values):
        end = mid - round(v / top * (mid - 4))
        colour = (214, 96, 77) if v >= 0 else (67, 147, 195)
        draw.rectangle((i * bar + 1, min(mid, end), (i + 1) * bar - 1, max(mid, end)), colour)
    draw.line((0, mid, chart.width, mid), (90, 90, 90))
    return chart

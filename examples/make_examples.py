"""Generate the example textures of the app's gallery: procedural, seamless, CC0.

    python examples/make_examples.py            # rewrites examples/*.png

Each texture is a pure function of a fixed seed (numpy's PCG64), drawn on a 256x256 torus so it
tiles without a seam. Only numpy and Pillow are needed; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 256
HERE = Path(__file__).resolve().parent


def fractal_noise(rng: np.random.Generator, size: int = SIZE, beta: float = 2.2,
                  stretch: float = 1.0) -> np.ndarray:
    """Seamless 1/f^beta noise in [0, 1], (size, size): white noise shaped in Fourier space;
    `stretch` > 1 draws it out along y (wood fibres)."""
    f = np.fft.fftfreq(size)
    radius = np.sqrt((stretch * f[:, None]) ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((size, size))) / radius ** (beta / 2)
    spectrum[0, 0] = 0.0
    noise = np.fft.ifft2(spectrum).real
    return (noise - noise.min()) / (noise.max() - noise.min())


def grid(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) pixel coordinates in [0, 1), (size, size) each."""
    t = np.arange(size) / size
    return np.meshgrid(t, t, indexing="ij")


def colourise(value: np.ndarray, dark: tuple, light: tuple) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8, linear between two RGB colours."""
    dark, light = np.array(dark, np.float64), np.array(light, np.float64)
    rgb = dark + np.clip(value, 0, 1)[..., None] * (light - dark)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def bricks(rng: np.random.Generator) -> np.ndarray:
    y, x = grid()
    rows = 8
    row = np.floor(y * rows)
    u = (x * 4 + 0.5 * (row % 2)) % 1.0  # half-brick offset every other row
    v = (y * rows) % 1.0
    mortar = (np.minimum(u, 1 - u) < 0.04) | (np.minimum(v, 1 - v) < 0.08)
    brick_id = (row * 4 + np.floor(x * 4 + 0.5 * (row % 2))) % 32
    shade = rng.uniform(0.55, 1.0, 32)[brick_id.astype(int)]
    grain = fractal_noise(rng, beta=1.6)
    rgb = colourise(shade * (0.75 + 0.25 * grain), (60, 20, 10), (190, 80, 50))
    rgb[mortar] = colourise(0.6 + 0.4 * grain, (120, 115, 105), (200, 195, 185))[mortar]
    return rgb


def wood(rng: np.random.Generator) -> np.ndarray:
    _, x = grid()
    warp = fractal_noise(rng, beta=4.0, stretch=6.0)
    rings = np.sin(2 * np.pi * (5 * x + 2.5 * warp)) * 0.5 + 0.5
    fibre = fractal_noise(rng, beta=1.5, stretch=12.0)
    return colourise(0.6 * rings**2 + 0.3 * fibre + 0.05, (90, 50, 20), (220, 160, 95))


def marble(rng: np.random.Generator) -> np.ndarray:
    y, x = grid()
    turbulence = fractal_noise(rng, beta=3.6)
    veins = np.abs(np.sin(np.pi * (2 * x + 3 * y + 4.0 * turbulence)))
    cloud = fractal_noise(rng, beta=2.8)
    return colourise(0.8 * veins**0.3 + 0.2 * cloud, (40, 45, 60), (235, 235, 240))


def woven(rng: np.random.Generator) -> np.ndarray:
    y, x = grid()
    n = 16  # threads per side
    over = (np.floor(x * n) + np.floor(y * n)) % 2 == 0
    across = np.sin(np.pi * ((y * n) % 1.0)) ** 0.5  # thread profile
    along = np.sin(np.pi * ((x * n) % 1.0)) ** 0.5
    fuzz = fractal_noise(rng, beta=1.0)
    warp_rgb = colourise(across * (0.8 + 0.2 * fuzz), (20, 30, 70), (70, 110, 200))
    weft_rgb = colourise(along * (0.8 + 0.2 * fuzz), (80, 60, 20), (230, 200, 120))
    return np.where(over[..., None], warp_rgb, weft_rgb)


def stripes(rng: np.random.Generator) -> np.ndarray:
    y, x = grid()
    wobble = fractal_noise(rng, beta=3.2)
    phase = 5 * (x + y) + 0.6 * wobble  # diagonal, 5 periods: seamless
    band = np.floor(phase * 3) % 3
    palette = np.array([(230, 90, 70), (250, 215, 140), (40, 120, 130)], np.uint8)
    rgb = palette[band.astype(int)].astype(np.float64)
    rgb *= 0.9 + 0.1 * fractal_noise(rng, beta=1.5)[..., None]
    return rgb.astype(np.uint8)


def cells(rng: np.random.Generator) -> np.ndarray:
    y, x = grid()
    points = rng.uniform(0, 1, (24, 2))
    d = np.full((SIZE, SIZE, 2), np.inf)  # nearest and second nearest distances on the torus
    for py, px in points:
        dy = np.abs(y - py)
        dx = np.abs(x - px)
        dist = np.hypot(np.minimum(dy, 1 - dy), np.minimum(dx, 1 - dx))
        d[..., 1] = np.where(dist < d[..., 0], d[..., 0], np.minimum(d[..., 1], dist))
        d[..., 0] = np.minimum(d[..., 0], dist)
    edge = np.clip((d[..., 1] - d[..., 0]) * 12, 0, 1)
    return colourise(edge * (0.8 + 0.2 * fractal_noise(rng)), (20, 60, 20), (140, 200, 90))


TEXTURES = {"bricks": bricks, "wood": wood, "marble": marble, "woven": woven,
            "stripes": stripes, "cells": cells}


def main() -> None:
    for seed, (name, draw) in enumerate(TEXTURES.items()):
        path = HERE / f"{name}.png"
        Image.fromarray(draw(np.random.default_rng(seed))).save(path, optimize=True)
        print(f"{path.name}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

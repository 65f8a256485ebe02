"""The lattice check: the grid measure reads what it claims, and on the bundled weights a
textured style on a smooth layout renders as texture, not as a grid of the decoder's 8-px cells."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from artvae.measure.lattice import pair_indices
from artvae.ops.images import image_to_tensor, load_image
from artvae.ops.metrics import edge_step, grid_share, lattice_score
from artvae.serve.engine import Engine
from artvae.train.losses import lattice_loss

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def noise(seed: int = 0, side: int = 128) -> torch.Tensor:
    """(1, 3, side, side) smooth-ish random texture in [0, 1]: no preferred period."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, side // 2, side // 2, generator=g)
    x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear")
    return x.expand(1, 3, side, side).clone()


def waffle(side: int = 128, strength: float = 0.2) -> torch.Tensor:
    """(1, 3, side, side) a grid of 8-px cells: a bright line at the edge of every cell."""
    t = torch.arange(side)
    lines = ((t % 8) == 0).float()
    grid = torch.maximum(lines[:, None], lines[None, :])
    return (0.4 + strength * grid).expand(1, 3, side, side).clone()


def test_grid_share_is_low_for_texture_and_high_for_a_waffle():
    assert grid_share(noise()).item() < 0.15
    assert grid_share(waffle()).item() > 0.9


def test_lattice_score_is_one_against_itself_and_grows_with_a_drawn_grid():
    x = noise(1)
    assert lattice_score(x, x).item() == pytest.approx(1.0)
    assert lattice_score(x + (waffle() - 0.4), x).item() > 3.0


def test_lattice_loss_is_zero_without_excess_grid_and_pulls_a_waffle_down():
    x = noise(2) * 2 - 1
    assert lattice_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    drawn = (x + 2 * (waffle() - 0.4)).requires_grad_()
    loss = lattice_loss(drawn, x)
    loss.backward()
    assert loss.item() > 1.0
    stepped = drawn - 0.5 * drawn.grad / drawn.grad.abs().max()
    assert lattice_loss(stepped, x).item() < loss.item()


def test_lattice_loss_is_not_lowered_by_drawing_detail_elsewhere():
    """A stripe of noise along the border raises the image's fine-detail power everywhere but on
    the grid: it would lower the grid's *share*; the loss counts the grid's power, so it does
    not fall."""
    x = noise(3) * 2 - 1
    drawn = x + 2 * (waffle() - 0.4)
    border = drawn.clone()
    border[..., :, :6] += torch.randn(1, 1, 128, 6, generator=torch.Generator().manual_seed(0))
    assert grid_share(border).item() < grid_share(drawn).item()  # the share would be fooled
    assert lattice_loss(border, x).item() >= lattice_loss(drawn, x).item() - 1e-3


def test_pairs_never_take_an_image_as_its_own_style():
    pairs = pair_indices(10, 10, 10, same=True)
    assert pairs and all(i != j for i, j in pairs)
    assert len({i for i, _ in pair_indices(40, 9, 8, same=False)}) == 8


def smooth_layouts(side: int = 256) -> dict[str, Image.Image]:
    """A sky-like vertical gradient and a soft radial one: layouts with no texture of their own."""
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    sky = np.stack([0.35 + 0.3 * y, 0.55 + 0.25 * y, 0.85 + 0.1 * x], -1)
    radial = np.stack([np.hypot(y - 0.5, x - 0.5) * 1.2] * 3, -1)
    return {name: Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
            for name, a in (("sky", sky), ("radial", radial))}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu")


@pytest.mark.parametrize("style", ["marble.png", "stripes.png", "wood.png"])
def test_bundled_textured_style_on_a_smooth_layout_draws_no_grid(engine, style):
    """Mix with the layout from a smooth image and the style from a texture: the result may
    have the texture's grain, but no more of the 8-px grid than the texture itself (score <= 2;
    the waffle of the stage-11 weights scored 4.3-4.7 on these)."""
    source = load_image(EXAMPLES / style)
    for name, layout in smooth_layouts().items():
        made = engine.mix([layout, source], [0.0, 1.0], structure_from=0)
        score = lattice_score(image_to_tensor(made), image_to_tensor(source)).item()
        assert score <= 2.0, f"{name} x {style}: lattice score {score:.2f}"


def test_swaps_are_scored_over_the_style_and_over_the_grainier_source():
    from artvae.measure.evaluate import lattice_table
    from artvae.measure.lattice import evaluate_lattice
    from artvae.model.autoencoder import ArtVAE
    from artvae.model.config import ModelConfig

    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    flat = [(torch.full((3, 256, 256), v) * 255).to(torch.uint8) for v in (0.2, 0.4, 0.6, 0.8)]
    gridded = [(waffle(256, s)[0] * 255).to(torch.uint8) for s in (0.1, 0.2, 0.3, 0.4)]
    m = evaluate_lattice(model, {"flat": flat, "gridded": gridded}, pairs=4)
    swap = m["swaps"]["gridded layouts x flat styles"]
    # a layout with a grid of its own in a flat style: over the flat style's share the score is
    # huge, over the grainier source (the layout) it is what the decoder added
    assert swap["grainier"]["max"] <= swap["max"]
    assert swap["grainier"]["p90"] < swap["p90"]
    table = lattice_table(m)
    assert "over the grainier source" in table and "(scored so)" in table


def test_edge_step_is_about_one_for_a_texture_and_high_for_a_framed_one():
    x = noise(4, 256)
    framed = x.clone()
    framed[..., :, :4] += 0.3  # a bright stripe down the left edge
    assert edge_step(x).item() < 2.0
    assert edge_step(framed).item() > 3 * edge_step(x).item()


@pytest.mark.parametrize("style", ["marble.png", "stripes.png"])
def test_bundled_style_on_a_smooth_layout_draws_no_frame(engine, style):
    """A smooth layout's map holds mostly the encoder's ring of border correction: drawn in a
    detailed style it was a frame with a coloured stripe (here: edge steps up to 3.7; 0.8-1.7
    with made borders, `artvae.ops.borders`, which draw the edge as the inside)."""
    source = load_image(EXAMPLES / style)
    for name, layout in smooth_layouts().items():
        made = engine.mix([layout, source], [0.0, 1.0], structure_from=0)
        step = edge_step(image_to_tensor(made)).item()
        assert step <= 2.0, f"{name} x {style}: edge step {step:.2f}"

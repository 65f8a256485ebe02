"""Style swaps: the swap losses push where they should, the measures read what they claim, and
the training step wires every swap term into the loss that the optimiser sees."""

from dataclasses import replace

import pytest
import torch

from artvae.measure.swaps import evaluate_swaps, swap_grid, swap_pairs
from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops.metrics import colour_transfer, layout_kept, match_colour, style_transfer
from artvae.train.autoencoder import CrossCrop, TrainConfig, generator_loss
from artvae.train.losses import layout_cycle_loss, sliced_patch_loss, style_cycle_loss


def stripes(colour: tuple[float, float, float], period: int = 8, side: int = 64,
            vertical: bool = False) -> torch.Tensor:
    """(1, 3, side, side) stripes in [0, 1] around a colour."""
    t = torch.arange(side).float()
    wave = 0.2 * torch.sin(2 * torch.pi * t / period)
    wave = wave.view(1, side) if vertical else wave.view(side, 1)
    base = torch.tensor(colour).view(3, 1, 1)
    return (base + wave.expand(side, side)).clamp(0, 1)[None]


def test_sliced_patch_loss_is_zero_for_the_same_image_and_grows_with_a_colour_change():
    x = stripes((0.5, 0.4, 0.3))
    assert sliced_patch_loss(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    near = sliced_patch_loss(x, stripes((0.52, 0.4, 0.3))).item()
    far = sliced_patch_loss(x, stripes((0.8, 0.4, 0.3))).item()
    assert 0 < near < far


def test_sliced_patch_loss_ignores_where_patches_sit():
    """A shifted copy has the same patch statistics (the swap keeps its own layout);
    a different grain does not."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    shifted = x.roll((8, 16), dims=(2, 3))  # whole cells of every scale's pooling grid
    smoother = torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # the same colours, finer grain gone
    assert sliced_patch_loss(x, shifted) < 0.2 * sliced_patch_loss(x, smoother)


def test_sliced_patch_loss_pulls_the_colour_towards_the_target():
    x = stripes((0.3, 0.3, 0.3)).requires_grad_(True)
    sliced_patch_loss(x, stripes((0.7, 0.3, 0.3)), torch.Generator().manual_seed(0)).backward()
    red_grad = x.grad[:, 0].mean()
    assert red_grad < 0  # descending the gradient raises red


def test_cycle_losses_push_only_the_swap_side():
    made = torch.zeros(2, 4, requires_grad=True)
    given = torch.ones(2, 4, requires_grad=True)
    for loss in (style_cycle_loss, layout_cycle_loss):
        made.grad = given.grad = None
        value = loss(made, given)
        value.backward()
        assert value.item() == pytest.approx(1.0)
        assert made.grad.abs().sum() > 0 and given.grad is None
        assert loss(given.detach(), given).item() == 0.0


@pytest.fixture(scope="module")
def tiny_batch():
    torch.manual_seed(0)
    a = torch.rand(4, 3, 32, 32) * 2 - 1
    return a, (a + 0.05 * torch.randn_like(a)).clamp(-1, 1)


@pytest.mark.parametrize("weight, part", [("swap_weight", "swap"),
                                          ("style_cycle_weight", "style_cycle"),
                                          ("layout_cycle_weight", "layout_cycle")])
def test_each_swap_term_reaches_the_training_loss(tiny_batch, weight, part):
    """Raising a term's weight by 1 raises the loss by exactly that term, and its gradient
    reaches the model: a term wired to nothing fails here."""
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny())
    cfg = TrainConfig.preset("tiny")
    losses, grads = [], []
    for extra in (0.0, 1.0):
        run = replace(cfg, **{weight: getattr(cfg, weight) + extra})
        torch.manual_seed(1)  # the same posterior samples both times
        model.zero_grad()
        loss, parts, *_ = generator_loss(CrossCrop(model), None, *tiny_batch, run, 0, None)
        loss.backward()
        losses.append((loss.item(), parts[part]))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()
                                if p.grad is not None]))
    assert losses[1][0] - losses[0][0] == pytest.approx(losses[0][1], rel=1e-4, abs=1e-6)
    assert losses[0][1] > 0
    assert not torch.allclose(grads[0], grads[1])


def test_swaps_off_leaves_no_swap_terms(tiny_batch):
    cfg = replace(TrainConfig.preset("tiny"), swap_weight=0.0)
    net = CrossCrop(ArtVAE(ModelConfig.tiny()), swaps=False)
    _, parts, fakes, target = generator_loss(net, None, *tiny_batch, cfg, 0, None)
    assert "swap" not in parts and len(fakes) == len(target)


def test_structure_map_is_normalised_over_space():
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny())
    q_s, _ = model.encode(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert torch.allclose(q_s.mean.mean(dim=(2, 3)), torch.zeros(2, 4), atol=1e-4)
    assert torch.allclose(q_s.mean.std(dim=(2, 3), correction=0), torch.ones(2, 4), atol=1e-2)


def test_colour_transfer_reads_zero_for_the_reconstruction_and_one_for_the_style_colour():
    a, b = stripes((0.2, 0.3, 0.4)), stripes((0.7, 0.5, 0.2))
    assert colour_transfer(a, a, b).item() == pytest.approx(0.0, abs=1e-6)
    recoloured = a - a.mean(dim=(2, 3), keepdim=True) + b.mean(dim=(2, 3), keepdim=True)
    assert colour_transfer(recoloured, a, b).item() == pytest.approx(1.0, abs=1e-4)


def test_style_transfer_reads_zero_for_no_change_and_one_for_the_style_itself():
    a, b = stripes((0.2, 0.3, 0.4), period=6), stripes((0.7, 0.5, 0.2), period=16)
    assert style_transfer(a, a, b).item() == pytest.approx(0.0, abs=1e-6)
    assert style_transfer(b, a, b).item() == pytest.approx(1.0, abs=1e-6)


def test_layout_kept_is_high_for_the_same_edges_and_low_for_other_ones():
    a = stripes((0.5, 0.5, 0.5), period=32, side=128)
    recoloured = match_colour(a, stripes((0.8, 0.2, 0.2), side=128))
    rotated = a.transpose(2, 3)
    assert layout_kept(recoloured, a).item() > 0.95
    assert layout_kept(rotated, a).item() < 0.3


def test_colour_matching_baseline_takes_the_reference_channel_statistics():
    a, b = stripes((0.2, 0.3, 0.4)), stripes((0.7, 0.5, 0.2)) * 0.8
    matched = match_colour(a, b)
    assert torch.allclose(matched.mean(dim=(2, 3)), b.mean(dim=(2, 3)), atol=1e-4)
    assert torch.allclose(matched.std(dim=(2, 3)), b.std(dim=(2, 3)), atol=1e-4)


def test_swap_pairs_never_pair_an_image_with_itself():
    for count in (2, 3, 10):
        assert all(i != j for i, j in swap_pairs(count, 24))


def test_swap_grid_puts_sources_on_the_edges():
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    layouts, styles = torch.rand(2, 3, 64, 64), torch.rand(3, 3, 64, 64)
    grid = swap_grid(model, layouts, styles, side=32, gap=2)
    assert grid.shape == (3, 3 * 34 - 2, 4 * 34 - 2)
    assert torch.equal(grid[:, :32, 34:66], styles[0, :, 16:48, 16:48])
    assert torch.equal(grid[:, 34:66, :32], layouts[0, :, 16:48, 16:48])


def test_evaluate_swaps_scores_a_perfect_swap_one_and_a_swap_that_did_nothing_zero(monkeypatch):
    """With reconstructions that are the images themselves (R = A), a swap that returns B scores
    full transfer, and one that returns A none; the colour-matching baseline moves A's colour
    all the way to B's and keeps A's layout."""
    from artvae.measure import swaps

    model = ArtVAE(ModelConfig.tiny()).eval()
    monkeypatch.setattr(model, "reconstruct", lambda x: x)
    colours = [(0.2, 0.3, 0.4), (0.7, 0.5, 0.2), (0.3, 0.6, 0.3), (0.6, 0.3, 0.6)]
    images = [(stripes(c, period=8 + 4 * i, vertical=i >= 2)[0] * 255).round().to(torch.uint8)
              for i, c in enumerate(colours)]

    monkeypatch.setattr(swaps, "swap_codes", lambda model, layouts, styles: styles)  # X = B
    perfect = evaluate_swaps(model, images, pairs=4)
    monkeypatch.setattr(swaps, "swap_codes", lambda model, layouts, styles: layouts)  # X = A
    nothing = evaluate_swaps(model, images, pairs=4)

    every = {"mean": 1.0, "median": 1.0}
    none = {"mean": 0.0, "median": 0.0}
    assert perfect["pairs"] == nothing["pairs"] == 4
    assert perfect["model"]["transfer"] == perfect["model"]["colour_transfer"] == every
    assert nothing["model"]["transfer"] == nothing["model"]["colour_transfer"] == none
    assert nothing["model"]["layout_kept"] == every  # X is A: every edge where A has it
    assert perfect["model"]["layout_kept_reconstruction"] == every  # R is A
    assert perfect["model"]["layout_kept"]["mean"] < 0.5  # B: stripes the other way (i, i + 2)
    baseline = perfect["colour_matching"]
    assert baseline == nothing["colour_matching"]  # no model in it
    assert baseline["colour_transfer"]["mean"] > 0.99 and baseline["layout_kept"] == every

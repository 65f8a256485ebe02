"""Generated-image measures: nearest-texture SWD, the copy check, the sample sheet."""

import numpy as np
import pytest
import torch
from PIL import Image

from artvae.measure.samples import nearest_figures, nearest_training, sample_sheet
from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops.metrics import swd_matrix, swd_pairs


@pytest.fixture
def quick_draws(monkeypatch):
    """The copy check's fine round with fewer, smaller draws: what these tests check is how the
    figures are made from the distances, not the distances' precision (nearest_training's own
    test keeps the full draws)."""
    from artvae.measure import samples

    monkeypatch.setattr(samples, "SAMPLINGS", 1)
    monkeypatch.setattr(samples, "FINE_PATCHES", 128)
    monkeypatch.setattr(samples, "SHORTLIST", 4)


def textures(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 64, 64): stripes of different frequencies and colours, a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(64).float()
    out = []
    for _ in range(n):
        freq, colour = torch.rand(2, generator=g) * 0.5 + 0.1, torch.rand(3, 1, 1, generator=g)
        wave = torch.sin(x[None, :] * freq[0] + x[:, None] * freq[1])
        out.append((colour * 0.6 + 0.2 + 0.2 * wave + 0.03 * torch.randn(3, 64, 64, generator=g))
                   .clamp(0, 1))
    return torch.stack(out)


def test_swd_matrix_finds_each_image_nearest_to_itself():
    x = textures(5, 0)
    assert torch.equal(swd_matrix(x, x).argmin(dim=1), torch.arange(5))


def test_copy_check_of_paired_images_weighs_the_gap_by_the_per_texture_differences(quick_draws):
    train, held_out = textures(12, 1), textures(6, 2)
    reference = nearest_training(held_out, train)
    made = held_out.flip(-1)
    to_train = nearest_training(made, train)
    paired = nearest_figures(made, held_out, 1.0, train, reference, paired=True)
    unpaired = nearest_figures(made, held_out, 1.0, train, reference)
    differences = to_train - reference
    expected = differences.mean() / (differences.std() / len(differences) ** 0.5)
    assert paired["copy_check_paired"] and "copy_check_paired" not in unpaired
    assert paired["copy_check_gap_se"] == pytest.approx(expected.item(), abs=0.01)
    assert paired["copy_check_gap_se"] != pytest.approx(unpaired["copy_check_gap_se"], abs=0.01)


def test_swd_pairs_scores_the_chosen_pairs_as_the_matrix_does_and_averages_draws():
    x, y = textures(4, 3), textures(7, 4)
    pairs = torch.tensor([[0, 6], [3, 3], [1, 5], [2, 0]])
    for seed in (0, 2):
        expected = swd_matrix(x, y, seed=seed).gather(1, pairs)
        assert torch.allclose(swd_pairs(x, y, pairs, patches=128, seeds=[seed]), expected)
    two = (swd_matrix(x, y, seed=1) + swd_matrix(x, y, seed=5)).gather(1, pairs) / 2
    assert torch.allclose(swd_pairs(x, y, pairs, patches=128, seeds=[1, 5]), two, atol=1e-4)


def test_nearest_training_finds_the_crop_an_image_was_copied_from_and_scores_it_finely():
    train = textures(10, 5)
    copies = train[[7, 2]] + 0.002 * torch.randn(2, 3, 64, 64, generator=torch.Generator()
                                                .manual_seed(0))
    others = swd_pairs(copies, train, torch.tensor([[i for i in range(10) if i != 7],
                                                    [i for i in range(10) if i != 2]]),
                       seeds=range(1, 5))
    nearest = nearest_training(copies, train, shortlist=3)
    assert (nearest < others.min(dim=1).values).all()
    own = swd_pairs(copies, train, torch.tensor([[7], [2]]), seeds=range(1, 5))[:, 0]
    assert torch.allclose(nearest, own)


def test_copy_check_fails_for_copies_of_training_crops_and_passes_for_unseen_ones(quick_draws):
    train, held_out = textures(12, 1), textures(6, 2)
    pairwise = swd_matrix(held_out, held_out).fill_diagonal_(float("inf"))
    real_nearest = pairwise.min(dim=1).values.mean().item()
    real_to_train = swd_matrix(held_out, train).min(dim=1).values
    copies = nearest_figures(train[:6], held_out, real_nearest, train, real_to_train)
    fresh = nearest_figures(held_out.flip(-1), held_out, real_nearest, train, real_to_train)
    assert copies["copy_check_passed"] is False and fresh["copy_check_passed"] is True
    assert copies["nearest_training_swd"] < fresh["nearest_training_swd"]
    assert copies["copy_check_gap_se"] < -2  # exact copies: far nearer than chance allows
    # and tile by tile, copies repeat training crops literally
    assert copies["copied_tiles"] == 1.0 and copies["tile_copy_score"] > 0.999
    assert fresh["tile_copy_score"] < copies["tile_copy_score"]


def test_sample_sheet_lays_out_seeds_row_by_row(tmp_path):
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    out = sample_sheet(model, tmp_path / "sheet.png", seeds=[0, 1, 2], side=32, columns=2)
    with Image.open(out) as sheet:
        assert sheet.size == (2 * 32 + 4, 2 * 32 + 4)
        first, second = sheet.crop((0, 0, 32, 32)), sheet.crop((36, 0, 68, 32))
        assert not np.array_equal(np.asarray(first), np.asarray(second))  # different seeds


def test_evaluate_samples_judges_copies_against_the_decoders_own_rendering(quick_draws):
    from artvae.measure.samples import evaluate_samples

    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    held_out = [(x * 255).round().to(torch.uint8) for x in textures(4, 3)]
    train = [(x * 255).round().to(torch.uint8) for x in textures(6, 4)]
    m = evaluate_samples(model, held_out, train, count=3)
    assert m["count"] == 3 and m["held_out"] == 4
    # an untrained decoder renders everything far from the training crops: the reference
    # is that rendering, not the real images
    assert m["reconstructed_nearest_training_swd"] != m["held_out_nearest_training_swd"]
    r = m["random_phase"]
    assert r["copy_check_passed"] is (r["nearest_training_swd"]
                                      >= m["reconstructed_nearest_training_swd"])


def test_copy_check_compares_with_the_crops_the_structure_bank_came_from(monkeypatch, quick_draws):
    from dataclasses import replace

    from artvae.measure import samples

    monkeypatch.setattr(samples, "TRAIN_CROPS", 2)  # crops 0 and 7 of 8
    model = ArtVAE(replace(ModelConfig.tiny(), structure_bank=3)).eval()  # maps of 0, 4, 7
    train = [(x * 255).round().to(torch.uint8) for x in textures(8, 4)]
    m = samples.evaluate_samples(model, train[:2], train, count=1)
    assert m["training_crops"] == 3
    # the bank came from the texture crops alone (here 1, 2 and 3): those are compared with
    groups = ["art", "textures", "textures", "textures", "art", "art", "art", "art"]
    m = samples.evaluate_samples(model, train[:2], train, count=1, train_groups=groups)
    assert m["training_crops"] == 5


def test_structure_bank_is_filled_from_texture_crops_evenly():
    from dataclasses import replace

    from artvae.train.export import bank_picks, fill_latent_statistics

    groups = ["textures", "art", "textures", "art", "art", "textures", "textures", "art"]
    assert bank_picks(groups, 3).tolist() == [0, 5, 6]  # textures 0, 2, 5, 6: first, middle, last
    assert bank_picks(["art"] * 5, 3).tolist() == [0, 2, 4]  # no textures: all of them
    model = ArtVAE(replace(ModelConfig.tiny(), structure_bank=2)).eval()
    crops = torch.nn.functional.interpolate(textures(4, 6), size=256)  # the bank's 32x32 maps
    fill_latent_statistics(model, crops, ["art", "textures", "art", "textures"])
    with torch.inference_mode():
        maps = model.encode(ArtVAE.to_model_range(crops))[0].mode()
    assert torch.allclose(model.structure_bank, maps[[1, 3]], atol=1e-5)


def test_expansion_is_scored_against_its_input_beside_the_reconstruction(monkeypatch):
    """An expansion that is each input's own code repeated 2x2 has four quarters that are the
    input's tileable reconstruction: it scores as that does against the input (each against its
    own), and the plain reconstruction's score stands beside it."""
    from artvae.measure import samples
    from artvae.ops.latent import Code
    from artvae.train.data import centre_crops

    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    images = [(x * 255).round().to(torch.uint8) for x in textures(3, 5)]
    monkeypatch.setattr(samples, "expanded", lambda model, code, size, seed: Code(
        code.structure.repeat(1, 1, 2, 2), code.style, size))
    m = samples.evaluate_expansion(model, images, count=2)

    crops = centre_crops(images[:2], samples.SIDE)  # (2, 3, 256, 256), what is scored against
    with torch.inference_mode():
        q_s, q_w = model.encode(ArtVAE.to_model_range(crops))
        tiled = ArtVAE.to_image_range(model.decode(q_s.mode(), q_w.mode(), tileable=True))
        plain = ArtVAE.to_image_range(model.decode(q_s.mode(), q_w.mode()))

    def swd_to_input(made: torch.Tensor, copies: int = 1) -> float:
        """Mean over the inputs of the SWD of `copies` of what was made from each to it."""
        return sum(swd_matrix(made[i:i + 1].repeat(copies, 1, 1, 1), crops[i:i + 1]).mean()
                   .item() for i in range(2)) / 2

    assert m == {"count": 2, "expanded_swd": pytest.approx(swd_to_input(tiled, 4), abs=0.011),
                 "reconstruction_swd": pytest.approx(swd_to_input(plain), abs=0.011)}
    # scored against another input, it would be off by far more than the rounding (0.01)
    assert abs(swd_to_input(tiled.flip(0), 4) - m["expanded_swd"]) > 0.1

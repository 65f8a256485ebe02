"""The learned prior over structure maps: it learns, it wraps around, seeds reproduce."""

import pytest
import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.model.prior import (
    STYLE_REACH,
    StructurePrior,
    flow_matching_loss,
    sample_structure,
    vary_structure,
)
from artvae.train.prior import PriorTrainConfig, train_prior


@pytest.fixture
def prior() -> StructurePrior:
    torch.manual_seed(0)
    return StructurePrior(channels=4, style_dim=8, width=8)


def stripes(n: int, side: int = 16) -> torch.Tensor:
    """(n, 4, side, side) periodic striped maps: a fixed little 'corpus' of layouts."""
    x = torch.arange(side).float()
    maps = []
    for i in range(n):
        phase = 2 * torch.pi * (x[None, :] * (1 + i % 3) + x[:, None] * (i % 2)) / side
        maps.append(torch.stack([phase.sin(), phase.cos(), (2 * phase).sin(), (2 * phase).cos()]))
    return torch.stack(maps)


def test_prior_loss_goes_down_on_a_fixed_set(prior):
    maps, styles = stripes(8), torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(prior.parameters(), lr=3e-3)

    def loss_now() -> float:
        with torch.no_grad():
            return flow_matching_loss(prior, maps, styles, torch.Generator().manual_seed(5),
                                      0.0).item()

    before = loss_now()
    generator = torch.Generator().manual_seed(2)
    for _ in range(60):
        loss = flow_matching_loss(prior, maps, styles, generator)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now() < 0.7 * before


def test_flow_matching_loss_reaches_every_part_of_the_prior(prior):
    opt = torch.optim.SGD(prior.parameters(), lr=0.1)
    for _ in range(2):  # the blocks' last convs start at zero: one step opens every path
        opt.zero_grad()
        loss = flow_matching_loss(prior, stripes(2), torch.randn(2, 8), torch.Generator(), 0.0)
        loss.backward()
        opt.step()
    for name in ("cond.0.weight", "stem.weight", "mid.0.conv1.weight", "head.2.weight"):
        grad = dict(prior.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_samples_wrap_around_seamlessly(prior):
    with torch.no_grad():  # an untrained prior still sees a torus: the map is periodic
        for p in prior.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    maps = sample_structure(prior, torch.randn(1, 8), (16, 24), torch.Generator().manual_seed(0))
    across = (maps[..., :, 0] - maps[..., :, -1]).abs().mean()  # the wrap-around seam
    inside = (maps[..., :, 1:] - maps[..., :, :-1]).abs().mean()  # neighbours inside
    assert across <= 1.5 * inside
    # and a shifted start gives the shifted sample: no position on the canvas is special
    noise = torch.randn(1, 4, 16, 24, generator=torch.Generator().manual_seed(3))
    from artvae.model.prior import integrate

    style = torch.randn(1, 8)
    shifted = integrate(prior, noise.roll(8, dims=-1), style)
    assert torch.allclose(shifted, integrate(prior, noise, style).roll(8, dims=-1), atol=1e-4)


def test_same_seed_same_sample_other_seed_other_sample(prior):
    style = torch.randn(1, 8)

    def draw(seed: int) -> torch.Tensor:
        return sample_structure(prior, style, (16, 16), torch.Generator().manual_seed(seed))

    assert torch.equal(draw(4), draw(4))
    assert not torch.allclose(draw(4), draw(5))


def test_variation_strength_sets_how_much_of_the_start_stays(prior):
    start = stripes(1)
    style = torch.randn(1, 8)
    gaps = [(vary_structure(prior, start, style, s, torch.Generator().manual_seed(0)) - start)
            .pow(2).mean().item() for s in (0.2, 1.0)]
    assert gaps[0] < gaps[1]
    with pytest.raises(ValueError, match="strength"):
        vary_structure(prior, start, style, 0.0)


def test_drawn_styles_are_new_blends_of_stored_ones(prior):
    prior.style_bank.copy_(torch.randn(len(prior.style_bank), 8))
    styles = prior.draw_styles(16, torch.Generator().manual_seed(0))
    assert torch.equal(styles, prior.draw_styles(16, torch.Generator().manual_seed(0)))
    nearest = torch.cdist(styles, prior.style_bank).min(dim=1).values
    assert nearest.min() > 0.1  # never a stored style itself
    calm = prior.draw_styles(16, torch.Generator().manual_seed(0), temperature=0.0)
    assert torch.allclose(calm, prior.style_bank.mean(0).expand(16, -1), atol=1e-5)


def test_drawn_styles_spread_as_far_as_stored_ones_times_the_reach(prior):
    prior.style_bank.copy_(torch.randn(len(prior.style_bank), 8))
    mean = prior.style_bank.mean(0)
    spread = (prior.style_bank - mean).pow(2).sum(1).mean().sqrt()
    drawn = prior.draw_styles(4096, torch.Generator().manual_seed(0))
    reach = (drawn - mean).pow(2).sum(1).mean().sqrt() / spread
    assert reach == pytest.approx(STYLE_REACH, rel=0.05)  # plain blends: about 0.74


def test_train_prior_resumes_and_exports_one_checkpoint(corpus, tmp_path):
    vae = ArtVAE(ModelConfig.tiny())
    vae.style_mean.fill_(0.25)  # autoencoder buffers must travel into the exported checkpoint
    vae.save_pretrained(tmp_path / "vae")
    cfg = PriorTrainConfig.preset("tiny")
    cfg.steps = 10
    train_prior(str(tmp_path / "vae"), corpus, tmp_path / "run", tmp_path / "out", cfg, "cpu")
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert state["step"] == 10
    cfg.steps = 20  # the same command, a longer schedule: picks up at step 10
    train_prior(str(tmp_path / "vae"), corpus, tmp_path / "run", tmp_path / "out", cfg, "cpu")
    assert torch.load(tmp_path / "run/last.pt", weights_only=True)["step"] == 20
    model = ArtVAE.from_pretrained(tmp_path / "out")
    assert model.config.prior_width == cfg.width and model.prior is not None
    assert torch.equal(model.style_mean, vae.style_mean)
    for key, value in vae.state_dict().items():  # the autoencoder is untouched
        assert torch.equal(model.state_dict()[key], value), key
    assert model.prior.style_bank.abs().sum() > 0  # filled from the training styles


def test_warm_start_begins_from_the_prior_the_weights_carry(corpus, tmp_path):
    from dataclasses import replace

    cfg = PriorTrainConfig.preset("tiny")
    torch.manual_seed(1)
    vae = ArtVAE(replace(ModelConfig.tiny(), prior_width=cfg.width))
    vae.save_pretrained(tmp_path / "vae")
    cfg.steps, cfg.lr = 1, 1e-12  # one step that moves nothing: the run holds the start
    train_prior(str(tmp_path / "vae"), corpus, tmp_path / "warm", tmp_path / "out", cfg, "cpu",
                warm_start=True)
    warm = torch.load(tmp_path / "warm/last.pt", weights_only=True)["prior"]
    train_prior(str(tmp_path / "vae"), corpus, tmp_path / "cold", tmp_path / "out", cfg, "cpu")
    cold = torch.load(tmp_path / "cold/last.pt", weights_only=True)["prior"]
    start = vae.prior.state_dict()
    assert all(torch.allclose(warm[k], start[k], atol=1e-6) for k in warm)
    assert not all(torch.allclose(cold[k], start[k], atol=1e-6) for k in cold)
    with pytest.raises(ValueError, match="no prior of width"):
        train_prior(str(tmp_path / "vae"), corpus, tmp_path / "wide", tmp_path / "out",
                    replace(cfg, width=cfg.width * 2), "cpu", warm_start=True)

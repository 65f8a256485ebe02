"""The code corrector: starts as no change, learns from the refine objective, resumes, exports."""

from dataclasses import replace

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.train.autoencoder import TextureCrops
from artvae.train.corrector import (
    CorrectorTrainConfig,
    corrector_loss,
    train_corrector,
    with_corrector,
)


def test_a_fresh_corrector_changes_no_code():
    torch.manual_seed(0)
    vae = ArtVAE(ModelConfig.tiny()).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        q_s, q_w = vae.encode(x)
        c_s, c_w = with_corrector(vae, 8, seed=0).encode(x)
    # the same map, normalised once more (a tiny random model's spread is near the epsilon)
    assert torch.allclose(c_s.mean, q_s.mean, rtol=1e-2, atol=1e-3)
    assert torch.equal(c_w.mean, q_w.mean)


def test_the_corrector_loss_reaches_both_heads_and_nothing_else():
    torch.manual_seed(0)
    model = with_corrector(ArtVAE(ModelConfig.tiny()), 8, seed=0)
    loss = corrector_loss(model, torch.rand(4, 3, 32, 32) * 2 - 1, dtype=None)
    loss.backward()
    heads = (model.corrector.structure_head[-1], model.corrector.style_head[-1])
    assert all(head.weight.grad.abs().sum() > 0 for head in heads)
    assert all(p.grad is None for n, p in model.named_parameters()
               if not n.startswith("corrector."))


def test_corrected_codes_see_the_decode_and_stay_normalised():
    torch.manual_seed(0)
    model = with_corrector(ArtVAE(ModelConfig.tiny()), 8, seed=0).eval()
    for p in model.corrector.parameters():  # as if trained: heads no longer zero
        p.data.normal_(0, 0.1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        q_s, q_w = model.guess(x)
        s1, w1 = model.corrected(x, q_s.mean, q_w.mean)
        _, w2 = model.corrected(x, q_s.mean, q_w.mean * 0.5)  # another decode, other change
    assert not torch.allclose(s1, q_s.mean, atol=1e-3)
    assert not torch.allclose(w1 - q_w.mean, w2 - q_w.mean * 0.5, atol=1e-4)
    assert torch.allclose(s1.mean((2, 3)), torch.zeros(1, s1.shape[1]), atol=1e-4)
    assert torch.allclose(s1.std((2, 3), correction=0), torch.ones(1, s1.shape[1]), atol=1e-2)


def test_train_corrector_lowers_the_loss_resumes_and_exports(corpus, tmp_path):
    torch.manual_seed(0)
    vae = ArtVAE(ModelConfig.tiny())
    vae.save_pretrained(tmp_path / "vae")
    cfg = replace(CorrectorTrainConfig.preset("tiny"), steps=30, lr=3e-3)
    a, b = TextureCrops(corpus, "train", cfg.max_side).pairs(
        4, cfg.crop, torch.Generator().manual_seed(9), 1.0)
    fixed = torch.cat([a, b])
    with torch.no_grad():
        before = corrector_loss(with_corrector(vae, cfg.width, cfg.seed), fixed, None).item()
    train_corrector(str(tmp_path / "vae"), corpus, tmp_path / "run", tmp_path / "out",
                    replace(cfg, steps=18), "cpu")
    assert torch.load(tmp_path / "run/last.pt", weights_only=True)["step"] == 18
    train_corrector(str(tmp_path / "vae"), corpus, tmp_path / "run", tmp_path / "out", cfg,
                    "cpu")  # the same command, a longer schedule: picks up at step 18
    assert torch.load(tmp_path / "run/last.pt", weights_only=True)["step"] == 30
    model = ArtVAE.from_pretrained(tmp_path / "out")
    assert model.config.corrector_width == cfg.width
    for key, value in vae.state_dict().items():  # the autoencoder is untouched
        assert torch.equal(model.state_dict()[key], value), key
    with torch.no_grad():
        after = corrector_loss(model, fixed, None).item()
    assert after < before


def test_passes_are_trained_unrolled_and_applied_on_encode(corpus, tmp_path):
    torch.manual_seed(0)
    model = with_corrector(ArtVAE(ModelConfig.tiny()), 8, seed=0, passes=2).eval()
    for p in model.corrector.parameters():  # as if trained: heads no longer zero
        p.data.normal_(0, 0.1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        q_s, q_w = model.guess(x)
        once = model.corrected(x, q_s.mean, q_w.mean)
        twice = model.corrected(x, *once)
        c_s, c_w = model.encode(x)
    assert torch.allclose(c_s.mean, twice[0]) and torch.allclose(c_w.mean, twice[1])
    assert not torch.allclose(c_w.mean, once[1], atol=1e-4)
    # the first pass learns from the second's result: its gradient differs from one pass's
    grads = []
    for passes in (1, 2):
        model = with_corrector(model, 8, seed=0, passes=passes)
        assert model.config.corrector_passes == passes
        model.corrector.zero_grad()
        corrector_loss(model, torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
                       * 2 - 1, None, detail_weight=0.5).backward()
        grads.append(next(model.corrector.stem.parameters()).grad.clone())
    assert not torch.allclose(grads[0], grads[1])
    # a trained run saves its passes with the weights
    vae = ArtVAE(ModelConfig.tiny())
    vae.save_pretrained(tmp_path / "vae")
    cfg = replace(CorrectorTrainConfig.preset("tiny"), steps=6, passes=2)
    train_corrector(str(tmp_path / "vae"), corpus, tmp_path / "run", tmp_path / "out", cfg, "cpu")
    assert ArtVAE.from_pretrained(tmp_path / "out").config.corrector_passes == 2

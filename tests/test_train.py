"""Training: the loss goes down, runs resume, and torchrun runs it data-parallel."""

import copy
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops.metrics import psnr
from artvae.ops.reconstruction import detail_loss, reconstruction_loss
from artvae.train.autoencoder import CrossCrop, TextureCrops, TrainConfig, generator_loss, train
from artvae.train.export import calibrate_colour

ROOT = Path(__file__).resolve().parents[1]


def fixed_loss(model: ArtVAE, corpus: Path, cfg: TrainConfig) -> float:
    a, b = TextureCrops(corpus, "train", cfg.max_side).pairs(
        4, cfg.crop, torch.Generator().manual_seed(9)
    )
    torch.manual_seed(0)
    with torch.no_grad():
        loss, *_ = generator_loss(CrossCrop(model), None, a, b, cfg, step=0, dtype=None)
    return loss.item()


def test_min_scale_one_cuts_crops_at_the_pixels_as_they_come():
    textures = TextureCrops.__new__(TextureCrops)
    image = torch.randint(0, 256, (3, 48, 40), dtype=torch.uint8)
    textures.images = [image]
    a, b = textures.pairs(3, 16, torch.Generator().manual_seed(0), min_scale=1.0)
    windows = (image.float() / 127.5 - 1).unfold(1, 16, 1).unfold(2, 16, 1)  # (3, 33, 25, 16, 16)
    windows = windows.permute(1, 2, 0, 3, 4).flatten(0, 1)
    for crop in torch.cat([a, b]):
        # flipped or half-turned alike in a pair: undo neither, match any orientation
        views = [crop, crop.flip(-1), torch.rot90(crop, 2, (1, 2)),
                 torch.rot90(crop.flip(-1), 2, (1, 2))]
        assert any(((windows - v).abs().flatten(1).amax(1) < 1e-5).any() for v in views)
    blurred, _ = textures.pairs(3, 16, torch.Generator().manual_seed(0), min_scale=0.5)
    assert not all(((windows - c).abs().flatten(1).amax(1) < 1e-5).any() for c in blurred)


def test_a_few_training_steps_lower_the_loss(corpus, tmp_path):
    cfg = TrainConfig.preset("tiny")
    cfg.steps, cfg.lr, cfg.gan_start, cfg.batch_pairs = 60, 3e-3, 1000, 4
    torch.manual_seed(cfg.seed)
    before = fixed_loss(ArtVAE(cfg.model), corpus, cfg)
    train(cfg, corpus, tmp_path / "run", "cpu")
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    trained = ArtVAE(cfg.model)
    trained.load_state_dict(state["model"])
    assert state["step"] == 60
    assert fixed_loss(trained, corpus, cfg) < 0.85 * before
    assert (tmp_path / "run/metrics.jsonl").read_text().count("\n") == 6  # val every 10 steps
    assert list((tmp_path / "run").glob("samples_*.png"))


def test_training_resumes_from_its_last_checkpoint(corpus, tmp_path):
    cfg = TrainConfig.preset("tiny")
    cfg.steps = 10
    train(cfg, corpus, tmp_path / "run", "cpu")
    cfg.steps = 20
    train(cfg, corpus, tmp_path / "run", "cpu")
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert state["step"] == 20
    assert (tmp_path / "run/metrics.jsonl").read_text().count("\n") == 2  # steps 10 and 20


def test_training_takes_the_precision_inference_would(corpus, tmp_path, monkeypatch):
    """bf16 autocast where the engine would use it ($ARTVAE_PRECISION, else the device's
    choice: CUDA, CPUs with native bf16), float32 when asked; the loss stays finite in bf16."""
    import artvae.train.autoencoder as training

    seen, losses = [], []

    def spy(*args):
        seen.append(args[6])  # generator_loss(net, disc, a, b, cfg, step, dtype)
        loss, *rest = generator_loss(*args)
        losses.append(loss.item())
        return loss, *rest

    monkeypatch.setattr(training, "generator_loss", spy)
    for precision, dtype in (("bfloat16", torch.bfloat16), ("float32", None)):
        monkeypatch.setenv("ARTVAE_PRECISION", precision)
        cfg = TrainConfig.preset("tiny")
        cfg.steps = 3
        train(cfg, corpus, tmp_path / precision, "cpu")
        assert set(seen) == {dtype}
        seen.clear()
    assert all(map(math.isfinite, losses))


def test_same_seed_trains_the_same_weights(corpus, tmp_path):
    cfg = TrainConfig.preset("tiny")
    cfg.steps = 12  # through the discriminator's start at step 10
    train(cfg, corpus, tmp_path / "one", "cpu")
    train(cfg, corpus, tmp_path / "two", "cpu")
    one = torch.load(tmp_path / "one/last.pt", weights_only=True)["ema"]
    two = torch.load(tmp_path / "two/last.pt", weights_only=True)["ema"]
    for key in one:
        assert torch.equal(one[key], two[key]), key


def test_torchrun_two_processes_on_cpu(corpus, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "artvae",
            "train",
            "--preset",
            "tiny",
            "--data",
            str(corpus),
            "--run-dir",
            str(tmp_path / "ddp"),
            "--steps",
            "12",
            "--device",
            "cpu",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / "ddp/last.pt", weights_only=True)
    assert state["step"] == 12


def test_a_new_run_can_start_from_exported_weights(corpus, tmp_path):
    cfg = TrainConfig.preset("tiny")
    cfg.steps = 2
    start = ArtVAE(cfg.model)
    start.style_mean.fill_(0.5)  # a buffer training never touches: it must come from the start
    start.save_pretrained(tmp_path / "start")
    train(cfg, corpus, tmp_path / "run", "cpu", init_from=tmp_path / "start")
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert torch.equal(state["model"]["style_mean"], torch.full_like(start.style_mean, 0.5))


def test_a_run_started_from_weights_with_a_prior_resumes(corpus, tmp_path):
    from dataclasses import replace

    cfg = TrainConfig.preset("tiny")
    cfg.steps = 2
    ArtVAE(replace(cfg.model, prior_width=8)).save_pretrained(tmp_path / "start")
    train(cfg, corpus, tmp_path / "run", "cpu", init_from=tmp_path / "start")
    cfg.steps = 3  # resumed as a session would: the same command, a longer run
    train(cfg, corpus, tmp_path / "run", "cpu", init_from=tmp_path / "start")
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert state["step"] == 3
    assert any(k.startswith("prior.") for k in state["model"])


def run_with_a_frozen_half(corpus: Path, tmp_path: Path, frozen: str) -> ArtVAE:
    """Three tiny steps from weights with a prior, `frozen` ("encoder" or "decoder") held; the
    weights the run ended with must keep that half and the prior and move the other half.
    Returns the starting model."""
    from dataclasses import replace

    cfg = TrainConfig.preset("tiny")
    cfg.steps = 3
    setattr(cfg, f"freeze_{frozen}", True)
    torch.manual_seed(0)
    start = ArtVAE(replace(cfg.model, prior_width=8))
    start.save_pretrained(tmp_path / "start")
    train(cfg, corpus, tmp_path / "run", "cpu", init_from=tmp_path / "start")
    trained = torch.load(tmp_path / "run/last.pt", weights_only=True)["model"]
    before = start.state_dict()
    moved = "decoder." if frozen == "encoder" else "encoder."
    for key in before:
        if key.startswith((f"{frozen}.", "prior.")):
            assert torch.equal(trained[key], before[key]), key
    assert any(not torch.equal(trained[k], before[k]) for k in before if k.startswith(moved))
    return start


def test_frozen_encoder_run_keeps_the_codes_and_the_prior(corpus, tmp_path):
    run_with_a_frozen_half(corpus, tmp_path, "encoder")


def test_frozen_decoder_run_trains_the_encoder_on_posterior_means(corpus, tmp_path):
    start = run_with_a_frozen_half(corpus, tmp_path, "decoder")
    # on means the pass is deterministic: the encoder learns the code inference decodes
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    net = CrossCrop(start, means=True)
    assert torch.equal(net(x, x)["recon"], net(x, x)["recon"])
    assert not torch.equal(*(CrossCrop(start)(x, x)["recon"] for _ in range(2)))


def test_both_halves_frozen_is_an_error(corpus, tmp_path):
    cfg = TrainConfig.preset("tiny")
    cfg.freeze_encoder = cfg.freeze_decoder = True
    with pytest.raises(ValueError, match="nothing to train"):
        train(cfg, corpus, tmp_path / "run", "cpu")


def test_export_refills_exported_weights_on_a_corpus(corpus, tmp_path):
    from artvae.train.export import export

    ArtVAE(ModelConfig.tiny()).save_pretrained(tmp_path / "trained")  # buffers still empty
    export(None, tmp_path / "out", corpus, "cpu", weights=tmp_path / "trained")
    model = ArtVAE.from_pretrained(tmp_path / "out")
    assert model.style_spread.min() > 0 and model.style_basis.abs().sum() > 0
    assert model.structure_bank.flatten(1).std(1).min() > 0


def test_psnr_term_is_the_mean_psnr_and_pulls_hardest_where_the_image_is_close():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    noise = torch.randn(2, 3, 32, 32) * torch.tensor([0.2, 0.05]).view(2, 1, 1, 1)
    x = (target + noise).requires_grad_()
    loss, parts = reconstruction_loss(x, target, 0.0, 0.0, psnr_weight=1.0)
    expected = psnr((x.detach() + 1) / 2, (target + 1) / 2).mean().item()
    assert abs(parts["psnr"] - expected) < 0.1
    loss.backward()
    far, near = x.grad.abs().flatten(1).mean(1)
    assert near > 3 * far  # L1 alone pulls both alike


def test_detail_term_asks_for_the_targets_detail_in_each_place():
    torch.manual_seed(0)
    y, x = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = ((x + y) % 2 * 2 - 1).float() * 0.5
    target = torch.zeros(1, 3, 32, 32)
    target[..., :, :16] = checker[:, :16]  # busy on the left half, flat on the right
    assert detail_loss(target, target).item() == 0.0
    blurred = torch.nn.functional.avg_pool2d(target, 3, 1, 1, count_include_pad=False)
    grainy = target + torch.randn_like(target) * 0.2 * (x >= 16).float()  # grain where flat
    moved = torch.roll(target, 16, dims=-1)  # as much detail overall, in the wrong half
    for wrong in (blurred, grainy, moved):
        assert detail_loss(wrong, target).item() > 0.15
    # its gradient pushes a blurred image's busy half back towards more detail
    soft = blurred.clone().requires_grad_()
    detail_loss(soft, target).backward()
    step = soft - 0.5 * soft.grad
    assert detail_loss(step.detach(), target) < detail_loss(blurred, target)
    assert soft.grad[..., :16].abs().sum() > 4 * soft.grad[..., 16:].abs().sum()  # busy half


def test_colour_term_sees_a_drift_that_pixel_l1_does_not():
    target = torch.zeros(1, 3, 16, 16)
    y, x = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = ((x + y) % 2 * 2 - 1).float() * 0.3  # busy detail, zero mean in every 8x8 block
    pulls = []
    for colour_weight in (0.0, 1.0):
        recon = (target + checker + 0.02).requires_grad_()  # ... on a drift of 0.02
        loss, parts = reconstruction_loss(recon, target, 0.0, 0.0, colour_weight=colour_weight)
        assert abs(parts["colour"] - 0.02) < 1e-6
        loss.backward()
        pulls.append(recon.grad.sum().item())  # net push on the mean colour
    assert abs(pulls[0]) < 1e-6 and pulls[1] > 0.99


def test_colour_calibration_removes_the_decoders_mean_colour_error():
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    with torch.no_grad():
        model.decoder.out.bias += 0.1  # a decoder that renders everything a little light
    crops = torch.rand(4, 3, 32, 32) * 0.5 + 0.25  # mid-tones: no clamping either way

    def mean_error() -> torch.Tensor:
        with torch.no_grad():
            return (model.reconstruct(crops) - crops).mean(dim=(0, 2, 3))

    before = mean_error()
    removed = calibrate_colour(model, crops)
    assert torch.allclose(removed, before, atol=1e-6)
    assert mean_error().abs().max() < 1e-4 < before.abs().min()


def test_a_widened_latent_decodes_the_same_and_learns_its_new_channels(corpus, tmp_path):
    """Growing the structure map (`--structure-channels` over `--init-from` weights): the same
    reconstruction at the start, the prior dropped, and training gives the new channels use."""
    from dataclasses import replace

    from artvae.model.autoencoder import widened

    cfg = TrainConfig.preset("tiny")
    torch.manual_seed(0)
    start = ArtVAE(replace(cfg.model, prior_width=8)).eval()
    for p in start.parameters():  # FiLM starts at zero: every weight must matter here
        p.data.normal_(0.0, 0.2)
    wide = widened(start, cfg.model.structure_channels + 2).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(wide.reconstruct(x), start.reconstruct(x), atol=1e-5)
        q_old, _ = start.encode(x * 2 - 1)
        q_new, _ = wide.encode(x * 2 - 1)
    old = cfg.model.structure_channels
    assert torch.allclose(q_new.mean[:, :old], q_old.mean, atol=1e-5)
    assert q_new.mean.shape[1] == old + 2 and wide.prior is None

    start.save_pretrained(tmp_path / "start")
    cfg = replace(cfg, steps=4, model=replace(cfg.model, structure_channels=old + 2))
    train(cfg, corpus, tmp_path / "run", "cpu", init_from=tmp_path / "start")
    trained = torch.load(tmp_path / "run/last.pt", weights_only=True)["model"]
    assert trained["decoder.stem.weight"][:, old:].abs().sum() > 0  # the new channels in use
    assert not any(k.startswith("prior.") for k in trained)


def test_a_deepened_encoder_encodes_the_same_and_trains_its_new_blocks(corpus, tmp_path):
    """Growing the encoder (`--enc-blocks` over `--init-from` weights): the same codes at the
    start, the prior kept, and training moves the new blocks off the identity."""
    from dataclasses import replace

    from artvae.model.autoencoder import deepened

    cfg = TrainConfig.preset("tiny")
    torch.manual_seed(0)
    start = ArtVAE(replace(cfg.model, prior_width=8)).eval()
    for p in start.parameters():  # FiLM starts at zero: every weight must matter here
        p.data.normal_(0.0, 0.2)
    deep = deepened(start, (2, 3)).eval()
    assert len(deep.encoder.blocks4) == 2 and len(deep.encoder.blocks8) == 3
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        (s_old, w_old), (s_new, w_new) = start.encode(x * 2 - 1), deep.encode(x * 2 - 1)
    assert torch.allclose(s_new.mean, s_old.mean, atol=1e-5)
    assert torch.allclose(w_new.mean, w_old.mean, atol=1e-5)
    assert deep.prior is not None
    with pytest.raises(ValueError, match="more encoder blocks"):
        deepened(start, (1, 1))

    start.save_pretrained(tmp_path / "start")
    cfg = replace(cfg, steps=4, freeze_decoder=True, model=replace(cfg.model, enc_blocks=(2, 3)))
    train(cfg, corpus, tmp_path / "run", "cpu", init_from=tmp_path / "start")
    trained = torch.load(tmp_path / "run/last.pt", weights_only=True)["model"]
    assert trained["encoder.blocks8.2.conv2.weight"].abs().sum() > 0  # the new block in use


def test_anchor_pulls_reconstructions_towards_the_teachers_decodes():
    cfg = TrainConfig.preset("tiny")
    cfg.anchor_weight = 1.0
    torch.manual_seed(0)
    model = ArtVAE(cfg.model)
    a, b = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(2))

    def anchor_part(teacher: torch.nn.Module) -> float:
        torch.manual_seed(1)  # the same posterior samples for every teacher
        _, parts, *_ = generator_loss(CrossCrop(model, teacher=teacher), None, a, b, cfg,
                                      step=0, dtype=None)
        return parts["anchor"]

    same = copy.deepcopy(model.decoder).requires_grad_(False)
    assert anchor_part(same) == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(5)
    other = ArtVAE(cfg.model).decoder.requires_grad_(False)
    assert anchor_part(other) > 0.05

"""The prepared GPU run (`python -m artvae train-gpu`), dry-run on the CPU with tiny weights and
the tiny corpus: every phase runs, the export loads strictly with the wider map and noise
inputs, and running it again resumes instead of starting over."""

import json
from dataclasses import replace

import pytest
import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.model.hub import load_model
from artvae.train.autoencoder import TrainConfig, train
from artvae.train.gpu import PHASES, Budgets, Recipe, autoencoder_config, run

WIDE = 6  # the tiny weights' 4 structure channels, grown


@pytest.fixture(scope="module")
def tiny_start(tmp_path_factory):
    """Tiny weights with a prior and a corrector, as the bundled checkpoint has."""
    folder = tmp_path_factory.mktemp("start") / "weights"
    torch.manual_seed(0)
    ArtVAE(replace(ModelConfig.tiny(), prior_width=8, corrector_width=8,
                   corrector_passes=2)).save_pretrained(folder)
    return folder


def dry_run(corpus, out, start, **settings) -> Recipe:
    return Recipe(corpus, out, init_from=start, structure_channels=WIDE, preset="tiny",
                  device="cpu", **settings)


@pytest.fixture(scope="module")
def finished_run(corpus, tiny_start, tmp_path_factory):
    """One dry run of every phase, as `train-gpu --preset tiny` makes it."""
    recipe = dry_run(corpus, tmp_path_factory.mktemp("gpu") / "wide", tiny_start)
    run(recipe)
    return recipe


def test_dry_run_exports_a_wider_map_with_noise_inputs_that_loads_strictly(finished_run):
    final = finished_run.out / "final"
    model = load_model(str(final))  # strict: a missing or unexpected tensor is an error
    assert model.config.structure_channels == WIDE and model.config.noise_inputs
    assert model.prior is not None and model.corrector is not None  # both retrained
    assert model.config.corrector_passes == 2
    assert model.style_spread.min() > 0  # the export filled in the latent statistics
    code = model.encode(torch.rand(1, 3, 32, 32) * 2 - 1)[0].mode()
    assert code.shape[1] == WIDE
    state = json.loads((finished_run.out / "state.json").read_text())
    assert list(state["finished"]) == list(PHASES)
    assert state["final"] == str(final)


def test_the_autoencoder_phase_trains_the_noise_strengths(finished_run):
    state = torch.load(finished_run.out / "autoencoder/last.pt", weights_only=True)
    assert state["step"] == 4
    assert state["model"]["decoder.noise2.weight"].abs().sum() > 0  # zero at the start


def test_running_the_same_command_again_skips_the_finished_phases(finished_run, capsys):
    weights = finished_run.out / "final/model.safetensors"
    before = weights.stat().st_mtime_ns
    assert run(finished_run) == finished_run.out / "final"
    printed = capsys.readouterr().out
    assert all(f"{phase}: finished before, skipped" in printed for phase in PHASES)
    assert weights.stat().st_mtime_ns == before


def test_an_unfinished_phase_resumes_from_its_checkpoint(finished_run, capsys):
    """A machine taken back during the prior: the rerun skips the autoencoder and corrector,
    and the prior carries on from its last.pt (here already at its last step)."""
    state_file = finished_run.out / "state.json"
    state = json.loads(state_file.read_text())
    for phase in ("prior", "export"):
        del state["finished"][phase]
    state_file.write_text(json.dumps(state))
    autoencoder = (finished_run.out / "autoencoder/last.pt").stat().st_mtime_ns
    run(finished_run)
    printed = capsys.readouterr().out
    assert "autoencoder: finished before, skipped" in printed
    assert "resumed" in printed and "at step 4" in printed  # train_prior's own resume
    assert (finished_run.out / "autoencoder/last.pt").stat().st_mtime_ns == autoencoder
    assert list(json.loads(state_file.read_text())["finished"]) == list(PHASES)


def test_the_engine_serves_the_exported_weights(finished_run, monkeypatch):
    """The wider map with noise inputs through every path a person uses: reconstruct, blend,
    seeded samples from the retrained prior, tileable canvases and banded decoding."""
    from pathlib import Path

    import numpy as np

    from artvae.serve import engine as engine_module
    from artvae.serve.engine import Engine

    bricks = Path(__file__).resolve().parent.parent / "examples" / "bricks.png"
    engine = Engine(str(finished_run.out / "final"), "cpu")
    assert engine.reconstruct(bricks).size == engine.reconstruct(bricks, tileable=True).size
    assert engine.blend(bricks, bricks, 0.5).size[0] > 0
    first, again = (np.asarray(engine.sample(3, (64, 64), tileable=True)) for _ in range(2))
    assert (first == again).all()  # seeded samples stay reproducible with noise inputs
    monkeypatch.setattr(engine_module, "BANDED_PIXELS", 32 * 32)
    banded = np.asarray(engine.sample(3, (64, 64), tileable=True)).astype(int)
    assert np.abs(banded - first).max() <= 1  # the same image, decoded in bands


def test_a_rerun_with_another_map_width_is_refused(finished_run):
    with pytest.raises(ValueError, match="begun with"):
        run(replace(finished_run, structure_channels=WIDE + 2))


def test_the_h100_recipe_leaves_time_for_start_up_and_checkpoints_every_minute(tiny_start):
    assert sum(vars(Budgets()).values()) <= 8.5  # of the machine's 10 minutes
    start = ArtVAE.from_pretrained(tiny_start)
    cfg = autoencoder_config(Recipe(tiny_start, tiny_start), start)
    assert cfg.model == start.config and cfg.ckpt_minutes == 1.0
    assert cfg.gan_start - 500 <= 0 < cfg.gan_weight  # the critic learns from the first step
    assert cfg.crop == 256 and cfg.min_scale == 1.0  # pixels at the scale evaluate sees


def test_the_full_recipe_needs_a_gpu(corpus, tiny_start, tmp_path):
    with pytest.raises(ValueError, match="CUDA GPU"):
        run(replace(dry_run(corpus, tmp_path / "wide", tiny_start), preset="h100"))


def test_training_checkpoints_by_the_clock_as_well_as_by_steps(corpus, tmp_path, monkeypatch):
    """`ckpt_minutes`: a checkpoint at least that often, whatever `ckpt_every` says (a lent
    machine may be taken back at any minute)."""
    saved = []
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: (saved.append(obj["step"]),
                                                       real_save(obj, f)))
    cfg = replace(TrainConfig.preset("tiny"), steps=3, ckpt_every=100, val_every=100,
                  ckpt_minutes=0.0)
    train(cfg, corpus, tmp_path / "run", "cpu")
    assert saved == [1, 2, 3]

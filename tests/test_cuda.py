"""The CUDA path: the engine under bf16 autocast on a GPU, banded decoding, training and the
prior's training there, noise inputs, and the prepared GPU run as a dry run. Skipped where
PyTorch sees no GPU (CI has none); run on a lent GPU machine with `pytest tests/test_cuda.py`
(or `python -m artvae.gpu_check`, which runs it with the rest)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from artvae.model.autoencoder import ArtVAE
from artvae.ops import tiled
from artvae.ops.images import load_image
from artvae.serve.engine import Engine
from artvae.train.autoencoder import TrainConfig, train
from artvae.train.prior import PriorTrainConfig, train_prior

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Engine]:
    return Engine(device="cuda"), Engine(device="cpu", precision="float32")


def psnr_between(a, b) -> float:
    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    assert a.shape == b.shape
    return float(10 * np.log10(255**2 / max(np.mean((a - b) ** 2), 1e-10)))


def test_bundled_weights_on_cuda_match_the_cpu(engines):
    """bf16 on the GPU against float32 on the CPU, on the shipped weights: the same images to
    within rounding (a dtype or device mistake shows as a wreck, not a few levels)."""
    gpu, cpu = engines
    assert gpu.device.type == "cuda" and gpu.dtype == torch.bfloat16
    bricks, wood = (load_image(EXAMPLES / name) for name in ("bricks.png", "wood.png"))
    for run in (lambda e: e.reconstruct(bricks, tileable=True),
                lambda e: e.blend(bricks, wood, 0.4, mode="spatial"),
                lambda e: e.mix([bricks, wood], [1, 2], structure_from=0)):
        assert psnr_between(run(gpu), run(cpu)) > 35
    # seeded sampling and quilting choose between candidates that rounding may tip: they run
    for run in (lambda e: e.sample(3, size=(256, 256), tileable=True),
                lambda e: e.expand(bricks, size=(512, 512))):
        low, high = (np.asarray(run(e)) for e in (gpu, cpu))
        assert low.shape == high.shape and low.dtype == high.dtype == np.uint8


def test_banded_decode_on_cuda_is_the_decoders_image(engines, monkeypatch):
    """Banded decoding of a 1024 px tileable canvas on the GPU in float32 rounds to the untiled
    image's levels within 1."""
    gpu, _ = engines
    monkeypatch.setattr(tiled, "BAND_ELEMENTS", 1 << 18)
    code = gpu.encode(EXAMPLES / "bricks.png")
    structure = code.structure.repeat(1, 1, 2, 2).cuda()  # the engine keeps codes on the CPU
    style = code.style.cuda()
    with torch.inference_mode():
        plain = gpu.model.decode(structure, style, tileable=True)
        banded = tiled.decode(gpu.model.decoder, structure, style, tileable=True)
    levels = [(ArtVAE.to_image_range(x) * 255).round() for x in (plain, banded)]
    assert (levels[0] - levels[1]).abs().max().item() <= 1


def test_training_and_prior_training_run_on_cuda(corpus, tmp_path):
    """The bf16-autocast training step with crops made on the GPU, then the prior on its codes."""
    cfg = TrainConfig.preset("tiny")
    train(cfg, corpus, tmp_path / "run", "cuda")
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert state["step"] == cfg.steps
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    from artvae.train.export import export
    export(tmp_path / "run", tmp_path / "vae", corpus, device="cuda")
    out = train_prior(str(tmp_path / "vae"), corpus, tmp_path / "prior", tmp_path / "both",
                      PriorTrainConfig.preset("tiny"), device="cuda")
    model = ArtVAE.from_pretrained(out)
    assert model.prior is not None


def test_noise_inputs_draw_the_same_grain_on_cuda():
    """The noise fields are drawn on the CPU: a decode with noise inputs on the GPU is the CPU's
    image, whole and banded."""
    from dataclasses import replace

    from artvae.model.config import ModelConfig

    torch.manual_seed(0)
    model = ArtVAE(replace(ModelConfig.tiny(), noise_inputs=True)).eval()
    for p in model.parameters():
        p.data.normal_(0.0, 0.2)
    structure, style = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    with torch.inference_mode():
        cpu = model.decode(structure, style, tileable=True)
        model.cuda()
        gpu = model.decode(structure.cuda(), style.cuda(), tileable=True).cpu()
        banded = tiled.decode(model.decoder, structure.cuda(), style.cuda(), True).cpu()
    scale = cpu.abs().max()
    assert (gpu - cpu).abs().max() < 1e-3 * scale and (banded - cpu).abs().max() < 1e-3 * scale


def test_the_prepared_gpu_run_runs_on_cuda_as_a_dry_run(corpus, tmp_path):
    """`train-gpu --preset tiny` on CUDA: every phase in bf16 with crops cut on the GPU, a wider
    map with noise inputs at the end."""
    from dataclasses import replace

    from artvae.model.config import ModelConfig
    from artvae.train.gpu import PHASES, Recipe, run

    ArtVAE(replace(ModelConfig.tiny(), prior_width=8, corrector_width=8)).save_pretrained(
        tmp_path / "start")
    final = run(Recipe(corpus, tmp_path / "wide", tmp_path / "start", structure_channels=6,
                       preset="tiny", device="cuda"))
    model = ArtVAE.from_pretrained(final)
    assert model.config.structure_channels == 6 and model.config.noise_inputs
    state = (tmp_path / "wide" / "state.json").read_text()
    assert all(f'"{phase}"' in state for phase in PHASES)

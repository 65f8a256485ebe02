"""One prepared run for a lent GPU machine: a wider latent with grain, then the rest retrained.

    python -m artvae.data pack --data data/corpus --out data/pack   # here: <= 64 MiB to carry
    python -m artvae train-gpu --data data/pack --out runs/wide     # there; again to resume

Sized for 10 minutes of one H100, start-up included: the phases' time budgets (`Budgets`)
sum to 7.5 minutes of training and leave the rest for start-up, data loading and exports.
The phases, in order, each recorded in OUT/state.json when it finishes:

1. start: the starting weights (default: the bundled checkpoint) grown to a structure map of
   16 channels (`model.widened`) with noise inputs (`model.with_noise_inputs`). Both decode
   exactly as the old weights do, so training starts from today's model, not from scratch.
2. autoencoder: both halves trained on 256 px crops cut at full resolution, with the patch
   discriminator from the start (`train.train`), into OUT/autoencoder; checkpointed every
   minute.
3. autoencoder-export: the better of its EMA and raw weights, colour calibrated.
4. corrector: a fresh code corrector for the new codes (two passes, `train_corrector`).
5. prior: a fresh flow-matching prior over the new (corrected) structure maps (`train_prior`).
6. export: colour calibration and latent statistics refilled on the final codes: OUT/final,
   the folder to bring back (`--weights OUT/final`).

Running the same command again skips the finished phases; an unfinished one resumes from its
run folder's last.pt (each trainer's own resume) with its whole time budget again.

Why 16 channels and not a 1/4-resolution map (a prepared choice: the GPU-scale outcome has not
been measured). The gap to close is the 1-2 px grain (the model card: the finest Laplacian band
carries most of the SWD), and a 1/4-resolution map would say where grain goes at twice the
resolution. But it changes the architecture (a new decoder stage and encoder head with no
exact warm start, so the run would start from scratch, which 5 minutes cannot afford), it
quadruples the codes, the prior's work and the structure bank, and every latent operation
assumes maps at 1/8. Sixteen channels reuse `widened`: the run starts from the shipped model
at step 0, the decoder's cost grows only in its first convolution, and the CPU pilot at 16
channels (no discriminator) scored a little better than 8 on PSNR, SWD and sharpness, with
swaps alike. The noise inputs draw the
grain's placement from per-pixel noise, where the code cannot say it; the discriminator is
what teaches them to.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from artvae.model.autoencoder import ArtVAE, widened, with_noise_inputs
from artvae.model.device import pick_device
from artvae.model.hub import BUNDLED_WEIGHTS

from .autoencoder import TrainConfig, train
from .corrector import CorrectorTrainConfig, train_corrector
from .export import export
from .prior import PriorTrainConfig, train_prior

PHASES = ("start", "autoencoder", "autoencoder-export", "corrector", "prior", "export")
PACK_LIMIT_MIB = 64  # what a lent GPU machine takes along with the repository
STATE_FILE = "state.json"


@dataclass
class Budgets:
    """Minutes of training per phase: 7.5 in all, leaving 2.5 of the machine's 10 for
    start-up (a minute or more), data loading (each phase reads the pack), encoding the
    prior's crops and the two exports."""

    autoencoder: float = 5.0
    corrector: float = 1.25
    prior: float = 1.25


@dataclass
class Recipe:
    data: Path  # a corpus or a pack of one (`python -m artvae.data pack`)
    out: Path  # phases' run folders, state.json and final/
    init_from: Path = BUNDLED_WEIGHTS
    structure_channels: int = 16
    preset: str = "h100"  # "h100": the real run; "tiny": seconds on a CPU (tests, dry runs)
    device: str | None = None
    budgets: Budgets = field(default_factory=Budgets)
    # steps of each schedule (None: the preset's): the cosine decay should end near the budget
    autoencoder_steps: int | None = None
    corrector_steps: int | None = None
    prior_steps: int | None = None

    def folder(self, name: str) -> Path:
        """OUT/name: a training phase's run folder (autoencoder, corrector, prior), weights
        one exported (start, autoencoder-export, corrector-export, prior-export) or final."""
        return self.out / name


def autoencoder_config(recipe: Recipe, start: ArtVAE) -> TrainConfig:
    """The autoencoder phase's training settings, for the grown starting model `start`."""
    if recipe.preset == "tiny":
        cfg = replace(TrainConfig.preset("tiny"), steps=4, val_every=2, ckpt_every=2,
                      gan_start=2)
    else:
        # the card's GPU stages: 16 crop pairs, lr 1e-4-2e-4, the critic pushing from step 500.
        # Here 256 px crops cut at full resolution (the size and scale evaluate and the app see:
        # the card's stage-9 lesson), the critic from step 300 and learning from step 0 (its
        # warm-up starts 500 steps before), and 1,500 steps: what 5 minutes should hold at
        # twice the pixels of the H200's measured 11 steps/s for 32 pairs of 128 px.
        cfg = TrainConfig(crop=256, min_scale=1.0, batch_pairs=16, steps=1_500, lr=2e-4,
                          warmup_steps=100, gan_start=300, gan_weight=0.1, ema_decay=0.998,
                          val_every=250, ckpt_every=250)
    return replace(cfg, model=start.config, ckpt_minutes=1.0,
                   steps=recipe.autoencoder_steps or cfg.steps)


def corrector_config(recipe: Recipe) -> CorrectorTrainConfig:
    """The corrector phase's settings: the shipped corrector's recipe (two passes, detail
    weight 0.5), from scratch, 16 crops a step."""
    if recipe.preset == "tiny":
        cfg = replace(CorrectorTrainConfig.preset("tiny"), steps=4, val_every=2, ckpt_every=2)
    else:
        cfg = CorrectorTrainConfig(batch=16, steps=1_500, ckpt_every=100)
    return replace(cfg, passes=2, detail_weight=0.5, steps=recipe.corrector_steps or cfg.steps)


def prior_config(recipe: Recipe) -> PriorTrainConfig:
    """The prior phase's settings: the shipped prior's, from 8,000 encoded crops (12,000 at
    16 channels would be 0.8 GB of codes and more encoding time than the budget has)."""
    cfg = (replace(PriorTrainConfig.preset("tiny"), steps=4, ckpt_every=2)
           if recipe.preset == "tiny" else PriorTrainConfig(crops=8_000))
    return replace(cfg, steps=recipe.prior_steps or cfg.steps)


# ---- the phases: each reads the folders of the ones before it --------------------------------


def grow_start(recipe: Recipe) -> None:
    """The starting weights with the wider map and noise inputs, decoding as they did."""
    model = ArtVAE.from_pretrained(recipe.init_from)
    channels = model.config.structure_channels
    if recipe.structure_channels < channels:
        raise ValueError(f"{recipe.init_from} has {channels} structure channels: "
                         f"--structure-channels can only grow them")
    if recipe.structure_channels > channels:
        model = widened(model, recipe.structure_channels)  # drops the prior and corrector
    with_noise_inputs(model).save_pretrained(recipe.folder("start"))


def train_autoencoder(recipe: Recipe) -> None:
    start = ArtVAE.from_pretrained(recipe.folder("start"))
    train(autoencoder_config(recipe, start), recipe.data, recipe.folder("autoencoder"),
          recipe.device, init_from=recipe.folder("start"), minutes=recipe.budgets.autoencoder)


def export_autoencoder(recipe: Recipe) -> None:
    export(recipe.folder("autoencoder"), recipe.folder("autoencoder-export"), recipe.data,
           recipe.device)


def train_new_corrector(recipe: Recipe) -> None:
    train_corrector(str(recipe.folder("autoencoder-export")), recipe.data,
                    recipe.folder("corrector"), recipe.folder("corrector-export"),
                    corrector_config(recipe), recipe.device, recipe.budgets.corrector)


def train_new_prior(recipe: Recipe) -> None:
    train_prior(str(recipe.folder("corrector-export")), recipe.data, recipe.folder("prior"),
                recipe.folder("prior-export"), prior_config(recipe), recipe.device,
                recipe.budgets.prior)


def export_final(recipe: Recipe) -> None:
    export(None, recipe.folder("final"), recipe.data, recipe.device,
           weights=recipe.folder("prior-export"))


STEPS = {"start": grow_start, "autoencoder": train_autoencoder,
         "autoencoder-export": export_autoencoder, "corrector": train_new_corrector,
         "prior": train_new_prior, "export": export_final}


# ---- the run: phase by phase, resumable ------------------------------------------------------


def read_state(out: Path) -> dict:
    """OUT/state.json: the recipe a run began with and its finished phases ({} if new)."""
    path = out / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_state(out: Path, state: dict) -> None:
    (out / f"{STATE_FILE}.tmp").write_text(json.dumps(state, indent=1))
    (out / f"{STATE_FILE}.tmp").replace(out / STATE_FILE)  # never half-written


def _identity(recipe: Recipe) -> dict:
    """What fixes a run's architecture and data: a rerun must keep it to resume."""
    return {"init_from": str(Path(recipe.init_from).resolve()), "preset": recipe.preset,
            "structure_channels": recipe.structure_channels,
            "data": str(Path(recipe.data).resolve())}


def folder_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def run(recipe: Recipe) -> Path:
    """Run the phases not yet finished in recipe.out; returns the final weights' folder."""
    device = pick_device(recipe.device)
    if device.type != "cuda" and recipe.preset != "tiny":
        raise ValueError(f"train-gpu's recipe is sized for one H100, and this machine offers "
                         f"{device.type}: run it where PyTorch sees a CUDA GPU, or try it "
                         f"here as a dry run with --preset tiny")
    recipe.out.mkdir(parents=True, exist_ok=True)
    state = read_state(recipe.out)
    began = state.setdefault("recipe", _identity(recipe))
    if began != _identity(recipe):
        raise ValueError(f"{recipe.out} holds a run begun with {began}; resume it with those "
                         f"settings or pass another --out")
    mib = folder_mib(recipe.data)
    print(f"data: {recipe.data}, {mib} MiB" + (
        f" (over the {PACK_LIMIT_MIB} MiB a lent machine takes: "
        f"`python -m artvae.data pack`)" if mib > PACK_LIMIT_MIB else ""))
    state.update(budgets=asdict(recipe.budgets), device=str(device), data_mib=mib)
    finished = state.setdefault("finished", {})
    for phase in PHASES:
        if phase in finished:
            print(f"[train-gpu] {phase}: finished before, skipped")
            continue
        print(f"[train-gpu] {phase} ...", flush=True)
        started = time.monotonic()
        STEPS[phase](recipe)
        finished[phase] = {"seconds": round(time.monotonic() - started, 1),
                           "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        finished[phase].update(_last_scores(recipe, phase))
        _write_state(recipe.out, state)
    final = recipe.folder("final")
    state["final"] = str(final)
    _write_state(recipe.out, state)
    print(f"[train-gpu] done: {final} (evaluate it: python -m artvae evaluate --weights "
          f"{final} --data data/corpus)")
    return final


def _last_scores(recipe: Recipe, phase: str) -> dict:
    """The last validation line a training phase logged (for state.json and the check's
    report), or nothing."""
    log = recipe.folder(phase) / "metrics.jsonl"
    if phase not in ("autoencoder", "corrector", "prior") or not log.is_file():
        return {}
    lines = log.read_text().splitlines()
    return {"last_metrics": json.loads(lines[-1])} if lines else {}

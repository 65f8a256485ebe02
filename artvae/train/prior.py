"""Train the learned prior over structure maps (`prior.py`) on a frozen autoencoder's codes.

    python -m artvae train-prior --data data/corpus --run-dir runs/prior

1. Encodes random 256 px crops of the training split once (two crops per draw, the autoencoder's
   own crop sampler), into `run_dir/codes.pt`: posterior-mean structure maps (N, C_s, 32, 32) and
   styles (N, D_w). Held-out crops are encoded too, for the validation loss.
2. Trains v(x, t, w) by flow matching; an EMA of its weights is validated and `run_dir/last.pt`
   written every `ckpt_every` steps and at a time limit; the same command resumes from it.
3. Exports the autoencoder with the prior's EMA weights and a bank of 256 training styles as one
   checkpoint: the prior belongs to the latent it was trained on.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from artvae.model.autoencoder import ArtVAE
from artvae.model.device import pick_device
from artvae.model.prior import STYLE_BANK, StructurePrior, flow_matching_loss

from .autoencoder import TextureCrops, accumulate


@dataclass
class PriorTrainConfig:
    width: int = 32  # first-level channels; the U-Net doubles and triples it below
    crops: int = 12_000  # training crops encoded once (the codes are cheap to keep: 8x32x32)
    val_crops: int = 512  # held-out crops for the validation loss
    batch: int = 64
    steps: int = 6_000
    lr: float = 1e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999
    ckpt_every: int = 250
    seed: int = 0

    @classmethod
    def preset(cls, name: str) -> PriorTrainConfig:
        """`default` trains the shipped prior; `tiny` runs in seconds for tests."""
        if name == "default":
            return cls()
        if name == "tiny":
            return cls(width=8, crops=16, val_crops=4, batch=4, steps=20, warmup_steps=2,
                       ckpt_every=10)
        raise ValueError(f"unknown preset {name!r}: use 'default' or 'tiny'")


@torch.inference_mode()
def encode_crops(model: ArtVAE, data: Path, split: str, count: int, side: int,
                 generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """Posterior means of `count` random crops: {"maps": (N, C_s, side/8, side/8), "styles":
    (N, D_w)}, on the CPU."""
    crops = TextureCrops(data, split, max_side=512, device=device)
    maps, styles = [], []
    with tqdm(total=count, desc=f"encoding {split} crops", unit="crop") as bar:
        while sum(len(m) for m in maps) < count:
            a, b = crops.pairs(8, side, generator)
            q_s, q_w = model.encode(torch.cat([a, b]).to(device))
            maps.append(q_s.mode().cpu())
            styles.append(q_w.mode().cpu())
            bar.update(len(a) + len(b))
    return {"maps": torch.cat(maps)[:count], "styles": torch.cat(styles)[:count]}


def load_codes(model: ArtVAE, data: Path, run_dir: Path, cfg: PriorTrainConfig,
               device: torch.device) -> dict[str, dict[str, torch.Tensor]]:
    """The run's encoded crops, made once and kept in run_dir/codes.pt."""
    path = run_dir / "codes.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    generator = torch.Generator().manual_seed(cfg.seed)
    codes = {
        "train": encode_crops(model, data, "train", cfg.crops, 256, generator, device),
        "val": encode_crops(model, data, "val", cfg.val_crops, 256, generator, device),
    }
    torch.save(codes, path)
    return codes


def trained_state(prior: StructurePrior) -> dict[str, torch.Tensor]:
    """The prior's weights without the style bank, which export fills in from the codes."""
    return {k: v for k, v in prior.state_dict().items() if not k.startswith("style_")}


def load_trained(prior: StructurePrior, state: dict[str, torch.Tensor]) -> None:
    """Load weights saved by `trained_state` strictly (statistics of earlier versions, also
    named style_*, are skipped)."""
    weights = {k: v for k, v in state.items() if not k.startswith("style_")}
    missing, unexpected = prior.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.startswith("style_")]
    if missing or unexpected:
        raise KeyError(f"prior weights do not match: missing {missing[:5]}, "
                       f"unexpected {unexpected[:5]}")


def lr_at(step: int, cfg: PriorTrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def validation_loss(prior: StructurePrior, codes: dict[str, torch.Tensor]) -> float:
    """Flow-matching loss on held-out codes at fixed noise and times (comparable across steps)."""
    generator = torch.Generator().manual_seed(1)
    device = next(prior.parameters()).device
    losses = [flow_matching_loss(prior, maps.to(device), styles.to(device), generator, 0.0)
              for maps, styles in zip(codes["maps"].split(64), codes["styles"].split(64),
                                      strict=True)]
    return torch.stack(losses).mean().item()


def style_bank(styles: torch.Tensor, size: int = STYLE_BANK) -> torch.Tensor:
    """`size` styles evenly spaced over the training codes (all of them when fewer): (size, D);
    short banks repeat."""
    picks = torch.linspace(0, len(styles) - 1, size).round().long()
    return styles[picks]


def train_prior(weights, data: Path, run_dir: Path, out: Path, cfg: PriorTrainConfig,
                device: str | None = None, minutes: float | None = None,
                warm_start: bool = False) -> Path:
    """Train (or resume) the prior of the autoencoder at `weights` (any `load_model` spec) on
    `data`; export the autoencoder with it to `out`. Returns `out`. With `warm_start`, a new
    run starts from the prior the weights already carry (after a fine-tune of the encoder has
    moved the codes a little) instead of from random weights."""
    from artvae.model.hub import load_model

    target = pick_device(device)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    vae = load_model(weights).to(target).eval()
    codes = load_codes(vae, data, run_dir, cfg, target)
    train_maps, train_styles = codes["train"]["maps"], codes["train"]["styles"]

    torch.manual_seed(cfg.seed)
    prior = StructurePrior(vae.config.structure_channels, vae.config.style_dim, cfg.width)
    prior = prior.to(target)
    ema = copy.deepcopy(prior).eval().requires_grad_(False)
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    step = 0
    last = run_dir / "last.pt"
    if warm_start and not last.exists():
        if vae.prior is None or vae.prior.stem.out_channels != cfg.width:
            raise ValueError(f"{weights} carries no prior of width {cfg.width} to start from")
        load_trained(prior, trained_state(vae.prior))
        load_trained(ema, trained_state(vae.prior))
        print(f"starting from the prior of {weights}")
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        load_trained(prior, state["prior"])
        load_trained(ema, state["ema"])
        opt.load_state_dict(state["opt"])
        generator.set_state(state["generator"])
        step = state["step"]
        print(f"resumed {run_dir} at step {step}")

    def save() -> None:
        torch.save({"prior": trained_state(prior), "ema": trained_state(ema),
                    "opt": opt.state_dict(), "generator": generator.get_state(), "step": step},
                   run_dir / "last.pt.tmp")
        (run_dir / "last.pt.tmp").replace(last)

    started = time.monotonic()
    log = (run_dir / "metrics.jsonl").open("a")
    bar = tqdm(total=cfg.steps, initial=step, desc="prior", unit="step")
    while step < cfg.steps:
        pick = torch.randint(len(train_maps), (cfg.batch,), generator=generator)
        maps = train_maps[pick]
        # the maps are stationary textures' layouts: flips and half-turns are more of the same
        if torch.rand(1, generator=generator).item() < 0.5:
            maps = maps.flip(-1)
        shift = torch.randint(maps.shape[-1], (2,), generator=generator).tolist()
        maps = maps.roll(shift, dims=(-2, -1))  # the network sees a torus: no position is special
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = flow_matching_loss(prior, maps.to(target), train_styles[pick].to(target),
                                  generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
        opt.step()
        accumulate(ema, prior, cfg.ema_decay if step > cfg.warmup_steps else 0.0)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        out_of_time = minutes is not None and time.monotonic() - started > 60 * minutes
        if step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time:
            val = validation_loss(ema, codes["val"])
            log.write(json.dumps({"step": step, "loss": loss.item(), "val_loss": val}) + "\n")
            log.flush()
            tqdm.write(f"step {step}: train {loss.item():.4f}, held-out {val:.4f}")
            save()
        if out_of_time:
            print(f"stopped after {minutes} minutes at step {step}: run the same command to "
                  f"resume")
            break
    bar.close()
    return export_prior(vae, ema, train_styles, out)


def export_prior(vae: ArtVAE, prior: StructurePrior, styles: torch.Tensor, out: Path) -> Path:
    """The autoencoder with `prior` (and a bank of the training styles) saved as one
    checkpoint."""
    width = prior.stem.out_channels
    model = ArtVAE(replace(vae.config, prior_width=width))
    own = {k: v for k, v in vae.state_dict().items() if not k.startswith("prior.")}
    missing, unexpected = model.load_state_dict(own, strict=False)
    if unexpected or any(not k.startswith("prior.") for k in missing):
        raise KeyError(f"autoencoder weights do not fit: {missing[:5]} {unexpected[:5]}")
    load_trained(model.prior, trained_state(prior))
    model.prior.style_bank.copy_(style_bank(styles))
    model.cpu().save_pretrained(out)
    print(f"exported the autoencoder with its prior (width {width}) to {out}")
    return Path(out)

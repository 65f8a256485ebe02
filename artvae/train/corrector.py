"""Train the code corrector (`corrector.py`) on a frozen autoencoder.

    python -m artvae train-corrector --data data/corpus --run-dir runs/corrector

Each step cuts 256 px crops of training textures at full resolution (as the app sees pixels),
encodes them, decodes the codes, lets the corrector move them and decodes again; the loss is
`refine.py`'s objective on that second decode (L1, SSIM, Fourier amplitude, mean PSNR and the
local-detail term), so the corrector learns in one look what refining's gradient steps find.
With `--passes N` the corrector moves the code N times (its own weights each time, unrolled
in training: the first pass learns to leave the next a code it can improve); a model that
already has a corrector of the same width trains it on from where it is. Only the corrector
trains: the encoder, decoder and prior stay as they are (a prior trained on
the encoder's codes stays about as valid as it is on refined ones). An EMA of its weights is
validated on held-out crops every `val_every` steps; `run_dir/last.pt` is written every
`ckpt_every` steps and at a time limit, and the same command resumes from it. The end writes
the autoencoder with the EMA corrector to `--out` (to export a stopped run as it stands, run
the same command with `--steps` at its checkpoint's step).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from artvae.model.autoencoder import ArtVAE
from artvae.model.device import autocast_dtype, pick_device
from artvae.ops.refine import DETAIL_WEIGHT, refine_loss

from .autoencoder import TextureCrops, accumulate, lr_at, prefetched, validate
from .data import centre_crops, load_split


@dataclass
class CorrectorTrainConfig:
    width: int = 64  # channels at 1/4 resolution (twice that at 1/8), as the encoder's
    crop: int = 256  # full-resolution crops: the style pools statistics of the whole crop
    batch: int = 8  # crops per step
    steps: int = 3_000
    lr: float = 3e-4
    warmup_steps: int = 100
    ema_decay: float = 0.998
    val_every: int = 250
    ckpt_every: int = 100
    val_images: int = 24  # held-out textures scored (centre 256 px crops)
    max_side: int = 512  # textures are held in memory at most this large
    seed: int = 0
    passes: int = 1  # corrector passes per encode, trained unrolled (ModelConfig.corrector_passes)
    detail_weight: float = DETAIL_WEIGHT  # weight of `reconstruction.detail_loss` (refining's)

    @classmethod
    def preset(cls, name: str) -> CorrectorTrainConfig:
        """`default` trains the shipped corrector; `tiny` runs in seconds for tests."""
        if name == "default":
            return cls()
        if name == "tiny":
            return cls(width=8, crop=32, batch=4, steps=12, warmup_steps=2, val_every=6,
                       ckpt_every=6, val_images=2, max_side=64)
        raise ValueError(f"unknown preset {name!r}: use 'default' or 'tiny'")


def with_corrector(vae: ArtVAE, width: int, seed: int, passes: int = 1) -> ArtVAE:
    """`vae` with a fresh corrector of `width` (its changes start at zero: same codes), or
    `vae` itself when it already has one of that width (a warm start: trained on for
    `passes`); everything but the corrector frozen."""
    fresh = vae.corrector is None or vae.config.corrector_width != width
    if fresh or vae.config.corrector_passes != passes:
        # rebuilt rather than edited: the saved config.json is the one the model was built with
        torch.manual_seed(seed)
        grown = ArtVAE(replace(vae.config, corrector_width=width, corrector_passes=passes))
        own = {k: v for k, v in vae.state_dict().items()
               if not (fresh and k.startswith("corrector."))}
        missing, unexpected = grown.load_state_dict(own, strict=False)
        if unexpected or any(not k.startswith("corrector.") for k in missing):
            raise KeyError(f"autoencoder weights do not fit: {missing[:5]} {unexpected[:5]}")
        vae = grown
    vae.requires_grad_(False)
    vae.corrector.requires_grad_(True)
    return vae


def corrector_loss(model: ArtVAE, x: torch.Tensor, dtype: torch.dtype | None,
                   detail_weight: float = DETAIL_WEIGHT) -> torch.Tensor:
    """`refine_loss` of the decode of the corrected codes of images `x` (B, 3, H, W) in
    [-1, 1], after `model.config.corrector_passes` passes (unrolled: the first pass learns to
    leave the second a code it can improve). Gradients reach the corrector only (through the
    frozen decoder)."""
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
        with torch.no_grad():
            q_s, q_w = model.guess(x)
        y = model.decode(*model.corrected_passes(x, q_s.mean, q_w.mean))
    return refine_loss(y.float(), x.float(), detail_weight)


def train_corrector(weights, data: Path, run_dir: Path, out: Path, cfg: CorrectorTrainConfig,
                    device: str | None = None, minutes: float | None = None) -> Path:
    """Train (or resume) a corrector for the autoencoder at `weights` (any `load_model` spec)
    on `data`; export the autoencoder with it to `out`. Returns `out`."""
    from artvae.model.hub import load_model

    target = pick_device(device)
    dtype = None if target.type == "mps" else autocast_dtype(target)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    model = with_corrector(load_model(weights), cfg.width, cfg.seed, cfg.passes).to(target)
    layout = torch.channels_last if target.type == "cpu" else torch.contiguous_format
    model = model.to(memory_format=layout)  # oneDNN convs run ~2x faster channels-last
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.corrector.parameters(), lr=cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    step = 0
    last = run_dir / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        model.corrector.load_state_dict(state["corrector"])
        ema.corrector.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        generator.set_state(state["generator"])
        step = state["step"]
        print(f"resumed {run_dir} at step {step}")

    def save() -> None:
        torch.save({"corrector": model.corrector.state_dict(),
                    "ema": ema.corrector.state_dict(), "opt": opt.state_dict(),
                    "generator": generator.get_state(), "step": step}, run_dir / "last.pt.tmp")
        (run_dir / "last.pt.tmp").replace(last)

    textures = TextureCrops(data, "train", cfg.max_side, target)
    val_crops = centre_crops(load_split(data, "val", cfg.max_side)[: cfg.val_images],
                             cfg.crop).to(target)
    if step == 0:
        before = validate(ema, val_crops)
        print(f"before: {before}")
    # a pair is two crops of one texture: half the batch's textures, twice over
    batches = prefetched(lambda: textures.pairs(cfg.batch // 2, cfg.crop, generator, 1.0))
    started = time.monotonic()
    log = (run_dir / "metrics.jsonl").open("a")
    bar = tqdm(total=cfg.steps, initial=step, desc="corrector", unit="step")
    while step < cfg.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        x = torch.cat(next(batches)).to(target, memory_format=layout)
        loss = corrector_loss(model, x, dtype, cfg.detail_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.corrector.parameters(), 1.0)
        opt.step()
        accumulate(ema.corrector, model.corrector,
                   cfg.ema_decay if step > cfg.warmup_steps else 0.0)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        out_of_time = minutes is not None and time.monotonic() - started > 60 * minutes
        if step % cfg.val_every == 0 or step == cfg.steps:
            scores = validate(ema, val_crops)
            log.write(json.dumps({"step": step, "loss": loss.item(), "val": scores}) + "\n")
            log.flush()
            tqdm.write(f"step {step}: train {loss.item():.4f}, held-out {scores}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time:
            save()
        if out_of_time:
            print(f"stopped after {minutes} minutes at step {step}: run the same command to "
                  f"resume")
            break
    bar.close()
    return export_corrector(ema, out)


def export_corrector(model: ArtVAE, out: Path) -> Path:
    """The autoencoder with its corrector saved as one checkpoint (a model card there stays).
    The latent statistics were filled in on the uncorrected codes: refill them with
    `python -m artvae export --weights OUT --out OUT` after a corrector changes the codes."""
    model.cpu().float().eval().save_pretrained(out)
    print(f"exported the autoencoder with its corrector (width "
          f"{model.config.corrector_width}) to {out}")
    return Path(out)

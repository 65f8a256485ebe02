"""Training: the cross-crop two-level objective, in one process or many under torchrun (DDP).

Two crops A and B of one texture share a look, so the decoder must rebuild B from its own
structure and A's style as well as from its own: `w` is pushed to hold the look and `s` the layout.
Each step decodes (s_A, w_A) -> A and (s_B, w_A) -> B for a batch of crop pairs. Losses: L1,
SSIM, Fourier amplitude, mean PSNR, block-mean colour, a KL per latent level, and a patch
discriminator after a warm-up. An EMA of the weights is what gets validated and exported. The
run folder holds `last.pt` (resumable), `metrics.jsonl` and sample grids.
`torchrun --nproc_per_node N -m artvae train ...` runs the same code data-parallel (gloo on
CPU, nccl on CUDA). It uses bf16 autocast where inference would (`device.autocast_dtype`: CUDA,
and CPUs with native bf16, where a step is faster; $ARTVAE_PRECISION=float32 turns it off).
"""

from __future__ import annotations

import copy
import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from artvae.model.autoencoder import ArtVAE, deepened, widened
from artvae.model.config import ModelConfig
from artvae.model.device import autocast_dtype, pick_device
from artvae.ops.images import save_png, tensor_to_image
from artvae.ops.metrics import colour_transfer, layout_kept, psnr, sharpness, ssim, style_transfer
from artvae.ops.reconstruction import reconstruction_loss

from .data import centre_crops, load_split
from .losses import (
    PatchDiscriminator,
    d_hinge_loss,
    g_hinge_loss,
    lattice_loss,
    layout_cycle_loss,
    sliced_patch_loss,
    style_cycle_loss,
)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    crop: int = 128  # training crop side; the model is fully convolutional, so any size decodes
    # crops are cut at a random scale in [min_scale, 1] of the held texture and resized to `crop`:
    # 1.0 trains on pixels as they come (as inference sees them)
    min_scale: float = 0.5
    batch_pairs: int = 8  # crop pairs per step and process (2x images through the encoder)
    steps: int = 20_000
    lr: float = 5e-4
    warmup_steps: int = 300
    kl_structure: float = 1e-3  # per nat per pixel: weak, keeps detail (as in latent diffusion)
    kl_style: float = 2e-5  # per nat per image: keeps styles near the prior for "explore"
    ssim_weight: float = 0.5
    fourier_weight: float = 0.5
    psnr_weight: float = 0.0  # per dB of mean PSNR; 0.01 pulls about as hard as L1 at 30 dB
    colour_weight: float = 0.0  # L1 of 8x8 block means: colour drift under busy detail
    swap_weight: float = 1.0  # patch statistics of D(s_A, w_B) against B's (0: no swaps)
    style_cycle_weight: float = 0.1  # E_w(D(s_A, w_B)) must come back as w_B
    layout_cycle_weight: float = 0.1  # E_s(D(s_A, w_B)) must come back as s_A
    # grid energy of swaps beyond their style source's (`losses.lattice_loss`): a textured style
    # on a smooth layout drew the decoder's 8-px cells as a waffle
    lattice_weight: float = 0.0
    # share of each batch's swap layouts that are smooth (a crop averaged 8x down and back up):
    # the case that draws the waffle, rare among training crops
    smooth_swaps: float = 0.0
    # L1 + SSIM + Fourier of each reconstruction against a frozen teacher decoder's of the same
    # code (`train(anchor_from=...)`): a fine-tune for the swaps keeps the reconstructions the
    # teacher drew, sharpness its adversarial training gave them included
    anchor_weight: float = 0.0
    gan_start: int = 4_000  # the discriminator joins after the reconstruction has settled
    gan_weight: float = 0.05
    freeze_encoder: bool = False  # train the decoder alone: codes (and a prior on them) stay valid
    # train the encoder alone, each crop from its own posterior mean and without the KL terms:
    # it learns the codes this decoder rebuilds best (`refine.py` showed the gap: +3 dB)
    freeze_decoder: bool = False
    ema_decay: float = 0.999
    val_every: int = 500
    ckpt_every: int = 250
    ckpt_minutes: float | None = None  # also checkpoint this often (a lent machine may go)
    val_images: int = 24  # validation textures scored (centre 256 px crops)
    max_side: int = 512  # textures are held in memory at most this large
    seed: int = 0

    @classmethod
    def preset(cls, name: str) -> TrainConfig:
        """`default` trains the shipped model; `tiny` runs in seconds for tests."""
        if name == "default":
            return cls()
        if name == "tiny":
            return cls(
                model=ModelConfig.tiny(),
                crop=32,
                batch_pairs=2,
                steps=20,
                warmup_steps=2,
                gan_start=10,
                val_every=10,
                ckpt_every=10,
                val_images=2,
                max_side=64,
            )
        raise ValueError(f"unknown preset {name!r}: use 'default' or 'tiny'")


class TextureCrops:
    """Training textures in memory; draws pairs of crops of one texture at a random scale.
    On a GPU the textures are held there and cropped and resized there: one CPU thread cannot
    resample crops as fast as an accelerator trains on them."""

    def __init__(self, folder: Path, split: str, max_side: int,
                 device: torch.device | None = None):
        keep = device if device is not None and device.type == "cuda" else None
        self.images = [x.to(keep) for x in load_split(folder, split, max_side)]  # (3, H, W) u8

    def pairs(self, n: int, crop: int, generator: torch.Generator,
              min_scale: float = 0.5) -> tuple[torch.Tensor, ...]:
        """Two (n, 3, crop, crop) batches in [-1, 1]; row i of both comes from one texture."""
        a, b = [], []
        for _ in range(n):
            image = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
            side = min(image.shape[1:])
            scale = float(torch.empty(1).uniform_(min_scale, 1.0, generator=generator))
            window = max(min(side, round(crop / scale)), 8)
            flip, turns = torch.randint(2, (2,), generator=generator).tolist()
            for out in (a, b):
                top = int(torch.randint(image.shape[1] - window + 1, (1,), generator=generator))
                left = int(torch.randint(image.shape[2] - window + 1, (1,), generator=generator))
                patch = image[:, top : top + window, left : left + window].float() / 127.5 - 1
                patch = F.interpolate(
                    patch[None],
                    size=(crop, crop),
                    mode="bilinear",
                    antialias=True,
                    align_corners=False,
                )[0]
                patch = patch.flip(-1) if flip else patch
                out.append(torch.rot90(patch, turns * 2, dims=(1, 2)))  # same look for both
        return torch.stack(a), torch.stack(b)


def smoothed(images: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Images averaged `factor` times down and bilinearly back up: a smooth layout (a sky, a
    soft gradient) with the images' colours and broad shapes. (B, 3, H, W) -> same."""
    return F.interpolate(F.avg_pool2d(images, factor), size=images.shape[-2:], mode="bilinear",
                         align_corners=False)


def prefetched(make: Callable[[], tuple[torch.Tensor, ...]], depth: int = 4) -> Iterator:
    """Batches from `make`, made `depth` ahead on a background thread: cropping runs on the CPU
    while the accelerator trains (torch's resampling releases the GIL). Calls stay in order,
    so a seeded `make` gives the same stream as calling it in the loop."""
    batches: queue.Queue = queue.Queue(maxsize=depth)

    def produce() -> None:
        while True:
            batches.put(make())

    threading.Thread(target=produce, daemon=True).start()
    while True:
        yield batches.get()


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def accumulate(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)


class CrossCrop(torch.nn.Module):
    """The training forward pass, one module so DistributedDataParallel can wrap it."""

    def __init__(self, model: ArtVAE, swaps: bool = True, means: bool = False,
                 smooth_swaps: float = 0.0, teacher: torch.nn.Module | None = None):
        super().__init__()
        self.model = model
        self.teacher = teacher  # a frozen decoder the reconstructions are anchored to
        self.swaps = swaps
        self.means = means  # decode the posterior means, as inference does, not samples
        self.smooth_swaps = smooth_swaps

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Crop pairs (n, 3, c, c) -> reconstructions of [a; b] (2n, 3, c, c), KL_s, KL_w (2n,)
        and, with swaps, the decodes of each layout of `a` in the style of the previous row's
        texture, with their re-encoded style and structure and what those should come back as."""
        n = a.shape[0]
        q_s, q_w = self.model.guess(torch.cat([a, b]))  # the encoder's own codes: it trains
        if self.means:
            # the decoder is frozen and already takes the look from the style: each crop is
            # rebuilt from its own code, the code inference (and `refine`) decodes
            structure, style = q_s.mode(), q_w.mode()
            style_a = style[:n]
        else:
            structure, style_a = q_s.sample(), q_w.sample()[:n]
            # (s_A, w_A) -> A and (s_B, w_A) -> B: the style of A must carry B's look too
            style = torch.cat([style_a, style_a])
        out = {"recon": self.model.decode(structure, style), "kl_s": q_s.kl(), "kl_w": q_w.kl()}
        if self.teacher is not None:
            with torch.no_grad():
                out["anchor"] = self.teacher(structure, style)
        if self.swaps and n > 1:
            # row i's layout in row i-1's style: a different texture, so the structure map
            # cannot pass the look on; the loss judges the patch statistics against b[i-1]
            layouts, styles = structure[:n], style_a.roll(1, dims=0)
            given_structure, sources = q_s.mean[:n], torch.arange(n, device=a.device)
            smooth = round(n * self.smooth_swaps)
            if smooth:  # the first rows' layouts again, smoothed, in the same styles
                q_smooth, _ = self.model.guess(smoothed(a[:smooth]))
                layouts = torch.cat([layouts, q_smooth.sample()])
                styles = torch.cat([styles, styles[:smooth]])
                given_structure = torch.cat([given_structure, q_smooth.mean])
                sources = torch.cat([sources, sources[:smooth]])
            swapped = self.model.decode(layouts, styles)
            q_s_swap, q_w_swap = self.model.guess(swapped)
            out.update(swapped=swapped, swap_style=q_w_swap.mean, swap_structure=q_s_swap.mean,
                       given_style=q_w.mean[:n].roll(1, dims=0)[sources],
                       given_structure=given_structure, swap_sources=sources)
        return out


def generator_loss(net, disc, a, b, cfg: TrainConfig, step: int, dtype) -> tuple:
    """Loss of the VAE on a batch of crop pairs; also returns parts, the decodes the
    discriminator should see as fakes, and the real images."""
    with torch.autocast(a.device.type, dtype=dtype, enabled=dtype is not None):
        out = net(a, b)
    recon, target = out["recon"].float(), torch.cat([a, b])
    loss, parts = reconstruction_loss(
        recon, target, cfg.ssim_weight, cfg.fourier_weight, cfg.psnr_weight,
        cfg.colour_weight
    )
    kl_s = out["kl_s"].float().mean() / (target.shape[-1] * target.shape[-2])  # nats per pixel
    kl_w = out["kl_w"].float().mean()  # nats per image
    if not cfg.freeze_decoder:  # on means, the KL would only pull the codes (and no variances)
        loss = loss + cfg.kl_structure * kl_s + cfg.kl_style * kl_w
    parts.update(kl_s=kl_s.item(), kl_w=kl_w.item())
    if "anchor" in out:
        anchor, _ = reconstruction_loss(recon, out["anchor"].float(), cfg.ssim_weight,
                                        cfg.fourier_weight)
        loss = loss + cfg.anchor_weight * anchor
        parts["anchor"] = anchor.item()
    fakes = recon
    if "swapped" in out:
        swapped = out["swapped"].float()
        # judged against the *other* crop of the style's texture: statistics, not pixels
        style_images = b.roll(1, dims=0)[out["swap_sources"]]
        swap = sliced_patch_loss(swapped, style_images)
        style_cycle = style_cycle_loss(out["swap_style"].float(), out["given_style"].float())
        layout_cycle = layout_cycle_loss(
            out["swap_structure"].float(), out["given_structure"].float())
        loss = (loss + cfg.swap_weight * swap + cfg.style_cycle_weight * style_cycle
                + cfg.layout_cycle_weight * layout_cycle)
        parts.update(swap=swap.item(), style_cycle=style_cycle.item(),
                     layout_cycle=layout_cycle.item())
        if cfg.lattice_weight:
            lattice = lattice_loss(swapped, style_images)
            loss = loss + cfg.lattice_weight * lattice
            parts["lattice"] = lattice.item()
        fakes = torch.cat([recon, swapped])
    if step >= cfg.gan_start:
        with torch.autocast(a.device.type, dtype=dtype, enabled=dtype is not None):
            g_loss = g_hinge_loss(disc(fakes).float())
        ramp = min(1.0, (step - cfg.gan_start) / 1000)
        loss = loss + cfg.gan_weight * ramp * g_loss
        parts["g"] = g_loss.item()
    return loss, parts, fakes.detach(), target


@torch.inference_mode()
def validate(model: ArtVAE, crops: torch.Tensor, swaps: bool = False) -> dict[str, float]:
    """PSNR / SSIM / sharpness of deterministic (posterior mean) reconstructions; with `swaps`,
    also how far each crop's layout in the next crop's style moves to that style."""
    recon = torch.cat([model.reconstruct(batch) for batch in crops.split(8)])
    scores = {
        "psnr": psnr(recon, crops).mean().item(),
        "ssim": ssim(recon, crops).mean().item(),
        "sharpness": sharpness(recon, crops).mean().item(),
    }
    if swaps and len(crops) > 1:
        swapped = torch.cat([swap_decode(model, x, y) for x, y in
                             zip(crops.split(8), crops.roll(-1, dims=0).split(8), strict=True)])
        style = crops.roll(-1, dims=0)
        scores.update(
            swap_transfer=style_transfer(swapped, recon, style).mean().item(),
            swap_colour=colour_transfer(swapped, recon, style).mean().item(),
            swap_layout=layout_kept(swapped, crops).mean().item(),
        )
    return scores


def swap_decode(model: ArtVAE, layout: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> the layout of each in the style of its partner, D(s_A, w_B), in [0, 1]."""
    q_s, _ = model.encode(ArtVAE.to_model_range(layout))
    _, q_w = model.encode(ArtVAE.to_model_range(style))
    return ArtVAE.to_image_range(model.decode(q_s.mode(), q_w.mode()))


@torch.inference_mode()
def sample_grid(model: ArtVAE, crops: torch.Tensor) -> torch.Tensor:
    """Rows: input, reconstruction, input's layout in the next texture's style; (3, 3h, n*w)."""
    q_s, q_w = model.encode(ArtVAE.to_model_range(crops))
    s, w = q_s.mode(), q_w.mode()
    recon = ArtVAE.to_image_range(model.decode(s, w))
    swapped = ArtVAE.to_image_range(model.decode(s, w.roll(1, dims=0)))
    rows = [torch.cat(list(x), dim=2) for x in (crops, recon, swapped)]
    return torch.cat(rows, dim=1)


def starting_point(cfg: TrainConfig, run: Path, init_from: Path | None
                    ) -> tuple[TrainConfig, ArtVAE | None]:
    """The config a run trains with and the weights a new run starts from (None: its own
    initialisation, or a resumed run's checkpoint)."""
    start = None
    if (run / "last.pt").is_file():
        # a resumed run keeps the architecture it began with (config.json, written at its
        # start): weights it started from may have brought a learned prior along
        began = json.loads((run / "config.json").read_text())["model"]
        cfg = replace(cfg, model=replace(cfg.model, prior_width=began["prior_width"],
                                         corrector_width=began.get("corrector_width", 0),
                                         corrector_passes=began.get("corrector_passes", 1)))
    elif init_from is not None:
        start = ArtVAE.from_pretrained(init_from)
        if cfg.model.structure_channels > start.config.structure_channels:
            if cfg.freeze_encoder or cfg.freeze_decoder:
                raise ValueError("a widened structure map needs both halves trained: "
                                 "leave out --freeze-encoder and --freeze-decoder")
            start = widened(start, cfg.model.structure_channels)  # a wider latent, same image
        if cfg.model.enc_blocks != start.config.enc_blocks:
            if cfg.freeze_encoder:
                raise ValueError("a deepened encoder needs training: leave out --freeze-encoder")
            start = deepened(start, cfg.model.enc_blocks)  # a deeper encoder, same codes
        # the structure normalisation has no weights: either setting can start from them; a
        # learned prior and a corrector ride along untouched (train-prior and train-corrector
        # train them on the new codes)
        cfg = replace(cfg, model=replace(cfg.model, prior_width=start.config.prior_width,
                                         corrector_width=start.config.corrector_width,
                                         corrector_passes=start.config.corrector_passes))
        if replace(start.config, structure_norm=cfg.model.structure_norm) != cfg.model:
            raise ValueError(f"{init_from} holds a different model config than the preset")
    return cfg, start


def discriminator_step(disc, d_opt, target: torch.Tensor, fakes: torch.Tensor, dtype) -> float:
    """One step of the patch discriminator on real `target` and `fakes`; its hinge loss."""
    with torch.autocast(target.device.type, dtype=dtype, enabled=dtype is not None):
        # one forward over real and fake: DDP allows one pass per backward
        logits = disc(torch.cat([target, fakes])).float()
        d_loss = d_hinge_loss(logits[: len(target)], logits[len(target) :])
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    return d_loss.item()


def report(run: Path, step: int, parts: dict, ema: ArtVAE, val_crops: torch.Tensor,
           seconds: float) -> dict[str, float]:
    """A line of metrics.jsonl (the step's training losses, the EMA's validation scores) and a
    sample sheet; returns the validation scores."""
    metrics = {
        "step": step,
        "train": parts,
        "val": validate(ema, val_crops, swaps=True),
        "seconds": round(seconds, 1),
    }
    with open(run / "metrics.jsonl", "a") as log:
        log.write(json.dumps(metrics) + "\n")
    grid = sample_grid(ema, val_crops[:6])
    save_png(tensor_to_image(grid.cpu()), run / f"samples_{step:06d}.png")
    return metrics["val"]


def save_checkpoint(checkpoint: Path, step: int, **parts) -> None:
    """`last.pt`: the state of every part (model, ema, disc, opt, d_opt) and the step, written
    whole or not at all."""
    state = {name: part.state_dict() for name, part in parts.items()} | {"step": step}
    torch.save(state, checkpoint.with_suffix(".tmp"))
    os.replace(checkpoint.with_suffix(".tmp"), checkpoint)  # never a half-written checkpoint


def train(cfg: TrainConfig, data: Path, run: Path, device_name: str | None = None,
          init_from: Path | None = None, minutes: float | None = None,
          anchor_from: Path | None = None) -> Path:
    """Train (or resume) into `run`; returns the run folder. Safe to call under torchrun.
    A new run may start from exported weights (`init_from`, e.g. the bundled checkpoint): the
    optimiser and discriminator then start afresh, at step 0 of the schedule. With `minutes`,
    the run checkpoints and stops once that much time has passed (a lent machine's budget).
    With `anchor_from` (exported weights) and `cfg.anchor_weight`, reconstructions are also
    pulled towards that model's decoder's (give it again when resuming)."""
    if cfg.freeze_encoder and cfg.freeze_decoder:
        raise ValueError("--freeze-encoder and --freeze-decoder leave nothing to train")
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank = int(os.environ.get("RANK", 0))
    device = pick_device(device_name)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    # bf16 where inference uses it (CUDA, CPUs with native bf16); MPS's fp16 would need loss scaling
    dtype = None if device.type == "mps" else autocast_dtype(device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed + 1000 * rank)  # distinct crops per rank

    checkpoint = run / "last.pt"
    cfg, start = starting_point(cfg, run, init_from)
    model = ArtVAE(cfg.model).to(device)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = model.to(memory_format=layout)  # oneDNN convs run ~2x faster channels-last
    for frozen in (model.prior, model.corrector):  # each trained on its own, later
        if frozen is not None:
            frozen.requires_grad_(False)
    if cfg.freeze_encoder:  # the codes stay as they are: a prior trained on them stays valid
        model.encoder.requires_grad_(False)
    if cfg.freeze_decoder:  # the codes change: a learned prior must be trained on them again
        model.decoder.requires_grad_(False)
    disc = PatchDiscriminator().to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=cfg.lr, betas=(0.5, 0.9), weight_decay=0.0)
    d_opt = torch.optim.AdamW(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9), weight_decay=0.0)

    run.mkdir(parents=True, exist_ok=True)
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_trained(state["model"])
        ema.load_trained(state["ema"])
        for module, key in ((disc, "disc"), (opt, "opt"), (d_opt, "d_opt")):
            module.load_state_dict(state[key])
        step = state["step"]
        # a fresh, step-dependent crop stream per rank: deterministic without saving every
        # rank's generator state
        generator.manual_seed(cfg.seed + 1000 * rank + 7919 * step)
    else:
        if start is not None:
            model.load_state_dict(start.state_dict())
            ema.load_state_dict(start.state_dict())
        if rank == 0:
            (run / "config.json").write_text(json.dumps(asdict(cfg), indent=1))

    teacher = None
    if anchor_from is not None and cfg.anchor_weight:
        teacher = ArtVAE.from_pretrained(anchor_from).decoder.to(device, memory_format=layout)
        teacher.eval().requires_grad_(False)
    net = CrossCrop(model, swaps=cfg.swap_weight > 0, means=cfg.freeze_decoder,
                    smooth_swaps=cfg.smooth_swaps, teacher=teacher)
    train_net = DistributedDataParallel(net) if distributed else net
    train_disc = DistributedDataParallel(disc) if distributed else disc
    textures = TextureCrops(data, "train", cfg.max_side, device)
    val_crops = centre_crops(load_split(data, "val", cfg.max_side)[: cfg.val_images], 256)

    batches = prefetched(lambda: textures.pairs(cfg.batch_pairs, cfg.crop, generator,
                                                   cfg.min_scale))
    bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0, dynamic_ncols=True)
    started = saved_at = time.time()
    out_of_time = False
    while step < cfg.steps and not out_of_time:
        for group in (*opt.param_groups, *d_opt.param_groups):
            group["lr"] = lr_at(step, cfg)
        a, b = (x.to(device, memory_format=layout) for x in next(batches))
        loss, parts, fakes, target = generator_loss(train_net, train_disc, a, b, cfg, step, dtype)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        if step >= cfg.gan_start - 500:  # the critic warms up before it starts to push
            parts["d"] = discriminator_step(train_disc, d_opt, target, fakes, dtype)
        accumulate(ema, model, cfg.ema_decay if step > cfg.warmup_steps else 0.0)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{parts['l1']:.4f}")

        if rank == 0 and (step % cfg.val_every == 0 or step == cfg.steps):
            val = report(run, step, parts, ema, val_crops.to(device), time.time() - started)
            bar.write(f"step {step}: val {val}")
        out_of_time = minutes is not None and time.time() - started > 60 * minutes
        if distributed and minutes is not None:  # every rank stops at the same step
            flag = torch.tensor(float(out_of_time), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        due = cfg.ckpt_minutes is not None and time.time() - saved_at > 60 * cfg.ckpt_minutes
        if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time or due):
            save_checkpoint(checkpoint, step, model=model, ema=ema, disc=disc, opt=opt,
                            d_opt=d_opt)
            saved_at = time.time()
    bar.close()
    if distributed:
        dist.destroy_process_group()
    return run


def with_overrides(cfg: TrainConfig, **overrides) -> TrainConfig:
    """The config with the given non-None fields replaced."""
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})

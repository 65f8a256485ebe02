"""Export a training run as a shippable checkpoint folder (config.json + model.safetensors).

Takes the EMA or the raw weights of `run/last.pt`, whichever rebuilds training crops better
(early in a run the EMA still remembers poor weights); removes the decoder's mean colour
error on training crops from its output bias; computes the principal directions of the
training textures' styles (the "explore" sliders move along them) and a bank of their
structure maps (seeded samples reuse their spectra) into the model's buffers; writes the
folder with `save_pretrained`; and learns the named style controls of the weights written
(`controls.py`, a file beside them). An existing model card (README.md) is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.model.device import pick_device

from .autoencoder import validate
from .controls import refill
from .data import centre_crops, load_split, split_groups

BANK_GROUP = "textures"  # seeded samples are textures: their layouts come from texture crops


@torch.inference_mode()
def fill_latent_statistics(model: ArtVAE, crops: torch.Tensor,
                           groups: list[str] | None = None) -> None:
    """Store the training codes' statistics in the model's buffers: style mean, top principal
    directions and the spread along each (over all `crops`), and a bank of structure maps (256
    px crops) whose layouts seeded samples start from, evenly spaced over the crops of
    BANK_GROUP (`groups`: each crop's source group; None: all are textures)."""
    styles, structures = [], []
    for x in crops.split(16):
        q_s, q_w = model.encode(ArtVAE.to_model_range(x))
        styles.append(q_w.mode())  # (b, D_w)
        structures.append(q_s.mode())  # (b, C_s, h, w)
    styles, structures = torch.cat(styles), torch.cat(structures)
    mean = styles.mean(0)
    _, singular, vectors = torch.linalg.svd(styles - mean, full_matrices=False)
    k = model.config.style_directions
    model.style_mean.copy_(mean)
    model.style_basis.copy_(vectors[:k])
    model.style_spread.copy_(singular[:k] / max(1, len(styles) - 1) ** 0.5)
    groups = groups if groups is not None else [BANK_GROUP] * len(structures)
    model.structure_bank.copy_(structures[bank_picks(groups, len(model.structure_bank))])


def evenly_spaced(count: int, picks: int) -> torch.Tensor:
    """`picks` indices evenly spaced over range(count), ends included."""
    return torch.linspace(0, count - 1, picks).round().long()


def bank_picks(groups: list[str], bank: int) -> torch.Tensor:
    """Indices of the training crops (in `load_split` order; `groups` is each one's source
    group) whose maps fill a structure bank of `bank` maps: evenly spaced over those of
    BANK_GROUP, or over all where the split has none. Art crops made poor layouts for
    seeded textures: a portrait, a unit sprite on black or a page of a book came back as a
    lone dark window or a blot in the middle of a grain."""
    members = [i for i, group in enumerate(groups) if group == BANK_GROUP]
    members = torch.tensor(members or range(len(groups)))
    return members[evenly_spaced(len(members), bank)]


@torch.inference_mode()
def calibrate_colour(model: ArtVAE, crops: torch.Tensor) -> torch.Tensor:
    """Remove the decoder's mean colour error on training crops from its output bias; returns
    the error removed, per channel, in 0..1 units. L1 training makes the output a median, and
    on skewed pixel distributions a median sits a level or so off the mean, which squared
    error (PSNR) charges on every pixel of every image."""
    errors = [(model.reconstruct(x) - x).mean(dim=(2, 3)) for x in crops.split(16)]  # (b, 3)
    offset = torch.cat(errors).mean(0)  # (3,)
    # the output conv's channels c*4 .. c*4+3 become colour c after the pixel-shuffle by 2
    model.decoder.out.bias -= 2 * offset.repeat_interleave(4)  # [0, 1] -> [-1, 1] units
    return offset


def export(run: Path | None, out: Path, data: Path, device: str | None = None,
           weights: Path | None = None) -> Path:
    """run/last.pt -> out/: the better of the EMA and the raw weights on training crops, colour
    calibrated, with the latent statistics filled in. With `weights` (an exported folder, e.g.
    one trained elsewhere on a smaller copy of the corpus) instead of a run, those weights are
    re-calibrated and their statistics refilled on `data`."""
    target = pick_device(device)
    crops = centre_crops(load_split(data, "train", max_side=512), 256).to(target)
    if weights is not None:
        model = ArtVAE.from_pretrained(weights).to(target).eval()
        origin = f"the weights in {weights}"
    else:
        model, origin = best_of_run(Path(run), crops, target)
    offset = calibrate_colour(model, crops)
    print(f"colour calibration: removed a mean error of {(offset * 255).tolist()} levels (RGB)")
    fill_latent_statistics(model, crops, split_groups(data, "train"))
    del crops
    model.style_controls = None  # learned afresh below, for these weights
    model.cpu().save_pretrained(out)
    print(f"exported {origin} to {out}")
    print(f"named style controls: {refill(Path(out), data, device=device)}")
    return Path(out)


def best_of_run(run: Path, crops: torch.Tensor, target: torch.device) -> tuple[ArtVAE, str]:
    """The EMA or the raw weights of run/last.pt, whichever rebuilds the crops better, and
    which it was."""
    cfg = json.loads((run / "config.json").read_text())
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    candidates = {}
    for key in ("ema", "model"):
        model = ArtVAE(ModelConfig.from_dict(cfg["model"]))
        model.load_trained(state[key])
        model = model.to(target).eval()
        # chosen on training textures, so the held-out split stays unseen by every choice
        candidates[key] = (validate(model, crops[:64])["psnr"], model)
        print(f"{key} weights: {candidates[key][0]:.2f} dB on 64 training crops")
    key = max(candidates, key=lambda k: candidates[k][0])
    return candidates[key][1], f"the {key} weights of step {state['step']} of {run}"

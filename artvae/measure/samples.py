"""How texture-like generated images are, and the sample sheet people look at.

Measures (DESIGN): the **nearest-texture SWD** of a generated 256 px image is its smallest SWD to
any held-out texture; divided by the same figure for the held-out textures themselves (each to
its nearest *other* one), it gives a ratio where 1.0 means as texture-like as real ones. The
**copy check** compares each generated image's SWD to its nearest training crop with a held-out
texture's SWD to its nearest training crop: a prior that memorised its training set would sit
closer to it than new textures do. The held-out textures are taken as the decoder renders them
(their reconstructions): generated images come out of the same decoder, whose rendering alone
moves patch statistics (reconstructions sit nearer the training crops than the real images,
which are reported beside them). `evaluate` passes the held-out *textures* group, as the
measure's definition says. Scored for seeded samples (prior), the random-phase sampler, and
variations of the held-out textures themselves. The training crops are 256 spread evenly over the
split and the 128 whose maps the structure bank holds (seeded samples start from those maps).

Beside it, the **tile copy score** looks for copying at the scale of shapes, which patch
statistics cannot see: each 64 px tile of an image is matched against every position of every
training crop by normalised cross-correlation (`metrics.patch_copy_scores`, at 1/4 resolution);
1.0 is a literal copy. Reported as the mean best score and the share of tiles at or over
`COPIED_TILE`, beside the same for the held-out textures' reconstructions.
"""

from __future__ import annotations

from pathlib import Path

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.ops import borders
from artvae.ops.generate import expanded, sample_code, variation_code
from artvae.ops.images import save_picture, tensor_to_image
from artvae.ops.latent import Code
from artvae.ops.metrics import patch_copy_scores, swd_matrix, swd_pairs
from artvae.train.data import centre_crops
from artvae.train.export import BANK_GROUP, bank_picks, evenly_spaced

SIDE = 256
TRAIN_CROPS = 256  # training crops the copy check compares with (evenly spaced over the split),
# beside those the structure bank was taken from (seeded samples start from their maps)
COPIED_TILE = 0.95  # a tile correlating this well with a training crop reads as copied
SHORTLIST = 8  # training crops per image scored again, finely, for its nearest (`nearest_training`)
SAMPLINGS = 4  # draws of patches and projections those fine scores average
FINE_PATCHES = 512  # patches per image in each of those draws


@torch.inference_mode()
def decode_codes(model: ArtVAE, codes: list[Code]) -> torch.Tensor:
    """Codes -> (N, 3, H, W) images in [0, 1] on the CPU (one at a time: sizes may differ)."""
    return torch.cat([borders.decode(model, c).cpu() for c in codes])


@torch.inference_mode()
def encode_codes(model: ArtVAE, crops: torch.Tensor) -> list[Code]:
    """(N, 3, H, W) [0, 1] crops -> one posterior-mean code each."""
    device = next(model.parameters()).device
    codes = []
    for x in crops.split(16):
        q_s, q_w = model.encode(ArtVAE.to_model_range(x.to(device)))
        codes += [Code(s[None].cpu(), w[None].cpu(), tuple(x.shape[-2:]), encoded=True)
                  for s, w in zip(q_s.mode(), q_w.mode(), strict=True)]
    return codes


def nearest_figures(made: torch.Tensor, held_out: torch.Tensor, real_nearest: float,
                    train: torch.Tensor | None, reference: torch.Tensor | None,
                    paired: bool = False) -> dict:
    """The nearest-texture ratio of `made` and, given training crops, its copy check against
    `reference` (each held-out texture's reconstruction's SWD to its nearest training crop):
    passed when `made` sits no nearer on average. Beside it, the gap in standard errors of
    the difference of the two means (negative: nearer than the reference), so a narrow
    failure reads as one; `paired` (made[i] comes from held-out texture i, as variations
    do): the standard error of the per-texture differences instead."""
    nearest = swd_matrix(made, held_out).min(dim=1).values.mean().item()
    out = {"nearest_swd": round(nearest, 2), "ratio": round(nearest / real_nearest, 3)}
    if train is not None:
        to_train = nearest_training(made, train)
        gap = to_train.mean() - reference.mean()
        if paired:
            error = (to_train - reference).std() / len(to_train) ** 0.5
        else:
            error = (to_train.var() / len(to_train) + reference.var() / len(reference)).sqrt()
        out.update(nearest_training_swd=round(to_train.mean().item(), 2),
                   copy_check_passed=bool(gap >= 0),
                   copy_check_gap_se=round((gap / error.clamp_min(1e-8)).item(), 2),
                   **({"copy_check_paired": True} if paired else {}),
                   **tile_copy_figures(made, train))
    return out


def tile_copy_figures(images: torch.Tensor, train: torch.Tensor) -> dict:
    """Mean best tile score and the share of tiles read as copied (`patch_copy_scores`)."""
    scores = patch_copy_scores(images, train)
    scores = scores[~scores.isnan()]
    return {"tile_copy_score": round(scores.mean().item(), 3),
            "copied_tiles": round((scores >= COPIED_TILE).float().mean().item(), 3)}


def nearest_training(images: torch.Tensor, train: torch.Tensor, shortlist: int | None = None,
                     samplings: int | None = None, patches: int | None = None) -> torch.Tensor:
    """Each image's SWD to its nearest training crop: (N,). Two rounds: `swd_matrix`'s quick
    figure ranks every crop, then the `shortlist` nearest are scored again (`swd_pairs`) with
    `patches` patches per image, averaged over `samplings` draws (seeds 1 on), and the least
    is kept. The quick figure alone moved the variations' mean gap to their reconstructions
    by 1.5 (s.d.) between draws, and one image's distance by 13: as much as the gaps the copy
    check has to tell apart. None: SHORTLIST, SAMPLINGS and FINE_PATCHES."""
    shortlist = SHORTLIST if shortlist is None else shortlist
    samplings = SAMPLINGS if samplings is None else samplings
    patches = FINE_PATCHES if patches is None else patches
    quick = swd_matrix(images, train)
    picks = quick.topk(min(shortlist, len(train)), dim=1, largest=False).indices
    fine = swd_pairs(images, train, picks, patches, seeds=range(1, samplings + 1))
    return fine.min(dim=1).values


@torch.inference_mode()
def evaluate_samples(model: ArtVAE, images: list[torch.Tensor],
                     train_images: list[torch.Tensor] | None = None, count: int = 64,
                     train_groups: list[str] | None = None) -> dict:
    """Nearest-texture ratio and copy check of `count` seeded 256 px samples (seeds 0, 1 ...),
    of the random-phase sampler's, and of one variation of each held-out texture (`images`:
    the held-out textures; `train_groups`: the training images' source groups, which say
    where the structure bank came from; None: all textures)."""
    held_out = centre_crops(images, SIDE)
    pairwise = swd_matrix(held_out, held_out)
    pairwise.fill_diagonal_(float("inf"))
    real_nearest = pairwise.min(dim=1).values.mean().item()
    metrics = {"count": count, "held_out": len(held_out),
               "held_out_nearest_swd": round(real_nearest, 2)}
    codes = encode_codes(model, held_out)  # reconstructed for the reference; varied
    train, reference = None, None
    if train_images:
        groups = train_groups or [BANK_GROUP] * len(train_images)
        picks = torch.cat([evenly_spaced(len(train_images), min(TRAIN_CROPS, len(train_images))),
                           bank_picks(groups, len(model.structure_bank))]).unique()
        train = centre_crops([train_images[int(i)] for i in picks], SIDE)
        metrics["training_crops"] = len(train)
        rebuilt = decode_codes(model, codes)
        reference = nearest_training(rebuilt, train)
        metrics["reconstructed_tiles"] = tile_copy_figures(rebuilt, train)
        metrics["held_out_nearest_training_swd"] = round(
            nearest_training(held_out, train).mean().item(), 2)
        metrics["reconstructed_nearest_training_swd"] = round(reference.mean().item(), 2)
    made = {"random_phase": [sample_code(model, s, (SIDE, SIDE), fast=True) for s in range(count)]}
    if model.prior is not None:
        made["prior"] = [sample_code(model, s, (SIDE, SIDE)) for s in range(count)]
        made["variations"] = [variation_code(model, c, seed) for seed, c in enumerate(codes)]
    for name, generated in made.items():
        metrics[name] = nearest_figures(decode_codes(model, generated), held_out, real_nearest,
                                        train, reference, paired=name == "variations")
    return metrics


@torch.inference_mode()
def evaluate_expansion(model: ArtVAE, images: list[torch.Tensor], count: int = 24) -> dict:
    """How much an expansion still looks like its input: each of `count` held-out textures
    (256 px centre crops) grown to a 512 px tileable canvas (`generate.expanded`, seed = its
    index), the mean SWD of the canvas's four 256 px quarters to the input, beside the SWD of
    the input's own reconstruction (what the decoder can do at best)."""
    crops = centre_crops(images[:count], SIDE)
    codes = encode_codes(model, crops)
    device = next(model.parameters()).device
    grown, rebuilt = [], []
    for i, code in enumerate(codes):
        big = expanded(model, code, (2 * SIDE, 2 * SIDE), seed=i)
        x = ArtVAE.to_image_range(model.decode(big.structure.to(device), big.style.to(device),
                                               True)).cpu()
        quarters = torch.cat([x[..., a:a + SIDE, b:b + SIDE] for a in (0, SIDE)
                              for b in (0, SIDE)])
        grown.append(swd_matrix(quarters, crops[i:i + 1]).mean().item())
        rebuilt.append(swd_matrix(decode_codes(model, [code]), crops[i:i + 1]).item())
    return {"count": len(codes), "expanded_swd": round(sum(grown) / len(grown), 2),
            "reconstruction_swd": round(sum(rebuilt) / len(rebuilt), 2)}


def sample_sheet(model: ArtVAE, out: Path, seeds: list[int], side: int = 256,
                 columns: int = 4, fast: bool = False) -> Path:
    """A sheet of seeded samples (seed order, row by row), each `side` px, tileable, 4 px apart;
    PNG, or JPEG / WebP by the suffix of `out`."""
    gap = 4
    rows = -(-len(seeds) // columns)
    sheet = torch.ones(3, rows * (side + gap) - gap, columns * (side + gap) - gap)
    device = next(model.parameters()).device
    for i, seed in enumerate(seeds):
        code = sample_code(model, seed, (side, side), fast=fast)
        with torch.inference_mode():
            image = model.decode(code.structure.to(device), code.style.to(device), True)
        top, left = (i // columns) * (side + gap), (i % columns) * (side + gap)
        sheet[:, top : top + side, left : left + side] = ArtVAE.to_image_range(image)[0].cpu()
    return save_picture(tensor_to_image(sheet), out)

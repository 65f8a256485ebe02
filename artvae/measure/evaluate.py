"""Quality of a model on textures it never trained on, next to the bicubic baselines.

`python -m artvae evaluate --data DIR` scores the centre 256x256 crop of every validation texture
(or, for a folder without a manifest, every image in it): PSNR, SSIM, SWD and sharpness of the
reconstructions, the same for bicubic down-and-up at 1/4 and 1/8 scale, and the style-swap
figure: how well crop B is rebuilt from A's style, `(s_B, w_A)`, against its own `(s_B, w_B)`;
style swaps between *different* images (`swaps`: transfer, colour transfer, layout kept, beside
the pixel colour-matching baseline); then blend quality and how texture-like seeded samples are.
A corpus whose manifest holds several source groups (textures, art) is also scored group by group.
With `--card README.md` it also writes the table into the model card between marker comments,
so the card's numbers are always this command's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from tqdm import tqdm

from artvae.model.autoencoder import ArtVAE
from artvae.ops import borders
from artvae.ops.latent import Code, blend
from artvae.ops.metrics import (
    bicubic_baseline,
    blend_measures,
    crossfade,
    psnr,
    sharpness,
    ssim,
    swd,
)
from artvae.ops.refine import refine
from artvae.train.data import IMAGE_SUFFIXES, centre_crops, load_split, load_uint8, split_groups

from .controls import controls_table, evaluate_controls
from .lattice import evaluate_lattice
from .samples import evaluate_expansion, evaluate_samples
from .swaps import evaluate_swaps

CARD_START, CARD_END = "<!-- evaluate:start -->", "<!-- evaluate:end -->"
# the named controls' own block: `--only controls` rewrites it and leaves the rest alone
CONTROLS_START, CONTROLS_END = "<!-- evaluate-controls:start -->", "<!-- evaluate-controls:end -->"
SIDE = 256


def load_eval_images(folder: Path) -> list[torch.Tensor]:
    """The validation split of a built corpus, or every image of a plain folder."""
    folder = Path(folder)
    if (folder / "manifest.json").is_file():
        return load_split(folder, "val", max_side=512)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images found in {folder}")
    return [load_uint8(p, max_side=512) for p in files]


def load_eval_groups(folder: Path) -> dict[str, list[torch.Tensor]]:
    """The validation split group by group (a manifest without groups is all "textures")."""
    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        return {}
    groups = sorted(set(split_groups(folder, "val")))
    if len(groups) < 2:
        return {}
    return {g: load_split(folder, "val", max_side=512, group=g) for g in groups}


def scores(recon: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Mean PSNR / SSIM / sharpness and the set SWD of reconstructions against references."""
    return {
        "psnr": round(psnr(recon, reference).mean().item(), 3),
        "ssim": round(ssim(recon, reference).mean().item(), 4),
        "swd": round(float(swd(recon, reference)), 3),
        "sharpness": round(sharpness(recon, reference).mean().item(), 3),
    }


@torch.inference_mode()
def evaluate(model: ArtVAE, images: list[torch.Tensor], batch: int = 8,
             refine_steps: int = 0) -> dict:
    """All measures for `model` on `images` ((3, H, W) uint8 each); CPU or the model's device.
    `refine_steps` > 0: also the reconstructions from codes refined by that many steps through
    the decoder (`refine.refine`, as `reconstruct --refine` and the app's Refine make them)."""
    device = next(model.parameters()).device
    crops = centre_crops(images, SIDE)  # (N, 3, 256, 256) in [0, 1]
    recons, refined, swapped, own = [], [], [], []
    for x in crops.split(batch):
        x = x.to(device)
        recons.append(model.reconstruct(x).cpu())
        if refine_steps:
            structure, style = refine(model, ArtVAE.to_model_range(x), refine_steps)
            refined.append(ArtVAE.to_image_range(model.decode(structure, style)).float().cpu())
        # style swap: quadrant A (top-left) lends its style to quadrant B (bottom-right)
        a, b = x[..., : SIDE // 2, : SIDE // 2], x[..., SIDE // 2 :, SIDE // 2 :]
        _, q_wa = model.encode(ArtVAE.to_model_range(a))
        q_sb, q_wb = model.encode(ArtVAE.to_model_range(b))
        swapped.append(borders.decode(model, Code.full_size(q_sb.mode(), q_wa.mode())).cpu())
        own.append(ArtVAE.to_image_range(model.decode(q_sb.mode(), q_wb.mode())).cpu())
    recon = torch.cat(recons)
    quadrants_b = crops[..., SIDE // 2 :, SIDE // 2 :]
    bicubic_x4 = bicubic_baseline(crops, 4)
    ours, theirs = psnr(recon, crops), psnr(bicubic_x4, crops)
    refined_scores = {"refined": {"steps": refine_steps,
                                  **scores(torch.cat(refined).clamp(0, 1), crops)}
                      } if refine_steps else {}
    return {
        "images": len(images),
        "size": SIDE,
        "model": scores(recon, crops),
        **refined_scores,
        "bicubic_x4": scores(bicubic_x4, crops),
        # texture by texture: the mean PSNR leans on the smooth ones, where dB run high
        "per_texture": {
            "wins_over_bicubic_x4": int((ours > theirs).sum()),
            "median_psnr": round(ours.median().item(), 3),
            "median_psnr_bicubic_x4": round(theirs.median().item(), 3),
        },
        "bicubic_x8": scores(bicubic_baseline(crops, 8), crops),
        "style_swap": {
            "psnr_own_style": round(psnr(torch.cat(own), quadrants_b).mean().item(), 3),
            "psnr_other_crop_style": round(psnr(torch.cat(swapped), quadrants_b).mean().item(), 3),
        },
    }


@torch.inference_mode()
def evaluate_blends(model: ArtVAE, images: list[torch.Tensor], pairs: int = 16,
                    steps: int = 8) -> dict:
    """Morph quality of `full` blends between neighbouring held-out textures: the middle frame's
    fine-scale contrast relative to the ends (a pixel crossfade scores ~0.75), pace evenness
    (1.0 = even) and how well the end frames reproduce A and B (PSNR, dB)."""
    device = next(model.parameters()).device
    crops = centre_crops(images, SIDE)
    rows, fades = [], []
    for i in range(min(pairs, len(crops) - 1)):
        a, b = crops[i : i + 1].to(device), crops[i + 1 : i + 2].to(device)
        codes = []
        for x in (a, b):
            q_s, q_w = model.encode(ArtVAE.to_model_range(x))
            codes.append(Code.full_size(q_s.mode(), q_w.mode(), encoded=True))
        frames = [blend(codes[0], codes[1], k / steps, "full", model.style_mean)
                  for k in range(steps + 1)]
        frames = torch.cat([borders.decode(model, f) for f in frames]).cpu()
        rows.append(blend_measures(frames, a.cpu(), b.cpu()))
        fades.append(blend_measures(crossfade(a.cpu(), b.cpu(), steps), a.cpu(), b.cpu()))

    def mean(key: str, table: list[dict]) -> float:
        return round(sum(r[key] for r in table) / len(table), 3)

    return {
        "pairs": len(rows),
        "steps": steps,
        "contrast": mean("contrast", rows),
        "contrast_min": round(min(r["contrast"] for r in rows), 3),
        "evenness": mean("evenness", rows),
        "evenness_max": round(max(r["evenness"] for r in rows), 3),
        "ends_psnr_a": mean("ends_psnr_a", rows),
        "ends_psnr_b": mean("ends_psnr_b", rows),
        "crossfade_contrast": mean("contrast", fades),
    }


def card_table(metrics: dict) -> str:
    """The metrics as the markdown table that goes into the model card and README."""
    rows = [
        "| 256x256, held-out textures | PSNR (dB) ↑ | SSIM ↑ | SWD ×1e3 ↓ | sharpness (→1) |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("model", "ArtVAE"),
        ("bicubic_x4", "bicubic 1/4 down-up"),
        ("bicubic_x8", "bicubic 1/8 down-up"),
    ):
        m = metrics[key]
        rows.append(
            f"| {label} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['swd']:.1f} | "
            f"{m['sharpness']:.2f} |"
        )
    for name, group in metrics.get("groups", {}).items():
        m = group["model"]
        rows.append(
            f"| ArtVAE, {name} only ({group['images']}) | {m['psnr']:.2f} | {m['ssim']:.3f} | "
            f"{m['swd']:.1f} | {m['sharpness']:.2f} |"
        )
    for label, scored in [("all", metrics), *metrics.get("groups", {}).items()]:
        if "refined" in scored:
            m = scored["refined"]
            rows.append(
                f"| ArtVAE, codes refined {m['steps']} steps ({label}) | {m['psnr']:.2f} | "
                f"{m['ssim']:.3f} | {m['swd']:.1f} | {m['sharpness']:.2f} |"
            )
    swap = metrics["style_swap"]
    paragraphs = [
        "\n".join(rows),
        f"Style swap (128 px crop B rebuilt from another crop's style): "
        f"{swap['psnr_other_crop_style']:.2f} dB, against {swap['psnr_own_style']:.2f} dB "
        f"from its own style. {metrics['images']} validation textures.",
    ]
    if "swaps" in metrics:
        paragraphs.append(swap_table(metrics))
    if "per_texture" in metrics:
        t = metrics["per_texture"]
        paragraphs.append(
            f"Texture by texture, ArtVAE beats bicubic 1/4 on PSNR for "
            f"{t['wins_over_bicubic_x4']} of {metrics['images']}; median PSNR "
            f"{t['median_psnr']:.2f} dB against {t['median_psnr_bicubic_x4']:.2f} dB."
        )
    if "blend" in metrics:
        b = metrics["blend"]
        paragraphs.append(
            f"Blends (`full`, {b['steps']} steps, {b['pairs']} pairs of held-out textures): "
            f"middle-frame contrast {b['contrast']:.2f} of the ends (pixel crossfade: "
            f"{b['crossfade_contrast']:.2f}), evenness {b['evenness']:.2f} (worst "
            f"{b['evenness_max']:.2f}), end frames {b['ends_psnr_a']:.2f} / "
            f"{b['ends_psnr_b']:.2f} dB."
        )
    if "lattice" in metrics:
        paragraphs.append(lattice_table(metrics["lattice"]))
    if "samples" in metrics:
        paragraphs.append(samples_line(metrics["samples"]))
    return "\n\n".join(paragraphs)


def samples_line(m: dict) -> str:
    """The seeded samples' and variations' nearest-texture ratio and copy check, one line (the
    full figures and expansion's are in the printed metrics and docs/measurements.md)."""
    parts = []
    for key, label in (("prior", "seeded samples"), ("variations", "variations")):
        if key in m:
            r = m[key]
            part = f"{label} {r['ratio']:.2f}"
            if "copy_check_gap_se" in r:
                verdict = "passed" if r["copy_check_passed"] else "FAILED"
                part += f", copy check {verdict} ({r['copy_check_gap_se']:+.1f} SE)"
            parts.append(part)
    return ("Generated textures, nearest-texture ratio (real: 1.0): " + "; ".join(parts)
            + ". The copy check and expansion in full: docs/measurements.md.")


def swap_table(metrics: dict) -> str:
    """Style swaps (A's layout in B's style, different images): the model beside the pixel
    colour-matching baseline, overall and per source group."""
    rows = [
        "| style swap, pairs of different held-out images | transfer ↑ | colour transfer ↑ "
        "| layout kept ↑ |",
        "|---|---|---|---|",
    ]
    sets = [("all", metrics), *metrics.get("groups", {}).items()]
    for name, m in sets:
        for key, label in (("model", "ArtVAE"), ("colour_matching", "channel mean/std matching")):
            r = m["swaps"][key]
            rows.append(
                f"| {label}, {name} ({m['swaps']['pairs']} pairs) | {r['transfer']['mean']:.2f} | "
                f"{r['colour_transfer']['mean']:.2f} | {r['layout_kept']['mean']:.2f} |"
            )
    return "\n".join(rows)


def lattice_table(m: dict) -> str:
    """The lattice check: grid energy of renderings over their style sources' (1 = as much 8-px
    grid as the style itself) and, for swaps, over the grainier source's (as blends are
    scored) and the frame along their edges (`edge_step`, about 1 for real images); the grid
    share of generated images beside real textures'."""
    rows = ["| rendering, held-out images | pairs | lattice score, median ↓ | 90th percentile ↓ "
            "| worst | over the grainier source: median / 90th percentile "
            "| edge step: median / 90th percentile |",
            "|---|---|---|---|---|---|---|"]
    for label, r in [*m["swaps"].items(), ("blend `style`, t = 0.5", m["blend_style"]),
                     ("blend `spatial`, t = 0.5", m["blend_spatial"])]:
        g = r.get("grainier")
        grainier = f"{g['median']:.2f} / {g['p90']:.2f}" if g else "(scored so)"
        e = r.get("edge_step")
        edges = f"{e['median']:.2f} / {e['p90']:.2f}" if e else ""
        rows.append(f"| {label} | {r['pairs']} | {r['median']:.2f} | {r['p90']:.2f} | "
                    f"{r['max']:.2f} | {grainier} | {edges} |")
    shares = ", ".join(f"{name.replace('_', ' ')} {r['median']:.3f} (max {r['max']:.3f})"
                       for name, r in m["grid_share"].items())
    edges = m.get("edge_step_held_out")
    held_out = (f" Edge step of the held-out images themselves: {edges['median']:.2f} / "
                f"{edges['p90']:.2f}." if edges else "")
    return "\n".join(rows) + f"\n\nGrid share (median): {shares}.{held_out}"


def write_card(card: Path, metrics: dict) -> None:
    """Replace the tables between the marker comments of `card` with these metrics: the
    quality block (unless only the controls were measured) and the named controls' block."""
    text = card.read_text()
    blocks = [] if set(metrics) == {"controls"} else [(CARD_START, CARD_END, card_table)]
    if "controls" in metrics:
        blocks.append((CONTROLS_START, CONTROLS_END, lambda m: controls_table(m["controls"])))
    for start, end, table in blocks:
        block = f"{start}\n{table(metrics)}\n{end}"
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        if start == CONTROLS_START and not pattern.search(text) and CARD_END in text:
            text = text.replace(CARD_END, f"{CARD_END}\n\n{start}\n{end}", 1)  # a new block
        if not pattern.search(text):
            raise ValueError(f"{card} has no {start} ... {end} block to fill")
        text = pattern.sub(lambda _, block=block: block, text)
    card.write_text(text)


def run(model: ArtVAE, data: Path, card: Path | None = None, blends: bool = True,
        refine_steps: int = 0, only: str | None = None) -> dict:
    """Every measure (`only="lattice"`: the lattice check alone, a few minutes; "controls":
    the named controls, scale and restyle alone, written into the card's controls block),
    printed as one JSON line and, given `card`, written into the model card."""
    groups = load_eval_groups(data)
    if only == "lattice":
        metrics = {"lattice": evaluate_lattice(model, groups or {"all": load_eval_images(data)})}
        print(json.dumps(metrics))
        return metrics
    if only == "controls":
        metrics = {"controls": evaluate_controls(model, model.style_controls,
                                                 groups or {"all": load_eval_images(data)})}
        if card is not None:
            write_card(card, metrics)
        print(json.dumps(metrics))
        return metrics
    stages = tqdm(total=6 + bool(blends) + 2 * len(groups), desc="evaluate", unit="stage",
                  dynamic_ncols=True)

    current = None

    def stage(name: str) -> None:  # ends the stage before and names the one now running
        nonlocal current
        if current is not None:
            stages.update()
        current = name
        stages.set_description(f"evaluate: {name}")

    stage("reconstructions")
    images = load_eval_images(data)
    metrics = evaluate(model, images, refine_steps=refine_steps)
    stage("style swaps")
    metrics["swaps"] = evaluate_swaps(model, images)
    if blends:
        stage("blends")
        metrics["blend"] = evaluate_blends(model, images)
    stage("lattice check")
    metrics["lattice"] = evaluate_lattice(model, groups or {"all": images})
    stage("seeded samples and variations")
    has_split = (Path(data) / "manifest.json").is_file()
    train_images = load_split(data, "train", max_side=512) if has_split else None
    train_groups = split_groups(data, "train") if has_split else None
    textures = groups.get("textures") or images
    metrics["samples"] = evaluate_samples(model, textures, train_images, train_groups=train_groups)
    stage("expansion")
    metrics["expansion"] = evaluate_expansion(model, textures)
    stage("named controls and restyle")
    metrics["controls"] = evaluate_controls(model, model.style_controls,
                                            groups or {"all": images})
    if groups:
        metrics["groups"] = {}
        for name, members in groups.items():
            stage(f"{name}: reconstructions")
            scored = evaluate(model, members, refine_steps=refine_steps)
            stage(f"{name}: style swaps")
            scored["swaps"] = evaluate_swaps(model, members)
            metrics["groups"][name] = scored
    stages.update()
    stages.close()
    if card is not None:
        write_card(card, metrics)
    print(json.dumps(metrics))
    return metrics

"""How well the named controls and restyling do what they say, on held-out images.

`evaluate_controls` decodes each held-out centre crop (256 px) with each style control at +2 and
-2 and measures its look (`artvae.ops.looks`): how far the control's own look moves, in spreads
(its std across the held-out reconstructions), on what share of images it moves the right way,
and how far each other look moves (mean absolute change, in its own spreads). For `scale`: the
mean spatial frequency of the reconstruction over that of the decode at scale 2, of the
decode at 0.5 over the reconstruction, and of 0.5 over 2 (2 = the features twice as big;
textures only). For
restyle: the swap measures (transfer, colour transfer, layout kept; `swaps`) of held-out images
restyled in another's style at strength 1 and 0.5, and the seam ratio of seamless inputs (a
crop mirrored 2x2, rolled so the wrap falls inside it) restyled with and without `tileable`.
`controls_table` writes it all for the model card.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from artvae.model.autoencoder import ArtVAE
from artvae.model.controls import StyleControls
from artvae.ops import borders
from artvae.ops.latent import Code
from artvae.ops.looks import LOOKS, look, mean_frequency, seam_ratio
from artvae.ops.metrics import colour_transfer, layout_kept, style_transfer
from artvae.ops.restyle import edited, restyled, shrunk_back, wrapped_codes
from artvae.train.data import centre_crops

from .swaps import swap_pairs

SIDE = 256
AMOUNT = 2.0  # the control setting the card reports (and "done" is judged at)
BATCH = 16


@torch.inference_mode()
def _codes(model: ArtVAE, crops: torch.Tensor) -> Code:
    device = next(model.parameters()).device
    structures, styles = [], []
    for x in crops.split(BATCH):
        q_s, q_w = model.encode(ArtVAE.to_model_range(x.to(device)))
        structures.append(q_s.mode().float().cpu())
        styles.append(q_w.mode().float().cpu())
    return Code.full_size(torch.cat(structures), torch.cat(styles), encoded=True)


@torch.inference_mode()
def _decoded(model: ArtVAE, code: Code | tuple[Code, int], tileable: bool = False
             ) -> torch.Tensor:
    """Decodes of a code, or of an edited one (`edited`'s (code, render)), in [0, 1]."""
    code, render = code if isinstance(code, tuple) else (code, 1)
    x = torch.cat([
        borders.decode(model, Code(s, w, code.size, code.encoded), tileable).float().cpu()
        for s, w in zip(code.structure.split(BATCH), code.style.split(BATCH), strict=True)])
    return shrunk_back(x, (code.size[0] // render, code.size[1] // render))


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(v, 3) for v in values.tolist()]


def control_effects(model: ArtVAE, controls: StyleControls, code: Code,
                    amount: float = AMOUNT) -> dict:
    """Each style control at +amount and -amount on the codes: own look's mean change (in
    spreads), the share of images it moves the right way, each look's mean absolute change."""
    base = look(_decoded(model, code))
    spread = base.std(0)
    out = {"images": len(base), "amount": amount,
           "spread": dict(zip(LOOKS, _rounded(spread), strict=True))}
    for name in controls.names:
        k = LOOKS.index(name)
        for sign in (1, -1):
            moved = look(_decoded(model, edited(code, controls, {name: sign * amount}))) - base
            out[f"{name}{'+' if sign > 0 else '-'}"] = {
                "own": round((moved[:, k].mean() / spread[k]).item(), 3),
                "right_way": round((sign * moved[:, k] > 0).float().mean().item(), 3),
                "moved": dict(zip(LOOKS, _rounded(moved.abs().mean(0) / spread),
                                  strict=True)),
            }
    return out


def ideal_zoom(recon: torch.Tensor, factor: float) -> torch.Tensor:
    """The reconstructions as a plain zoom would draw them: the centre half enlarged 2x
    (bilinear) for 2, tiled 2x2 (mirrored) and averaged down 2x for 0.5: the measure's own
    ceiling, since no spectrum measure can tell a zoom of a scale-free texture."""
    h, w = recon.shape[-2:]
    if factor > 1:
        centre = recon[..., h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2]
        return F.interpolate(centre, size=(h, w), mode="bilinear", align_corners=False)
    row = torch.cat([recon, recon.flip(-1)], dim=-1)
    return F.avg_pool2d(torch.cat([row, row.flip(-2)], dim=-2), 2)


def scale_effects(model: ArtVAE, code: Code) -> dict:
    """Mean spatial frequency ratios of scale 2 and 0.5 against the reconstruction (1.5 or
    more: the pattern clearly bigger, or smaller), and of 0.5 against 2, on the luma averaged
    over blocks of the decoder's cell in the finer image: 8 px beside scale 2, 4 px where
    scale 0.5 is one of the two (decoded twice as big and averaged down, its cell is 4 px);
    beside them, the same for `ideal_zoom`."""
    recon = _decoded(model, code)
    out = {"images": len(recon)}
    made = {"model": {f: _decoded(model, edited(code, None, scale=f)) for f in (2.0, 0.5)},
            "ideal_zoom": {f: ideal_zoom(recon, f) for f in (2.0, 0.5)}}
    for images in made.values():
        images["recon"] = recon
    for key, finer, coarser in (("scale_2", "recon", 2.0), ("scale_0.5", 0.5, "recon"),
                                ("scale_0.5_vs_2", 0.5, 2.0)):
        block = 4 if finer == 0.5 else 8
        out[key] = {"block": block}
        for name, images in made.items():
            ratio = (mean_frequency(images[finer], block)
                     / mean_frequency(images[coarser], block))
            out[key][name] = {"median_ratio": round(ratio.median().item(), 3),
                              "share_1.5": round((ratio >= 1.5).float().mean().item(), 3)}
    return out


def restyle_effects(model: ArtVAE, crops: torch.Tensor, code: Code, pairs: int = 24) -> dict:
    """Swap measures of restyles (A's layout, B's style) at strength 1 and 0.5."""
    index = swap_pairs(len(crops), pairs)
    a, b = [i for i, _ in index], [j for _, j in index]
    layouts = Code(code.structure[a], code.style[a], code.size)
    recon = _decoded(model, layouts)
    out = {"pairs": len(index)}
    for strength in (1.0, 0.5):
        made = torch.cat([_decoded(model, restyled(
            Code(layouts.structure[i:i + 1], layouts.style[i:i + 1], code.size),
            Code(code.structure[j:j + 1], code.style[j:j + 1], code.size), strength, None,
            centre=model.style_mean.cpu())) for i, j in zip(range(len(a)), b, strict=True)])
        out[f"strength_{strength:g}"] = {
            "transfer": round(style_transfer(made, recon, crops[b]).mean().item(), 3),
            "colour_transfer": round(colour_transfer(made, recon, crops[b]).mean().item(), 3),
            "layout_kept": round(layout_kept(made, crops[a]).mean().item(), 3)}
    return out


@torch.inference_mode()
def seam_effects(model: ArtVAE, crops: torch.Tensor, count: int = 24) -> dict:
    """Seam ratio (wrap-around step over inner step) of seamless inputs, of their restyles
    with `tileable` (wrapped encode, circular decode) and without."""
    device = next(model.parameters()).device
    half = crops[:count, :, : SIDE // 2, : SIDE // 2]
    row = torch.cat([half, half.flip(-1)], dim=-1)
    tiles = torch.cat([row, row.flip(-2)], dim=-2).roll((SIDE // 4, SIDE // 4), (-2, -1))
    x = ArtVAE.to_model_range(tiles.to(device))
    structure, style = wrapped_codes(model, x)
    tiled = ArtVAE.to_image_range(model.decode(structure, style, True)).float().cpu()
    q_s, q_w = model.encode(x)
    plain = ArtVAE.to_image_range(model.decode(q_s.mode(), q_w.mode())).float().cpu()
    return {"images": len(tiles),
            **{key: {"median": round(r.median().item(), 3), "max": round(r.max().item(), 3)}
               for key, r in (("input", seam_ratio(tiles)), ("tileable", seam_ratio(tiled)),
                              ("not_tileable", seam_ratio(plain)))}}


def evaluate_controls(model: ArtVAE, controls: StyleControls | None,
                      groups: dict[str, list[torch.Tensor]]) -> dict:
    """Every measure of the module's docstring over held-out images by group ((3, H, W)
    uint8 each; "textures" for scale and seams, all for the rest)."""
    images = [im for members in groups.values() for im in members]
    crops = centre_crops(images, SIDE)
    code = _codes(model, crops)
    textures = centre_crops(groups.get("textures") or images, SIDE)
    out = {}
    if controls is not None:
        out["style"] = control_effects(model, controls, code)
    out["scale"] = scale_effects(model, _codes(model, textures))
    out["restyle"] = restyle_effects(model, crops, code)
    out["seams"] = seam_effects(model, textures)
    return out


def controls_table(m: dict) -> str:
    """The card's table of the controls, the scale and restyle lines."""
    parts = []
    if "style" in m:
        s = m["style"]
        head = " / ".join(LOOKS)
        rows = [f"| control, {s['images']} held-out images | own look, spreads | moved the "
                f"right way | mean change of each look, spreads: {head} |",
                "|---|---|---|---|"]
        for name in LOOKS:
            for sign in "+-":
                r = s.get(f"{name}{sign}")
                if r is None:
                    continue
                others = " / ".join(f"{r['moved'][k]:.2f}" for k in LOOKS)
                rows.append(f"| {name} {sign}{s['amount']:g} | {r['own']:+.2f} | "
                            f"{100 * r['right_way']:.0f}% | {others} |")
        parts.append("\n".join(rows))
    sc = m["scale"]
    ratios = []
    for key, says in (("scale_2", "at 2 it falls"), ("scale_0.5", "at 0.5 it rises"),
                      ("scale_0.5_vs_2", "0.5 against 2: higher")):
        if key not in sc:  # measured before the 0.5-against-2 figure was added
            continue
        r, z = sc[key]["model"], sc[key]["ideal_zoom"]
        ratios.append(f"{says} {r['median_ratio']:.2f}x (median; "
                      f"1.5x or more on {100 * r['share_1.5']:.0f}%; a plain zoom of the "
                      f"reconstruction: {z['median_ratio']:.2f}x, {100 * z['share_1.5']:.0f}%)")
    parts.append(f"Scale ({sc['images']} held-out textures; mean spatial frequency of the "
                 f"luma in blocks of the decoder's cell): " + "; ".join(ratios) + ".")
    r = m["restyle"]
    lines = [f"strength {key.split('_')[1]}: transfer {v['transfer']:.2f}, colour transfer "
             f"{v['colour_transfer']:.2f}, layout kept {v['layout_kept']:.2f}"
             for key, v in r.items() if key.startswith("strength")]
    parts.append(f"Restyle with a style image ({r['pairs']} pairs of different held-out "
                 f"images): {'; '.join(lines)}.")
    se = m["seams"]
    parts.append(
        f"Seams ({se['images']} seamless held-out tiles; wrap-around step over inner step, "
        f"median / worst): input {se['input']['median']:.2f} / {se['input']['max']:.2f}, "
        f"restyled `--tileable` {se['tileable']['median']:.2f} / {se['tileable']['max']:.2f}, "
        f"without {se['not_tileable']['median']:.2f} / {se['not_tileable']['max']:.2f}.")
    return "\n\n".join(parts)

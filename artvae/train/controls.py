"""Learn the named style controls of frozen weights (`python -m artvae controls`, and export).

From training crops' codes and the measured look of their decodes (`artvae.ops.looks`):

1. **Directions** (brightness, contrast, warmth, grain): a ridge regression of the five looks on
   the style, then for each look the step in style space that the regression says moves it by
   one spread (its std across the crops) with the other looks held where they are, of least
   length in units of the training styles' own spread (so the step stays among styles the
   decoder knows). Saturation and warmth are not held against each other: warming a greyish
   image gives it colour, and no fixed direction undoes that (held, warmth +2 still moved
   saturation 1.6 spreads, and saturation -2 went the right way on fewer images, 84%).
2. **Saturation** is a step that depends on the style: away from the style of the image's own
   greyscale version. The greyscale crops are encoded too, and a linear map from a style to its
   greyscale one is fitted; the step is `style - grey(style)`. (A fixed direction fitted like
   the others did not move saturation: whether a given step adds or removes chroma depends on
   the image's hue.)
3. **Measured cross-talk removed**: each control is decoded one unit up and down on a probe of
   the crops; the matrix of what each moves (in spreads) is inverted, so each control comes to
   move its own look and, to first order, no other (saturation and warmth excepted, as above).
4. **Units**: each control's step on each side of zero is scaled so that two units move its
   look by 2 x UNIT spreads on the probe: the decoder's answer is not symmetric (darkening a
   dark crop moves it less than brightening it). Saturation's low end is the greyscale style
   itself: past it, chroma comes back in the opposite hues.

Several minutes on 2 CPU cores at the defaults (1,024 crops of 128 px). The weights are not
touched: the controls go to their own file (`artvae.model.controls`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.controls import STYLE_CONTROLS, StyleControls, write_controls
from artvae.model.device import pick_device
from artvae.model.hub import WEIGHTS_FILE, file_sha256, load_model
from artvae.ops.looks import LOOKS, look
from artvae.ops.metrics import grey
from artvae.ops.restyle import CONTROL_RANGE

from .data import centre_crops, load_uint8, read_manifest

CROPS, SIDE = 1024, 128  # training crops the controls are learned from, and their side
PROBE = 256  # of those, the crops the cross-talk and the units are measured on
UNIT = 0.65  # one unit moves a look by this many spreads: +-2 about 1.3, the slider's end ~2
RIDGE = 1e-3  # of the styles' mean square, added to the regressions' diagonal
GAIN_LIMITS = (0.2, 3.0)  # a side's scale stays within these: a look that barely moves is
# left weak rather than pushed far outside the styles the decoder knows
NOT_HELD = {("saturation", "warmth"), ("warmth", "saturation")}
BATCH = 32

assert tuple(STYLE_CONTROLS) == LOOKS  # each control moves the look of its name


def training_crops(data: Path, count: int = CROPS, side: int = SIDE) -> torch.Tensor:
    """The centre crops (N, 3, side, side) in [0, 1] of `count` training images evenly spread
    over the training split (all of them where it has fewer)."""
    entries = read_manifest(data, "train")
    if not entries:
        raise ValueError(f"no training images in {data}/manifest.json")
    picks = torch.linspace(0, len(entries) - 1, min(count, len(entries))).round().long()
    images = [load_uint8(Path(data) / entries[i]["file"], max_side=512) for i in picks.tolist()]
    return centre_crops(images, side)


@torch.inference_mode()
def _codes(model: ArtVAE, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[0, 1] crops -> (structures, styles), posterior means, on the model's device."""
    device = next(model.parameters()).device
    structures, styles = [], []
    for x in crops.split(BATCH):
        q_s, q_w = model.encode(ArtVAE.to_model_range(x.to(device)))
        structures.append(q_s.mode())
        styles.append(q_w.mode())
    return torch.cat(structures), torch.cat(styles)


@torch.inference_mode()
def _looks(model: ArtVAE, structures: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """The looks (N, 5) of the decodes D(s, w), on the CPU."""
    return torch.cat([look(ArtVAE.to_image_range(model.decode(s, w)).float()).cpu()
                      for s, w in zip(structures.split(BATCH), styles.split(BATCH), strict=True)])


def _ridge(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Coefficients B (x.shape[1], y.shape[1]) of y ~ x @ B, ridge-regularised."""
    gram = x.T @ x
    scale = RIDGE * gram.diagonal().mean()
    return torch.linalg.solve(gram + scale * torch.eye(len(gram)), x.T @ y)


def held_directions(styles: torch.Tensor, looks: torch.Tensor) -> torch.Tensor:
    """(5, D_w): for each look the step of least length in the styles' own spread that the
    regression of the looks on the style says moves that look by one spread and holds the
    others (save the pairs of NOT_HELD) where they are."""
    centred = styles - styles.mean(0)
    spread = looks.std(0)
    slopes = _ridge(centred, (looks - looks.mean(0)) / spread).T  # (5, D_w): spreads per unit
    covariance = centred.T @ centred / len(centred)
    rows = []
    for k, name in enumerate(LOOKS):
        held = [k] + [j for j, other in enumerate(LOOKS)
                      if j != k and (name, other) not in NOT_HELD]
        a = slopes[held]  # (m, D_w); the step d solves a @ d = e_0 with least d' C^-1 d
        d = covariance @ a.T @ torch.linalg.solve(a @ covariance @ a.T, torch.eye(len(held))[0])
        rows.append(d)
    return torch.stack(rows)


def grey_field(model: ArtVAE, crops: torch.Tensor, styles: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Saturation's step, `style - grey(style)`, as (offset at the centre (D_w,), linear part
    (D_w, D_w)) around the styles' mean: `grey` is a linear map fitted from the crops' styles
    to the styles of their greyscale versions."""
    _, grey_styles = _codes(model, grey(crops).expand(-1, 3, -1, -1))
    styles, grey_styles = styles.cpu(), grey_styles.cpu()
    centre = styles.mean(0)
    ones = torch.ones(len(styles), 1)
    fit = _ridge(torch.cat([styles - centre, ones], 1), grey_styles)  # (D_w + 1, D_w)
    linear = torch.eye(len(centre)) - fit[:-1].T  # d(style - grey(style)) / d style
    offset = centre - fit[-1]  # style - grey(style) at the centre
    return offset, linear


def responses(model: ArtVAE, structures: torch.Tensor, styles: torch.Tensor,
              controls: StyleControls, spread: torch.Tensor, amount: float,
              base: torch.Tensor) -> torch.Tensor:
    """(5, K): the mean change of each look (in spreads) per unit of each control, from 0
    (the looks `base`) to `amount` units, over the codes given."""
    columns = []
    for name in controls.names:
        moved = _looks(model, structures, styles + controls.step(styles, name, amount))
        columns.append((moved - base).mean(0) / spread / amount)
    return torch.stack(columns, dim=1)


def fit_controls(model: ArtVAE, crops: torch.Tensor, probe: int = PROBE, unit: float = UNIT,
                 say: Callable[[str], None] = print) -> StyleControls:
    """The named style controls of `model` (frozen), learned from [0, 1] `crops` (see the
    module's docstring)."""
    model.eval()
    say(f"encoding {len(crops)} training crops")
    structures, styles = _codes(model, crops)
    looks = _looks(model, structures, styles)
    spread = looks.std(0)
    centre = styles.mean(0).cpu()
    offsets = held_directions(styles.cpu(), looks)  # (5, D_w)
    linear = torch.zeros(len(LOOKS), len(centre), len(centre))
    say("saturation: encoding the crops in greyscale")
    k = LOOKS.index("saturation")
    offsets[k], linear[k] = grey_field(model, crops, styles)
    controls = StyleControls(LOOKS, centre, offsets, linear, torch.ones(len(LOOKS), 2))
    s, w, base = structures[:probe], styles[:probe], looks[:probe]
    say(f"cross-talk: each control up and down on {len(s)} crops")
    moved = (responses(model, s, w, controls, spread, 1.0, base)
             + responses(model, s, w, controls, spread, -1.0, base)) / 2  # (looks, controls)
    for a, b in NOT_HELD:
        moved[LOOKS.index(a), LOOKS.index(b)] = 0.0
    mixing = torch.linalg.inv(moved)  # control k' = sum_k mixing[k, k'] control k
    offsets = mixing.T @ controls.offsets
    linear = torch.einsum("kj,kde->jde", mixing, controls.linear)
    controls = StyleControls(LOOKS, centre, offsets, linear, torch.ones(len(LOOKS), 2))
    say("units: two up and two down")
    gains = torch.ones(len(LOOKS), 2)
    for side, amount in enumerate((2.0, -2.0)):
        own = responses(model, s, w, controls, spread, amount, base).diagonal()
        gains[:, side] = (unit / own.clamp_min(1e-3)).clamp(*GAIN_LIMITS)
    # past the greyscale style, less saturation turns into the opposite hues' chroma: the
    # slider's end is the greyscale version
    gains[k, 1] = min(GAIN_LIMITS[1], 1.0 / (CONTROL_RANGE * mixing[k, k].abs().item() + 1e-6))
    info = {"crops": len(crops), "side": int(crops.shape[-1]), "probe": len(s),
            "unit_spreads": unit, "look_spread": dict(zip(LOOKS, spread.tolist(), strict=True)),
            "cross_talk_removed": moved.tolist()}
    return StyleControls(LOOKS, centre, offsets, linear, gains, info)


def refill(weights: Path, data: Path, crops: int = CROPS, side: int = SIDE,
           device: str | None = None, out: Path | None = None) -> Path:
    """Learn the controls of the weights folder `weights` from the corpus `data` and write
    them beside the weights (or into `out`); returns the file."""
    weights = Path(weights)
    model = load_model(str(weights)).to(pick_device(device)).eval()
    controls = fit_controls(model, training_crops(data, crops, side))
    controls.info["weights_sha256"] = file_sha256(weights / WEIGHTS_FILE)[:16]
    controls.info["data"] = Path(data).name
    return write_controls(out or weights, controls)

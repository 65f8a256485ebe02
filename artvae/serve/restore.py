"""Restore: a PNG made here puts the app's controls back as they were when it was made.

Every result PNG carries the recipe that made it (`playground.recipe`, written by `save_png`).
`restore_settings` reads a recipe as untrusted text: each value is checked as its operation
checks it, and one that fails is left out. `restored_controls` fits the settings to the app's
controls: the tab to open, the images of its inputs, each slider's value, and a note for the
status line. A recipe names its input images by digest only, so the app's examples come back
as their files and other uploads as None (the note asks for them again); a Paint recipe keeps
its mask itself (`playground.mask_to_text`). No Gradio here: the tabs of `artvae.ui` set the
components.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from artvae.ops import paint, palette
from artvae.ops.latent import BLEND_MODES

from .checks import flag, number, one_of, whole_number
from .playground import (
    EXPLORE_RANGE,
    MAX_MIX,
    MAX_REFINE_STEPS,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    RAMPS,
    SLIDER_MIN_SIZE,
    SLIDER_STEP,
    checked_controls,
    mask_from_text,
)

TABS = {"encode": "encode", "mix": "mix", "blend": "blend", "morph": "blend",
        "sample": "explore", "paint": "paint", "palette": "palette"}  # recipe op -> its tab
NO_CONTROLS = ("variations", "expand", "restyle")  # made by buttons: no controls hold these


def _checked(settings: dict, key: str, recipe: dict, check: Callable) -> None:
    """settings[key] = check(recipe[key]) when the recipe has it and it passes the check."""
    with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
        settings[key] = check(recipe[key])


def restore_settings(recipe: dict | None, known_inputs: dict[str, str]) -> dict:
    """The playground settings a recipe describes, for the app to put back in its controls.
    A recipe is untrusted text: values that fail the checks are left out. `known_inputs` maps
    digests to files this app has (its examples); inputs it lacks come back as None. A Paint
    recipe's mask comes back as an image (`mask`)."""
    op = (recipe or {}).get("op")
    if op in NO_CONTROLS:
        raise ValueError(f"That PNG is a {op} result, made by a button with no settings to put "
                         "back: Restore takes the results of Encode, Mix, Blend, Explore, Paint "
                         "and Palette (a restyle's settings are in its recipe and the zip's "
                         "restyle.json).")
    if op not in TABS:
        raise ValueError("That PNG carries no ArtVAE recipe: drop a PNG made by this app.")
    digests = recipe.get("inputs") if isinstance(recipe.get("inputs"), list) else []
    images = [known_inputs.get(d) if isinstance(d, str) else None for d in digests]
    settings = {"op": op, "images": images, "weights": recipe.get("weights")}
    _checked(settings, "tileable", recipe, lambda v: flag(v, "tileable"))
    _checked(settings, "size", recipe, lambda v: whole_number(v, "size", MIN_SIZE, MAX_SIZE))
    _checked(settings, "t", recipe, lambda v: number(v, "t", 0, 1))
    _checked(settings, "mode", recipe, lambda v: one_of(v, "mode", BLEND_MODES))
    _checked(settings, "ramp", recipe, lambda v: one_of(v, "ramp", RAMPS))
    _checked(settings, "steps", recipe, lambda v: whole_number(v, "steps", 1, MAX_STEPS))
    _checked(settings, "refine", recipe,
             lambda v: whole_number(v, "refine", 0, MAX_REFINE_STEPS))
    _checked(settings, "seed", recipe, lambda v: whole_number(v, "seed", 0, MAX_SEED))
    _checked(settings, "temperature", recipe, lambda v: number(v, "temperature", 0, 3))
    _checked(settings, "mix_weights", recipe, lambda v: [number(w, "w", 0, 1e6) for w in v])
    _checked(settings, "structure_from", recipe,
             lambda v: None if v is None else whole_number(v, "structure_from", -1, MAX_MIX))
    _checked(settings, "controls", recipe, checked_controls)  # the named controls
    for key in ("coords", "offsets"):
        _checked(settings, key, recipe, lambda v, key=key: [
            number(c, key, -EXPLORE_RANGE, EXPLORE_RANGE) for c in v or []])
    # Paint: its inputs are [mask, textures 1..`textures`, the layout image if `layout`]
    _checked(settings, "softness", recipe, lambda v: number(v, "softness", 0, 1))
    _checked(settings, "textures", recipe,
             lambda v: whole_number(v, "textures", 1, paint.MAX_TEXTURES))
    _checked(settings, "layout", recipe, lambda v: flag(v, "layout"))
    _checked(settings, "mask", recipe, mask_from_text)
    # Palette: its inputs are the four corners, in reading order
    for key in ("rows", "cols"):
        _checked(settings, key, recipe, lambda v, key=key: whole_number(
            v, key, palette.MIN_GRID, palette.MAX_GRID))
    _checked(settings, "cell", recipe,
             lambda v: whole_number(v, "cell", palette.MIN_CELL, palette.MAX_CELL))
    return settings


def _fit(value: float, low: int, high: int, step: int) -> int:
    """`value` on a slider's steps (multiples of `step`) within [low, high]."""
    return min(high, max(low, round(value / step) * step))


def restored_controls(settings: dict, weights: str, slots: int, directions: int) -> dict:
    """`restore_settings`' output -> values the app's controls can show: the tab, the shared
    size (on the 64 px steps from 256) and tileable switch, a note for the status line, and the
    tab's own controls. Encode, Mix, Blend and Explore: the images of its `slots` inputs, each
    control's value fitted to its slider (at least 2 morph steps, mix weights scaled into 0..1),
    the Mix layout as a slot index (`slots`: blend all), `directions` explore coordinates.
    Paint and Palette: their own dict under the tab's name (`_paint_controls`,
    `_palette_controls`)."""
    tab = TABS[settings["op"]]
    controls = {"tab": tab}
    if "tileable" in settings:
        controls["tileable"] = settings["tileable"]
    side = settings.get("size")
    mask = settings.get("mask")
    if side is None and mask is not None and mask.width == mask.height:
        side = mask.width  # painted at the mask's own size
    if side is not None:
        controls["size"] = _fit(side, SLIDER_MIN_SIZE, MAX_SIZE, SLIDER_STEP)
    if tab == "paint":
        controls["paint"], missing = _paint_controls(settings)
    elif tab == "palette":
        controls["palette"], missing = _palette_controls(settings)
    else:
        controls |= _playground_controls(settings, tab, slots, directions)
        missing = None in settings["images"]
    note = f"Restored the settings of a **{settings['op']}** made with `{settings['weights']}`."
    if settings["weights"] != weights:
        note += f" This app runs `{weights}`: the result may differ."
    if missing:
        note += (" Some of its input images are not among the examples: drop the same images "
                 "in again (the PNG keeps only their digests).")
    if tab == "paint" and mask is None:
        note += (" Its mask is not in the PNG (too big and busy to keep, or made before masks "
                 "were kept): paint or upload it again.")
    controls["note"] = note
    return controls


def _playground_controls(settings: dict, tab: str, slots: int, directions: int) -> dict:
    """The controls of Encode, Mix, Blend and Explore (see `restored_controls`)."""
    controls = {"images": (settings["images"] + [None] * slots)[:slots],
                "named": dict(settings.get("controls", {}))}
    for key in ("t", "mode", "ramp", "seed", "temperature"):
        if key in settings:
            controls[key] = settings[key]
    if "steps" in settings:
        controls["steps"] = max(2, settings["steps"])
    if tab == "encode":  # the Refine switch: on for a refined reconstruction, else off
        controls["refine"] = settings.get("refine", 0) > 0
    if tab == "mix":
        mix_weights = settings.get("mix_weights", [])[:slots]
        top = max([1.0, *mix_weights])  # sliders go to 1; the mix normalises anyway
        controls["mix_weights"] = [w / top for w in mix_weights]
        controls["mix_weights"] += [1.0] * (slots - len(mix_weights))
        if "structure_from" in settings:
            k = settings["structure_from"]
            controls["layout"] = slots if k is None or k < 0 else min(k, slots - 1)
    if tab == "explore":  # the sliders nudge the seed's style; older recipes set it outright
        values = (settings.get("offsets") or settings.get("coords") or [])[:directions]
        controls["coords"] = values + [0.0] * (directions - len(values))
    return controls


def _paint_controls(settings: dict) -> tuple[dict, bool]:
    """The Paint tab's controls: `mask` (an image, or None when the recipe lacks it), the
    `textures` of its four slots, `layout_image`, where the layout comes from (`layout_from`:
    "texture", "image" or "seed"), `seed` and `softness` where the recipe has them; and
    whether an input image it needs is missing."""
    images = settings["images"]  # [mask, textures..., layout image?]
    layout = settings.get("layout", False)
    count = settings.get("textures", min(paint.MAX_TEXTURES, max(1, len(images) - 1 - layout)))
    textures = (images[1:1 + count] + [None] * paint.MAX_TEXTURES)[:paint.MAX_TEXTURES]
    layout_image = images[1 + count] if layout and len(images) > 1 + count else None
    controls = {"mask": settings.get("mask"), "textures": textures,
                "layout_image": layout_image,
                "layout_from": "image" if layout else "seed" if "seed" in settings else "texture"}
    controls |= {k: settings[k] for k in ("seed", "softness") if k in settings}
    needed = textures[:count] + ([layout_image] if layout else [])
    return controls, None in needed


def _palette_controls(settings: dict) -> tuple[dict, bool]:
    """The Palette tab's controls: its four `corners`, `rows`, `cols` and `cell` (fitted to
    the cell slider) where the recipe has them; and whether a corner image is missing."""
    corners = (settings["images"] + [None] * len(palette.CORNERS))[:len(palette.CORNERS)]
    controls = {"corners": corners} | {k: settings[k] for k in ("rows", "cols") if k in settings}
    if "cell" in settings:
        controls["cell"] = _fit(settings["cell"], *palette.CELL_SLIDER)
    return controls, None in corners

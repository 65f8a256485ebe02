"""Named style controls: brightness, contrast, saturation, warmth and grain as steps in the style
space, stored in a small file beside the weights (`style_controls.safetensors`).

They are learned after the autoencoder, with it frozen (`python -m artvae controls`, or export),
from training crops' styles against the measured look of their decodes (`artvae.train.controls`),
so they can be refilled whenever the weights change, and the weights file keeps its format:
weights without the file load as before and simply have no named controls. One unit of a
control moves its property by about the same share of its spread across images, whatever the
control: 0 is the image as it is, +-1 a clear step, +-3 the slider's end.

A control's step may depend on the style it starts from: `offset + (style - centre) @ linear.T`
(`linear` is zero for a fixed direction; saturation's step points away from the style of the
image's own greyscale version, which differs from image to image), scaled by the control's
gain on that side of zero (`gains[:, 0]` for +, `[:, 1]` for -).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

CONTROLS_FILE = "style_controls.safetensors"
STYLE_CONTROLS = ("brightness", "contrast", "saturation", "warmth", "grain")
FORMAT = 1  # the file's layout; a file of another layout is ignored with a warning


@dataclass(frozen=True, eq=False)
class StyleControls:
    names: tuple[str, ...]  # the controls, in the order of the tensors' first dimension
    centre: torch.Tensor  # (D_w,) the style the linear parts are taken around
    offsets: torch.Tensor  # (K, D_w) each control's step of one unit at the centre
    linear: torch.Tensor  # (K, D_w, D_w) how that step changes with the style (0: a direction)
    gains: torch.Tensor  # (K, 2) the step's length for positive and for negative amounts
    info: dict = field(default_factory=dict)  # how they were made and measured (JSON)

    def step(self, style: torch.Tensor, name: str, amount: float) -> torch.Tensor:
        """The change `amount` units of control `name` makes to styles (B, D_w) -> (B, D_w)."""
        k = self.names.index(name)
        gain = self.gains[k, 0 if amount >= 0 else 1]
        offset = self.offsets[k].to(style)
        moved = offset + (style - self.centre.to(style)) @ self.linear[k].to(style).T
        return float(amount) * gain.item() * moved

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"centre": self.centre, "offsets": self.offsets, "linear": self.linear,
                "gains": self.gains}


def write_controls(folder: str | Path, controls: StyleControls) -> Path:
    """Write the controls beside the weights in `folder`; returns the file."""
    path = Path(folder) / CONTROLS_FILE
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in controls.to_tensors().items()}
    metadata = {"format": str(FORMAT), "names": json.dumps(list(controls.names)),
                "info": json.dumps(controls.info)}
    save_file(tensors, path, metadata=metadata)
    return path


def read_controls(path: str | Path, style_dim: int) -> StyleControls:
    """The controls in a file written by `write_controls`, checked against the model's style
    size; ValueError when the file is not such a file."""
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as file:
        metadata = file.metadata() or {}
    if metadata.get("format") != str(FORMAT):
        raise ValueError(f"{path} is not a style-controls file of format {FORMAT}")
    names = tuple(json.loads(metadata["names"]))
    k = len(names)
    shapes = {"centre": (style_dim,), "offsets": (k, style_dim),
              "linear": (k, style_dim, style_dim), "gains": (k, 2)}
    for name, shape in shapes.items():
        if name not in tensors or tuple(tensors[name].shape) != shape:
            raise ValueError(f"{path}: {name} should be {shape} for these weights")
    return StyleControls(names, tensors["centre"], tensors["offsets"], tensors["linear"],
                         tensors["gains"], json.loads(metadata.get("info", "{}")))

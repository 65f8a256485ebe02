"""Widgets and event settings the tabs share: an image input, example rows, the named controls'
sliders, the settings of an event that runs the model, and the note a tab shows while an input it
needs is missing."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import gradio as gr

from artvae.model.controls import STYLE_CONTROLS
from artvae.ops.restyle import CONTROL_RANGE, SCALE_RANGE
from artvae.serve.webapi import friendly, gpu

# An event that runs the model: private (the web API is `artvae.serve.webapi`), queued with the
# API's calls on one concurrency group, only the latest of a burst of triggers run.
ENGINE = dict(api_visibility="private", concurrency_id="engine", trigger_mode="always_last")
# Encode, Mix, Blend and Explore take their inputs raw and check them as the web API does
# (`webapi.uploaded`): a bare string could name any file on the server.
RAW = ENGINE | {"preprocess": False}


NAMED = (*STYLE_CONTROLS, "scale")  # the named controls, in the order of their sliders
NAMED_DEFAULTS = {name: 0.0 for name in STYLE_CONTROLS} | {"scale": 1.0}
NAMED_INFO = {"brightness": "darker / lighter", "contrast": "flatter / punchier",
              "saturation": "greyer / more colourful", "warmth": "bluer / more orange",
              "grain": "smoother / rougher, finer detail",
              "scale": "the pattern's size: 2 twice as big, 0.5 half"}


class Waiting(Exception):
    """A tab cannot run yet (an input is missing): say so, change nothing."""


def waits(fn: Callable, outputs: int) -> Callable:
    """`fn`, except that a missing input shows a note and changes nothing (a generator: from
    where it stopped)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def steps(*values):
            try:
                yield from fn(*values)
            except Waiting as e:
                gr.Info(str(e))
                yield gr.skip() if outputs == 1 else [gr.skip()] * outputs
        return steps

    @functools.wraps(fn)
    def wrapper(*values):
        try:
            return fn(*values)
        except Waiting as e:
            gr.Info(str(e))
            return gr.skip() if outputs == 1 else [gr.skip()] * outputs
    return wrapper


def runs_model(fn: Callable, outputs: int) -> Callable:
    """`fn` as an event runs it: on the GPU of a ZeroGPU Space, errors a person can act on as a
    `gr.Error`, a missing input (`Waiting`) as a note."""
    return gpu(friendly(waits(fn, outputs)))


def waiting(message: str, outputs: int) -> list:
    """Not ready yet (a control moved before the images were there): say so, keep what the
    outputs show."""
    gr.Info(message)
    return [gr.skip()] * outputs


def texture(label: str, elem_id: str, height: int = 240, value: str | None = None,
            min_width: int = 140) -> gr.Image:
    """An image input: upload or paste, passed on as a file path (140 px wide at least: two
    abreast on a phone)."""
    return gr.Image(value, label=label, type="filepath", sources=["upload", "clipboard"],
                    height=height, elem_id=elem_id, min_width=min_width)


def example_rows(examples: dict[str, str], rows: list[list[str | None]],
                 inputs: list) -> gr.Examples:
    """Rows of example images (by name; None leaves an input empty) that fill `inputs`."""
    return gr.Examples([[examples.get(n) for n in row] for row in rows], inputs,
                       label="Examples", api_visibility="private")


def busy(size) -> None:
    """A progress note on big outputs. gr.Progress reports to the running event whether or not
    it is a parameter (a parameter would not work after *values)."""
    if isinstance(size, (int, float)) and size >= 1024:
        gr.Progress()(0.05, desc=f"Making a {size}x{size} texture")


def when_shown(tab: gr.State, name: str, event: dict) -> dict:
    """`event` (fn, inputs, outputs), run only while the tab `name` is the visible one."""
    fn, outputs = event["fn"], event["outputs"]

    def run(visible, *values):
        if visible != name:
            return [gr.skip()] * len(outputs)
        return fn(*values)

    return dict(fn=run, inputs=[tab, *event["inputs"]], outputs=outputs)


def named_controls(prefix: str, has_style: bool) -> list[gr.Slider]:
    """The named controls' sliders (NAMED order), in rows of three, ids `<prefix>-<name>`:
    -3..3 for the look (0 as it is, +-1 a clear step), 0.25..4 for the scale. Weights without
    style controls show the scale alone."""
    sliders = []
    for first in range(0, len(NAMED), 3):
        with gr.Row():
            for name in NAMED[first:first + 3]:
                low, high = SCALE_RANGE if name == "scale" else (-CONTROL_RANGE, CONTROL_RANGE)
                sliders.append(gr.Slider(
                    low, high, value=NAMED_DEFAULTS[name], step=0.05, label=name.capitalize(),
                    info=NAMED_INFO[name], min_width=160, elem_id=f"{prefix}-{name}",
                    visible=has_style or name == "scale"))
    return sliders


def named_values(values) -> dict:
    """The sliders' values (NAMED order) -> the controls a playground operation takes: those
    moved from their defaults."""
    return {name: float(v) for name, v in zip(NAMED, values, strict=True)
            if v is not None and float(v) != NAMED_DEFAULTS[name]}

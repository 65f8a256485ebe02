"""The Paint tab: a mask painted on a canvas (or a starting shape, or an upload), each colour's
regions rendered in one texture's style over one layout, with soft borders (`pg.paint`)."""

from __future__ import annotations

import gradio as gr
from PIL import Image

from artvae.ops import paint as paint_ops
from artvae.serve import playground as pg
from artvae.serve.pictures import tiled
from artvae.serve.playground import Result
from artvae.serve.webapi import friendly, gpu

from .page import Page
from .widgets import ENGINE, example_rows, texture, waiting, when_shown

CANVAS = 512  # the mask canvas, in pixels (it is stretched over any output size)
LAYOUT_CHOICES = ("Texture 1", "Layout image", "Random (seed)")
LAYOUT_FROM = dict(zip(("texture", "image", "seed"), LAYOUT_CHOICES, strict=True))  # Restore's
FIRST_TEXTURES = ("bricks", "cells")  # the first page's painting: these on the halves mask


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def mask_of(editor: dict | None) -> Image.Image | None:
    """The ImageEditor's value -> the painted mask (unpainted canvas is white); None if the
    canvas is empty."""
    for key in ("composite", "background"):
        if editor and editor.get(key) is not None:
            return editor[key]
    return None


def filled_textures(values) -> list[str]:
    """Texture slots -> the leading filled ones; a gap before a filled slot is an error (the
    mask's colours pick textures by position)."""
    last = max((i for i, v in enumerate(values) if v is not None), default=-1)
    if last < 0:
        raise ValueError("Add a texture for the red regions (texture 1): upload one or pick "
                         "an example.")
    for i in range(last + 1):
        if values[i] is None:
            name = paint_ops.MASK_COLOURS[i][0]
            raise ValueError(f"Texture {i + 1} ({name}) is empty but a later one is not: add "
                             f"it, or move the textures up.")
    return list(values[:last + 1])


class Paint:
    """The tab; unlike Encode, Mix, Blend and Explore it keeps its own events (its inputs are
    preprocessed by Gradio: the canvas arrives as images) and re-runs, when shown, on the shared
    size and tileable controls (`wire`) and after Restore (`rerun_after`)."""

    name = "paint"

    def __init__(self, page: Page):
        self.page = page
        self.controls: dict = {}  # none of the page's shared Restore keys

    def shown(self, result: Result) -> tuple:
        path = self.page.download(result)
        return path, tiled(result.image), path

    def paint_ui(self, editor, t1, t2, t3, t4, layout_from, layout_image, seed, softness, side,
                 tiles):
        if t1 is None:
            return waiting("Add texture 1 (red regions): upload one or pick an example.", 3)
        textures = filled_textures([t1, t2, t3, t4])
        mask = mask_of(editor)
        if mask is None:
            return waiting("Paint a mask first: draw on the canvas, pick a starting mask, or "
                           "upload one (red, green, blue, yellow: textures 1-4).", 3)
        layout, layout_seed = None, None
        if layout_from == "Layout image":
            if layout_image is None:
                raise ValueError("Layout from a layout image: add one, or choose another.")
            layout = layout_image
        elif layout_from == "Random (seed)":
            layout_seed = 0 if seed is None else seed
        return self.shown(pg.paint(self.page.engine, mask, textures, layout, softness, side,
                                   tiles, layout_seed))

    @staticmethod
    def starting_mask(shape, *slots):
        if shape is None:
            return gr.skip()
        count = max(2, sum(s is not None for s in slots))
        return paint_ops.example_mask(shape, CANVAS, count)

    def build(self) -> None:
        page = self.page
        first_textures = [page.examples.get(n) for n in FIRST_TEXTURES] + [None, None]
        first_mask = paint_ops.example_mask("halves", CANVAS, 2)
        painted = (None, None, None)
        if all(first_textures[:2]):
            painted = self.shown(pg.paint(page.engine, first_mask, first_textures[:2], None, 0.3,
                                          pg.DEFAULT_SIZE, False))
        with gr.Tab("Paint", id="paint") as self.block:
            colours = ", ".join(f"{name} = texture {i + 1}"
                                for i, (name, _) in enumerate(paint_ops.MASK_COLOURS))
            gr.Markdown(f"Paint regions on the canvas ({colours}; unpainted = texture 1). Each "
                        "region is rendered in its texture's style over one layout, with soft "
                        "borders.")
            with gr.Row():
                with gr.Column(scale=3):
                    self.canvas = gr.ImageEditor(
                        value=first_mask, type="pil",
                        image_mode="RGB", format="png", label="Mask", elem_id="paint-canvas",
                        sources=["upload", "clipboard"], transforms=(), layers=False,
                        canvas_size=(CANVAS, CANVAS), fixed_canvas=True, height=560,
                        brush=gr.Brush(colors=[_hex(rgb) for _, rgb in paint_ops.MASK_COLOURS],
                                       color_mode="fixed", default_size=32))
                    start = gr.Radio(list(paint_ops.MASK_SHAPES), label="Start from a mask",
                                     info="in the colours of the textures given (at least two)",
                                     elem_id="paint-start")
                with gr.Column(scale=2):
                    examples = self._texture_slots(first_textures)
            self._settings_and_result(painted)
        self.event = dict(fn=gpu(friendly(self.paint_ui)),
                          inputs=[self.canvas, *self.textures, self.fields["layout_from"],
                                  self.fields["layout_image"], self.fields["seed"],
                                  self.fields["softness"], *page.shared],
                          outputs=self.outputs)
        gr.on([self.button.click, self.fields["softness"].release,
               self.fields["layout_from"].input], **self.event, **ENGINE)
        examples.load_input_event.then(**self.event, **ENGINE)
        start.input(self.starting_mask, [start, *self.textures], self.canvas,
                    api_visibility="private", queue=False)

    def _texture_slots(self, first: list) -> gr.Examples:
        """The four textures, two by two, with their examples."""
        self.textures = []
        for first_slot in (0, 2):
            with gr.Row():
                self.textures += [
                    texture(f"Texture {i + 1} ({name})", f"paint-texture-{i + 1}", 180, first[i],
                            min_width=160)
                    for i, (name, _) in enumerate(paint_ops.MASK_COLOURS)
                    if first_slot <= i < first_slot + 2]
        return example_rows(self.page.examples, [["bricks", "cells", None, None],
                                                 ["marble", "wood", "woven", "stripes"]],
                            self.textures)

    def _settings_and_result(self, painted: tuple) -> None:
        """Softness, where the layout comes from, the Paint button and the painting."""
        with gr.Row():
            softness = gr.Slider(0, 1, value=0.3, step=0.01, label="Border softness",
                                 info="0: as sharp as the model draws; 1: very soft",
                                 elem_id="paint-softness")
            layout_from = gr.Radio(list(LAYOUT_CHOICES), value=LAYOUT_CHOICES[0],
                                   label="Layout (structure) from")
            seed = gr.Number(0, label="Seed (random layout)", precision=0, minimum=0)
        with gr.Accordion("Layout image", open=False):
            layout_image = texture("Layout image: its structure map gives the layout",
                                   "paint-layout", 180, min_width=160)
        self.button = gr.Button("Paint", variant="primary", elem_id="paint-button")
        with gr.Row(equal_height=True):
            result = gr.Image(painted[0], label="Painted", type="filepath", format="png",
                              interactive=False, height=360, elem_id="paint-result")
            tiles = gr.Image(painted[1], label="2x2 tiled preview (seams show unless tileable)",
                             format="png", interactive=False, height=360,
                             elem_id="paint-result-tiles")
        file = gr.File(painted[2], label="Download: the PNG carries its recipe",
                       interactive=False, height=80)
        self.outputs = [result, tiles, file]
        self.fields = {"mask": self.canvas, "layout_from": layout_from,
                       "layout_image": layout_image, "seed": seed, "softness": softness}

    def wire(self, visible: gr.State) -> None:
        """Showing the tab sets `visible`; the shared size and tileable re-run it when shown."""
        self.block.select(lambda: self.name, None, visible, api_visibility="private",
                          queue=False)
        gr.on([self.page.size.release, self.page.tileable.input],
              **when_shown(visible, self.name, self.event), **ENGINE)

    def rerun_after(self, event, visible: gr.State) -> None:
        """After `event` (the page's restore), re-run the tab if it is the visible one."""
        event.success(**when_shown(visible, self.name, self.event), **ENGINE)

    def restore(self, controls: dict) -> dict:
        """Restore's Paint controls (`controls["paint"]`) -> {component: value} (a mask of None
        clears the canvas, the recipe did not keep it, and the painting shown: it is not the
        restored one)."""
        mine = controls[self.name]
        updates = dict.fromkeys(self.outputs) if "mask" in mine and mine["mask"] is None else {}
        for key, value in mine.items():
            if key == "textures":
                updates |= dict(zip(self.textures, value, strict=True))
            else:
                updates[self.fields[key]] = LAYOUT_FROM[value] if key == "layout_from" else value
        return updates

    @property
    def restorable(self) -> list:
        return [*self.textures, *self.fields.values(), *self.outputs]

"""The Mix tab: up to four textures' styles mixed by weight, over one texture's layout or all of
them blended. The weights' sliders show the mix as they move."""

from __future__ import annotations

import gradio as gr

from artvae.serve import live
from artvae.serve import playground as pg
from artvae.serve.webapi import uploaded

from .page import Tab
from .widgets import NAMED, Waiting, busy, example_rows, named_values, texture

SLOTS = 4  # textures on the tab
LAYOUTS = [f"Texture {i + 1}" for i in range(SLOTS)] + ["Blend all"]
BLEND_ALL = LAYOUTS[-1]


class Mix(Tab):
    name = "mix"

    def mix_made(self, images, weights, layout, size, tileable, named=(), shrink=0):
        filled = [i for i, im in enumerate(images) if im is not None]
        if not filled:
            raise Waiting("Add a texture to mix: upload one or pick an example.")
        structure_from = None
        if layout != BLEND_ALL:
            if layout not in LAYOUTS or LAYOUTS.index(layout) not in filled:
                raise ValueError(f"{layout} gives the layout but is empty: add an image there "
                                 "or choose another.")
            structure_from = filled.index(LAYOUTS.index(layout))
        paths = tuple(uploaded(images[i], f"Texture {i + 1}") for i in filled)
        chosen = tuple(weights[i] for i in filled)
        controls = named_values(named) if named else {}
        busy(size)
        return self.page.fetch(
            ("mix", paths, chosen, structure_from, size, tileable,
             tuple(sorted(controls.items()))),
            lambda k: pg.mix(self.page.engine, list(paths), list(chosen), structure_from, size,
                             tileable, k, controls), shrink)

    @staticmethod
    def split(values: tuple) -> tuple:
        """A handler's values -> (images, weights, layout, size, tileable, named)."""
        layout, size, tileable = values[2 * SLOTS:2 * SLOTS + 3]
        named = values[2 * SLOTS + 3:2 * SLOTS + 3 + len(NAMED)]
        return values[:SLOTS], values[SLOTS:2 * SLOTS], layout, size, tileable, named

    def mix_ui(self, *values):
        result, url = self.mix_made(*self.split(values))
        return live.view(result, url, True), result

    def mix_live(self, *values, least=1):
        parts = self.split(values)
        return self.page.moving(self.mix_made(*parts, self.page.preview(parts[3], least)))

    def ready(self, own: tuple) -> bool:
        return any(v is not None for v in own[:SLOTS])

    def build(self) -> None:
        page = self.page
        self.fn = self.mix_ui
        first = None
        if page.has_examples:
            bricks, cells = page.example_file("bricks"), page.example_file("cells")
            first = self.mix_ui(bricks, cells, None, None, *[1.0] * SLOTS, LAYOUTS[0],
                                pg.DEFAULT_SIZE, False)
        self.images, self.weights = [], []
        with gr.Tab("Mix", id="mix") as self.block:
            with gr.Row():
                for i in range(SLOTS):
                    with gr.Column(min_width=160):
                        self.images.append(texture(
                            f"Texture {i + 1}", f"mix-texture-{i + 1}", 180,
                            page.example(("bricks", "cells", None, None)[i])))
                        self.weights.append(gr.Slider(0, 1, value=1.0, step=0.01,
                                                      label=f"Weight {i + 1}",
                                                      elem_id=f"mix-weight-{i + 1}"))
            self.layout = gr.Radio(LAYOUTS, value=LAYOUTS[0], label="Structure (layout) from",
                                   info="The weights are normalised to sum to one")
            button = gr.Button("Mix", variant="primary")
            view, self.state, self.file = page.results(
                first, "mix-result", "Add textures to mix: the result shows here.")
            self.named_sliders("**Edit the look** of the mix:")
            examples = example_rows(page.examples, [["bricks", "cells", None, None],
                                                    ["marble", "stripes", "wood", "woven"]],
                                    self.images)
        self.inputs = [*self.images, *self.weights, self.layout]
        self.extra = self.named
        self.outputs = [view, self.state]
        self.settle([*(c.input for c in self.images), self.layout.input, button.click])
        self.follow([*self.weights, *self.named], self.mix_live, view)
        self.after(examples.load_input_event)

    def restore(self, controls: dict) -> dict:
        updates = dict(zip(self.images, controls["images"], strict=True))
        updates |= dict(zip(self.weights, controls["mix_weights"], strict=True))
        if "layout" in controls:
            updates[self.layout] = LAYOUTS[controls["layout"]]
        return updates | self.named_restore(controls)

    @property
    def restorable(self) -> list:
        return [*self.images, *self.weights, self.layout, *self.named]

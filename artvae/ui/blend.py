"""The Blend tab: texture A becoming texture B as `t` moves (the whole code, the style alone,
or a style that ramps across the canvas), and the morph A -> B exported as a GIF, an MP4 and a
zip of its frames."""

from __future__ import annotations

import gradio as gr

from artvae.ops.latent import BLEND_MODES
from artvae.serve import live
from artvae.serve import playground as pg
from artvae.serve.files import export_morph
from artvae.serve.webapi import friendly, gpu, uploaded

from .page import Tab
from .widgets import NAMED, RAW, Waiting, busy, example_rows, named_values, texture


class Blend(Tab):
    name = "blend"
    needs = 2

    def blend_made(self, a, b, t, mode, ramp, size, tileable, named=(), shrink=0):
        if a is None or b is None:
            raise Waiting(f"Blend needs two textures: add {'A' if a is None else 'B'}.")
        a, b = uploaded(a, "A"), uploaded(b, "B")
        controls = named_values(named) if named else {}
        busy(size)
        return self.page.fetch(
            ("blend", a, b, t, mode, ramp, size, tileable, tuple(sorted(controls.items()))),
            lambda k: pg.blend(self.page.engine, a, b, t, mode, ramp, size, tileable, k,
                               controls), shrink)

    def blend_ui(self, *values):
        result, url = self.blend_made(*values[:7], values[7:7 + len(NAMED)])
        return live.view(result, url, True), result

    def blend_live(self, *values, least=1):
        return self.page.moving(self.blend_made(*values[:7], values[7:7 + len(NAMED)],
                                                self.page.preview(values[5], least)))

    def morph_ui(self, a, b, mode, ramp, size, tileable, steps, fps, ping_pong, *named):
        progress = gr.Progress()
        if a is None or b is None:
            raise ValueError("A morph needs two textures: add A and B.")
        frames, recipe = pg.morph(self.page.engine, uploaded(a, "A"), uploaded(b, "B"), steps,
                                  mode, ramp, size, tileable,
                                  lambda f: progress(0.9 * f, desc="Decoding frames"),
                                  named_values(named))
        progress(0.9, desc="Writing the GIF, MP4 and zip")
        files = [str(f) for f in export_morph(frames, recipe, self.page.folder.new(), fps,
                                              ping_pong)]
        if not any(f.endswith(".mp4") for f in files):
            gr.Warning("MP4 export needs PyAV (pip install av): made the GIF and the zip.")
        return files[0], files

    def build(self) -> None:
        page = self.page
        self.fn = self.blend_ui
        first = (self.blend_ui(page.example_file("bricks"), page.example_file("wood"), 0.5,
                               "full", "left-right", pg.DEFAULT_SIZE, False)
                 if page.has_examples else None)
        with gr.Tab("Blend", id="blend") as self.block:
            with gr.Row():
                self.image_a = texture("A", "blend-a", value=page.example("bricks"))
                self.image_b = texture("B", "blend-b", value=page.example("wood"))
            t = gr.Slider(0, 1, value=0.5, step=0.01, label="t (0 = A, 1 = B)",
                          elem_id="blend-t")
            with gr.Row():
                mode = gr.Radio(list(BLEND_MODES), value="full", label="Mode",
                                info="full: layout and style move; style: A's layout keeps; "
                                     "spatial: the style ramps across the canvas")
                ramp = gr.Radio(list(pg.RAMPS), value="left-right", label="Ramp (spatial)",
                                interactive=False)
            view, self.state, self.file = page.results(first, "blend-result",
                                                       "Add A and B: the blend shows here.")
            self.named_sliders("**Edit the look** of the blend:")
            examples = example_rows(page.examples, [["bricks", "wood"], ["marble", "cells"],
                                                    ["woven", "stripes"]],
                                    [self.image_a, self.image_b])
            steps = self._morph([self.image_a, self.image_b, mode, ramp])
        self.inputs = [self.image_a, self.image_b, t, mode, ramp]
        self.extra = self.named
        self.outputs = [view, self.state]
        self.controls = {"t": t, "mode": mode, "ramp": ramp, "steps": steps}
        self.settle([self.image_a.input, self.image_b.input, mode.input, ramp.input])
        self.follow([t, *self.named], self.blend_live, view)
        self.after(examples.load_input_event)
        mode.change(lambda m: gr.update(interactive=m == "spatial"), mode, ramp,
                    api_visibility="private", queue=False)

    def _morph(self, inputs: list) -> gr.Slider:
        """The morph's export (an accordion below the blend, in the look the named controls
        give the blend) and its event; its steps slider."""
        with gr.Accordion("Export the morph A -> B", open=False):
            with gr.Row():
                steps = gr.Slider(2, pg.MAX_STEPS, value=16, step=1, label="Steps")
                fps = gr.Slider(2, 30, value=12, step=1, label="Frames per second")
                ping_pong = gr.Checkbox(label="Ping-pong (A -> B -> A)", value=True)
            button = gr.Button("Make GIF, MP4 and a zip of the frames")
            with gr.Row():
                gif = gr.Image(label="Morph (GIF preview)", type="filepath", interactive=False,
                               height=360)
                files = gr.File(label="Downloads", file_count="multiple", interactive=False)
        button.click(gpu(friendly(self.morph_ui)),
                     [*inputs, *self.page.shared, steps, fps, ping_pong, *self.named],
                     [gif, files], **RAW)
        return steps

    def restore(self, controls: dict) -> dict:
        image_a, image_b = controls["images"][:2]
        return {self.image_a: image_a, self.image_b: image_b} | self.named_restore(controls)

    @property
    def restorable(self) -> list:
        return [self.image_a, self.image_b, *self.controls.values(), *self.named]

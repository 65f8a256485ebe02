"""The Encode tab: a texture's reconstruction with its PSNR, its structure map in false colour
and its style as a bar chart, and its look edited by the named controls (brightness, contrast,
saturation, warmth, grain, scale), live while a slider moves; from the same upload, "More like
this" (new layouts in its style) and "Expand" (the texture grown into a larger seamless tile)."""

from __future__ import annotations

import gradio as gr

from artvae.serve import live
from artvae.serve import playground as pg
from artvae.serve.webapi import friendly, gpu, uploaded

from .page import Tab
from .widgets import RAW, Waiting, busy, example_rows, named_values, texture

VARIATIONS = 4  # "more like this": one seed each


class Encode(Tab):
    name = "encode"
    needs = 1

    def encode_made(self, image, tileable, refine=False, named=(), shrink=0):
        if image is None:
            raise Waiting("Upload a texture or pick an example.")
        path = uploaded(image, "Texture")
        steps = pg.REFINE_STEPS if refine is True else 0
        controls = named_values(named) if named else {}
        if steps and not shrink:
            gr.Progress()(0.05, desc="Refining the code")
        return self.page.fetch(
            ("encode", path, tileable, steps, tuple(sorted(controls.items()))),
            lambda k: pg.encode(self.page.engine, path, tileable, steps, controls, k), shrink)

    def encode_ui(self, image, refine, _size, tileable, *named):
        result, url = self.encode_made(image, tileable, refine, named)
        x = result.extras
        psnr = f"**PSNR {x['psnr']:.2f} dB**" + (
            " (the edited look against the upload)" if "controls" in result.recipe else "")
        return live.view(result, url, True), result, psnr, x["structure"], x["style_chart"]

    def encode_upload(self, image, refine, size, tileable, *named):
        """A new upload: the reconstruction from the encoder's first guess at once, where the
        code is still to be made (`playground.first_guess`), then the result in its place."""
        if image is not None and refine is not True:
            guess = pg.first_guess(self.page.engine, uploaded(image, "Texture"), tileable,
                                   named_values(named) if named else {})
            if guess is not None:
                shown = live.view(guess, live.jpeg_url(guess.image), False,
                                  note="the encoder's first guess; correcting the code")
                yield shown, gr.skip(), "*Correcting the code ...*", gr.skip(), gr.skip()
        yield self.encode_ui(image, refine, size, tileable, *named)

    def encode_live(self, image, refine, _size, tileable, *named, least=1):
        return self.page.moving(self.encode_made(image, tileable, refine, named,
                                                 self.page.preview(None, least)))

    def variations_ui(self, image, strength, tileable):
        source = uploaded(image, "Texture") if image is not None else None
        if source is None:
            raise ValueError("Upload a texture first: the variations take its style.")
        return [(self.page.download(pg.variations(self.page.engine, source, seed, strength, None,
                                                  tileable)), f"variation {seed + 1}")
                for seed in range(VARIATIONS)]

    def expand_ui(self, image, side):
        if image is None:
            raise ValueError("Upload a texture first: it is grown into a seamless tile.")
        busy(side)
        result = pg.expand(self.page.engine, uploaded(image, "Texture"), side)
        return live.view(result, live.jpeg_url(result.image), True), self.page.download(result)

    def build(self) -> None:
        page = self.page
        self.fn = self.encode_ui
        first = (self.encode_ui(page.example_file("bricks"), False, pg.DEFAULT_SIZE, False)
                 if page.has_examples else None)
        with gr.Tab("Encode", id="encode") as self.block:
            with gr.Row():
                with gr.Column(min_width=240):
                    self.image = texture("Texture", "encode-texture", 300, page.example("bricks"))
                    examples = example_rows(page.examples, [[n] for n in page.examples],
                                            [self.image])
                    self.refine = gr.Checkbox(
                        False, label="Refine the code", elem_id="encode-refine",
                        info=f"{pg.REFINE_STEPS} steps through the decoder: closer and as crisp "
                             "(held-out textures +0.5 dB), about 1 s at 256 px and 5 s at 512 "
                             "on 2 CPU cores; " + (
                                 f"this server refines every image up to 512 px by "
                                 f"{page.engine.refine_uploads} steps anyway"
                                 if page.engine.refine_uploads else
                                 "Mix and Blend keep the encoder's code"))
                with gr.Column(scale=2, min_width=240):
                    psnr = gr.Markdown(first[2] if first else "")
                    view, self.state, self.file = page.results(
                        first and first[:2], "encode-result", "The reconstruction shows here.")
            self.named_sliders("**Edit the look** of the upload (0: as it is, +-1 a clear "
                               "step); the download carries the edits in its recipe.")
            with gr.Row(equal_height=True):
                structure = gr.Image(first and first[3], label="Structure map (false colour)",
                                     format="png", interactive=False, height=240,
                                     min_width=200, elem_id="encode-structure")
                style = gr.Image(first and first[4],
                                 label="Style (offset from the average texture)", format="png",
                                 interactive=False, height=240, min_width=200,
                                 elem_id="encode-style")
            self._more_and_expand()
        self.inputs = [self.image, self.refine]
        self.extra = self.named
        self.outputs = [view, self.state, psnr, structure, style]
        self.controls = {"refine": self.refine}
        self.settle([self.refine.input])
        self.settle([self.image.input], self.encode_upload)
        self.follow(self.named, self.encode_live, view)
        self.after(examples.load_input_event, self.encode_upload)

    def _more_and_expand(self) -> None:
        """"More like this" and "Expand", below the reconstruction, and their events."""
        with gr.Row(equal_height=True):
            strength = gr.Slider(0.05, 1.0, value=pg.VARIATION_STRENGTH, step=0.05,
                                 label="Variation",
                                 info="small: close to the upload; 1: a fresh layout",
                                 min_width=200)
            more = gr.Button("More like this", elem_id="encode-more", min_width=160)
            grow = gr.Slider(512, pg.MAX_SIZE, value=1024, step=pg.SLIDER_STEP,
                             label="Expand to (px)", min_width=200)
            expand = gr.Button("Expand / make seamless", elem_id="encode-expand", min_width=160)
        variations = gr.Gallery(label="More like this: new layouts in the upload's style (each "
                                "downloads as a PNG with its recipe)", columns=VARIATIONS,
                                height="auto", format="png", elem_id="encode-variations",
                                elem_classes=["artvae-gallery"])
        expanded = gr.HTML(elem_id="encode-expanded")
        expanded_file = gr.File(label="Download the seamless tile", interactive=False, height=80)
        more.click(gpu(friendly(self.variations_ui)), [self.image, strength, self.page.tileable],
                   variations, **RAW)
        expand.click(gpu(friendly(self.expand_ui)), [self.image, grow],
                     [expanded, expanded_file], **RAW)

    def restore(self, controls: dict) -> dict:
        return {self.image: controls["images"][0]} | self.named_restore(controls)

    @property
    def restorable(self) -> list:
        return [self.image, self.refine, *self.named]

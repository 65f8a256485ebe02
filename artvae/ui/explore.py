"""The Explore tab: a gallery of seeded samples, the picked one's look edited by the named
controls (brightness ... grain, scale) and moved along the training set's main directions of
style ("More directions"), and the pick sent on to Blend or Mix."""

# No `from __future__ import annotations`: Gradio finds `gr.SelectData` by its live annotation.
import random

import gradio as gr

from artvae.serve import live
from artvae.serve import playground as pg
from artvae.serve.checks import whole_number
from artvae.serve.webapi import friendly, gpu

from .page import Tab
from .widgets import NAMED, RAW, busy, named_values

EXPLORE_COUNT = 8  # seeded samples in the gallery: seed, seed + 1, ...
GALLERY_SIDE = 512  # the gallery's samples are made at the output size, at most this big


class Explore(Tab):
    name = "explore"

    def sample_made(self, seed, temperature, size, tileable, offsets=(), shrink=0, named=()):
        offsets = tuple(offsets) if any(offsets) else None  # all zero: the seed's own style
        controls = named_values(named) if named else {}
        busy(size)
        return self.page.fetch(
            ("sample", seed, temperature, size, tileable, offsets,
             tuple(sorted(controls.items()))),
            lambda k: pg.sample(self.page.engine, seed, size, tileable, temperature,
                                offsets=None if offsets is None else list(offsets), shrink=k,
                                controls=controls),
            shrink)

    def gallery_made(self, seed, temperature, size, tileable) -> list:
        seed = whole_number(seed, "seed", 0, pg.MAX_SEED - EXPLORE_COUNT)
        side = min(whole_number(size, "size", pg.MIN_SIZE, pg.MAX_SIZE), GALLERY_SIDE)
        return [self.sample_made(s, temperature, side, tileable)
                for s in range(seed, seed + EXPLORE_COUNT)]

    def explore_ui(self, shown, selected, temperature, size, tileable, *extra):
        """The gallery of EXPLORE_COUNT samples from `shown`'s seed (sent again only when it
        changed) and the selected sample, its look edited by the named controls and its style
        moved by the directions' offsets (`extra`: those sliders' values, in that order)."""
        seed = shown[0] if shown else 0
        gallery = self.gallery_made(seed, temperature, size, tileable)
        key = [seed, temperature, min(size, GALLERY_SIDE), tileable]
        pictures = gr.skip() if key == shown else [
            (live.thumbnail(r.image), f"seed {r.recipe['seed']}") for r, _ in gallery]
        named, offsets = extra[:len(NAMED)], extra[len(NAMED):]
        result, url = self.sample_made(selected, temperature, size, tileable, offsets,
                                       named=named)
        return pictures, key, live.view(result, url, True), result

    def explore_live(self, _shown, selected, temperature, size, tileable, *extra, least=1):
        named, offsets = extra[:len(NAMED)], extra[len(NAMED):]
        return self.page.moving(self.sample_made(selected, temperature, size, tileable, offsets,
                                                 self.page.preview(size, least), named))

    def new_samples(self, value):
        first_seed = whole_number(value, "seed", 0, pg.MAX_SEED - EXPLORE_COUNT)
        return first_seed, [first_seed], first_seed, *[0.0] * self.page.directions

    def surprise_ui(self):
        return self.new_samples(random.Random().randrange(2**31))

    def pick(self, shown_now, evt: gr.SelectData):
        return (shown_now[0] if shown_now else 0) + evt.index, *[0.0] * self.page.directions

    def build(self) -> None:
        page = self.page
        self.fn = self.explore_ui
        first = self.explore_ui([], 0, 1.0, pg.DEFAULT_SIZE, False)
        with gr.Tab("Explore", id="explore") as self.block:
            with gr.Row(equal_height=True):
                seed = gr.Number(0, label="Seed (the gallery shows it and the next seven)",
                                 precision=0, minimum=0, min_width=160)
                temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Temperature",
                                        info="0: the plain average, 1: typical, 2: bold",
                                        elem_id="explore-temperature", min_width=200)
                generate = gr.Button("New samples", variant="primary", min_width=120)
                surprise = gr.Button("Surprise me", elem_id="explore-surprise", min_width=120)
            gallery = gr.Gallery(first[0], label="Samples: click one to pick it",
                                 columns=EXPLORE_COUNT // 2, height="auto", format="jpeg",
                                 allow_preview=False, elem_id="explore-gallery",
                                 elem_classes=["artvae-gallery"])
            self.shown = gr.State(first[1])  # the gallery's [seed, settings]
            self.selected = gr.State(0)  # the picked sample's seed
            self.named_sliders("**Edit the look** of the picked sample (0: as it is, +-1 a "
                               "clear step):")
            with gr.Accordion("More directions: the training set's main directions of style",
                              open=False):
                self.direction_sliders = self._direction_sliders()
            self.extra = [*self.named, *self.direction_sliders]
            view, self.state, self.file = page.results(first[2:], "explore-result",
                                                       "Pick a sample above.")
            with gr.Row():
                self.to_a = gr.Button("Use as Blend A", min_width=120)
                self.to_b = gr.Button("Use as Blend B", min_width=120)
                self.to_mix = gr.Button("Use in Mix", min_width=120, elem_id="explore-to-mix")
        self.inputs = [self.shown, self.selected, temperature]
        self.outputs = [gallery, self.shown, view, self.state]
        self.controls = {"seed": seed, "temperature": temperature}
        self.follow([temperature, *self.extra], self.explore_live, view)
        self._new_samples_on([generate.click, seed.submit, surprise.click, gallery.select],
                             seed, gallery)

    def _direction_sliders(self) -> list[gr.Slider]:
        """One slider per style direction, in rows of four."""
        sliders, directions = [], self.page.directions
        for first in range(0, directions, 4):
            with gr.Row():
                sliders += [gr.Slider(-pg.EXPLORE_RANGE, pg.EXPLORE_RANGE, value=0.0, step=0.05,
                                      label=f"Direction {k + 1}", min_width=160,
                                      elem_id=f"explore-direction-{k + 1}")
                            for k in range(first, min(first + 4, directions))]
        return sliders

    def _new_samples_on(self, triggers: list, seed: gr.Number, gallery: gr.Gallery) -> None:
        """New samples (a seed typed or drawn) or a sample picked from the gallery, then the
        tab settles. The tab's run here takes no `Waiting`: it always has what it needs."""
        explore_event = dict(fn=gpu(friendly(self.fn)),
                             inputs=self.inputs + self.page.shared + self.extra,
                             outputs=self.outputs, **RAW)
        seed_outputs = [seed, self.shown, self.selected, *self.direction_sliders]
        generate, typed, surprise, picked = triggers
        for trigger, first_step, inputs in ((generate, self.new_samples, [seed]),
                                            (typed, self.new_samples, [seed]),
                                            (surprise, self.surprise_ui, None),
                                            (picked, self.pick, [self.shown])):
            outs = (seed_outputs if trigger is not picked
                    else [self.selected, *self.direction_sliders])
            gr.on([trigger], friendly(first_step), inputs, outs, api_visibility="private",
                  queue=False).then(**explore_event).success(self.page.download, self.state,
                                                             self.file, **RAW)

    def send_to(self, tabs: gr.Tabs, visible: gr.State, blend: Tab, mix: Tab) -> None:
        """"Use as Blend A/B" and "Use in Mix": the picked sample, written as a PNG, into
        Blend's A or B or Mix's first free slot (else the last); that tab shows and runs."""
        def send(result, *images):
            if result is None:
                raise ValueError("Pick a sample first.")
            path = self.page.download(result)
            if images:
                slot = next((i for i, im in enumerate(images) if im is None), len(images) - 1)
                return [path if i == slot else gr.skip() for i in range(len(images))]
            return path

        for button, target, inputs, outs in (
                (self.to_a, blend, [self.state], [blend.image_a]),
                (self.to_b, blend, [self.state], [blend.image_b]),
                (self.to_mix, mix, [self.state, *mix.images], mix.images)):
            target.after(button.click(friendly(send), inputs, outs, api_visibility="private",
                                      preprocess=False, queue=False).success(
                lambda name=target.name: (gr.Tabs(selected=name), name), None, [tabs, visible],
                api_visibility="private", queue=False))

    def restore(self, controls: dict) -> dict:
        picked = controls.get("seed", 0)
        updates = dict(zip(self.direction_sliders, controls["coords"], strict=True))
        updates |= self.named_restore(controls)
        return updates | {self.selected: picked, self.shown: [picked]}

    @property
    def restorable(self) -> list:
        return [*self.controls.values(), self.selected, self.shown, *self.extra]

"""The Palette tab: four corner textures and a grid of blends between them (`pg.palette`); a
clicked cell opens in Mix with its corners, its weights and "Blend all" layouts."""

# No `from __future__ import annotations`: Gradio finds `gr.SelectData` by its live annotation.
import gradio as gr

from artvae.ops import palette as palette_ops
from artvae.serve import playground as pg
from artvae.serve.webapi import friendly, gpu

from .mix import BLEND_ALL, Mix
from .page import Page
from .widgets import ENGINE, example_rows, texture, waiting, when_shown

FIRST_CORNERS = ("bricks", "cells", "marble", "wood")  # the first page's palette


def gallery_height(rows, cols) -> int:
    """Square thumbnails in a gallery about 900 px wide; taller pages scroll."""
    return round(int(rows) * 900 / int(cols)) + 60


class Palette:
    """The tab; like Paint it keeps its own events (`wire`, `rerun_after`)."""

    name = "palette"

    def __init__(self, page: Page):
        self.page = page
        self.controls: dict = {}  # none of the page's shared Restore keys

    def palette_made(self, corners, rows, cols, cell, tiles) -> tuple:
        """(gallery pictures with captions, the sheet's path, what the cells were made from)."""
        result, cells, weights = pg.palette(self.page.engine, corners, rows, cols, cell, tiles)
        gallery = [(c, palette_ops.caption(w)) for c, w in zip(cells, weights, strict=True)]
        return gallery, self.page.download(result), (corners, weights)

    def palette_ui(self, c1, c2, c3, c4, rows, cols, cell, tiles):
        corners = [c1, c2, c3, c4]
        if any(c is None for c in corners):
            missing = [palette_ops.CORNERS[i] for i, c in enumerate(corners) if c is None]
            return waiting(f"A palette needs four corners: add {', '.join(missing)}.", 3)
        gallery, path, made_from = self.palette_made(corners, rows, cols, cell, tiles)
        return (gr.Gallery(value=gallery, columns=int(cols), height=gallery_height(rows, cols)),
                path, made_from)

    @staticmethod
    def open_in_mix(made_from, evt: gr.SelectData):
        """A clicked cell -> Mix shown, with its corners, its weights and "Blend all"."""
        if not made_from:
            raise gr.Error("Make a palette first.", print_exception=False)
        corners, weights = made_from
        cell = weights[evt.index]
        top = max(cell)  # the Mix sliders go to 1; the mix normalises anyway
        gr.Info(f"Opened cell {evt.index + 1} in Mix: {palette_ops.caption(cell)}")
        return [gr.Tabs(selected="mix"), "mix", *corners, *[round(w / top, 4) for w in cell],
                BLEND_ALL]

    def build(self) -> None:
        page = self.page
        first_corners = [page.examples.get(n) for n in FIRST_CORNERS]
        made = (None, None, None)
        if all(first_corners):
            made = self.palette_made(first_corners, 5, 5, 128, False)
        with gr.Tab("Palette", id="palette") as self.block:
            gr.Markdown("Four corner textures and a grid of blends between them (bilinear "
                        "weights). **Click a cell to open it in Mix** with its weights.")
            with gr.Row():
                self.corners = [texture(f"{name.capitalize()} corner", f"palette-corner-{i + 1}",
                                        160, first_corners[i], min_width=160)
                                for i, name in enumerate(palette_ops.CORNERS)]
            examples = example_rows(page.examples, [["bricks", "cells", "marble", "wood"],
                                                    ["stripes", "woven", "cells", "bricks"]],
                                    self.corners)
            with gr.Row():
                rows = gr.Slider(palette_ops.MIN_GRID, palette_ops.MAX_GRID, value=5, step=1,
                                 label="Rows")
                cols = gr.Slider(palette_ops.MIN_GRID, palette_ops.MAX_GRID, value=5, step=1,
                                 label="Columns")
                low, high, step = palette_ops.CELL_SLIDER
                cell = gr.Slider(low, high, value=128, step=step, label="Cell size (px)")
            button = gr.Button("Make palette", variant="primary", elem_id="palette-button")
            self._gallery_and_sheet(made)
        self.fields = {"rows": rows, "cols": cols, "cell": cell}
        self.event = dict(fn=gpu(friendly(self.palette_ui)),
                          inputs=[*self.corners, rows, cols, cell, page.tileable],
                          outputs=[self.gallery, self.sheet, self.made_from])
        gr.on([button.click, rows.release, cols.release, cell.release], **self.event, **ENGINE)
        examples.load_input_event.then(**self.event, **ENGINE)

    def _gallery_and_sheet(self, made: tuple) -> None:
        """The cells (click one to open it in Mix), the sheet's download, and what the cells
        were made from."""
        with gr.Row():
            self.gallery = gr.Gallery(made[0], label="Palette: click a cell to open it in Mix",
                                      columns=5, height=gallery_height(5, 5),
                                      allow_preview=False, format="png", object_fit="contain",
                                      elem_id="palette-gallery", scale=3)
            with gr.Column(scale=1, min_width=200):
                self.sheet = gr.File(made[1], label="Download the sheet (one PNG)",
                                     interactive=False, height=80, elem_id="palette-sheet")
                gr.Markdown("Each cell is a Mix of the corners, layouts blended. Its caption "
                            "gives the corners' weights in per cent: top-left · top-right · "
                            "bottom-left · bottom-right.")
        self.made_from = gr.State(made[2])  # (corner paths, cell weights) of the palette shown

    def wire(self, visible: gr.State, tabs: gr.Tabs, mix: Mix) -> None:
        """Showing the tab sets `visible`; tileable re-runs it when shown; a clicked cell opens
        in Mix (its four images, weights and layout), then Mix runs."""
        self.block.select(lambda: self.name, None, visible, api_visibility="private",
                          queue=False)
        gr.on([self.page.tileable.input], **when_shown(visible, self.name, self.event),
              **ENGINE)
        self.gallery.select(self.open_in_mix, self.made_from,
                            [tabs, visible, *mix.images, *mix.weights, mix.layout],
                            api_visibility="private").then(**mix.event())

    def rerun_after(self, event, visible: gr.State) -> None:
        """After `event` (the page's restore), re-run the tab if it is the visible one."""
        event.success(**when_shown(visible, self.name, self.event), **ENGINE)

    def restore(self, controls: dict) -> dict:
        """Restore's Palette controls (`controls["palette"]`) -> {component: value}."""
        mine = controls[self.name]
        updates = dict(zip(self.corners, mine["corners"], strict=True))
        return updates | {self.fields[k]: v for k, v in mine.items() if k != "corners"}

    @property
    def restorable(self) -> list:
        return [*self.corners, *self.fields.values()]

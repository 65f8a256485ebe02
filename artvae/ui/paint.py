"""The app's Paint and Palette tabs: layout and wiring for `artvae.paint` and `artvae.palette`.

`add_tabs` builds both tabs inside the app's `with gr.Tabs()` block and returns a `Studio`; once
the rest of the page exists, `Studio.wire` connects what lives elsewhere: the state that names
the visible tab (so the shared size and tileable controls re-run these tabs too) and the Mix tab,
where a clicked palette cell opens with its corner textures, its weights and "Blend all" layouts.
Restore puts a Paint or Palette PNG's settings back through `Studio.restored` and re-runs the
tab with `Studio.rerun_after`.
"""

# No `from __future__ import annotations`: Gradio finds `gr.SelectData` by its live annotation.
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from artvae.ops import paint as paint_ops
from artvae.ops import palette as palette_ops
from artvae.serve import playground as pg
from artvae.serve.engine import Engine
from artvae.serve.files import OutputFolder
from artvae.serve.pictures import tiled
from artvae.serve.webapi import friendly, gpu

CANVAS = 512  # the mask canvas, in pixels (it is stretched over any output size)
LAYOUT_CHOICES = ("Texture 1", "Layout image", "Random (seed)")
LAYOUT_FROM = dict(zip(("texture", "image", "seed"), LAYOUT_CHOICES, strict=True))  # Restore's
UI = dict(api_visibility="private", concurrency_id="engine", trigger_mode="always_last")


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


@dataclass
class Studio:
    """The components of the two tabs that `wire` and tests need."""

    engine: Engine
    folder: OutputFolder
    paint_tab: gr.Tab
    palette_tab: gr.Tab
    paint_event: dict  # fn, inputs, outputs of a paint run
    palette_event: dict  # the same for a palette
    textures: list  # Paint's four texture slots
    corners: list  # the four corner images
    controls: dict  # Restore's names (`restore._paint_controls`, ...) -> their components
    gallery: gr.Gallery
    made_from: gr.State  # (corner paths, cell weights) of the palette shown

    @property
    def restorable(self) -> list:
        """The components `restored` may set (the outputs of the app's restore event)."""
        return [*self.textures, *self.corners, *self.controls.values(),
                *self.paint_event["outputs"]]

    def restored(self, controls: dict) -> dict:
        """The Paint or Palette controls of `restore.restored_controls` -> {component: value}
        (a mask of None clears the canvas, the recipe did not keep it, and the painting shown:
        it is not the restored one)."""
        updates = {}
        if "mask" in controls and controls["mask"] is None:
            updates |= dict.fromkeys(self.paint_event["outputs"])
        for key, value in controls.items():
            if key in ("textures", "corners"):
                updates |= dict(zip(getattr(self, key), value, strict=True))
            else:
                updates[self.controls[key]] = LAYOUT_FROM[value] if key == "layout_from" else value
        return updates

    def rerun_after(self, event, tab: gr.State) -> None:
        """After `event` (the app's restore), re-run Paint or Palette if `tab` names it."""
        event.success(**self._when_shown(tab, "paint", self.paint_event), **UI)
        event.success(**self._when_shown(tab, "palette", self.palette_event), **UI)

    def wire(self, tabs: gr.Tabs, tab: gr.State, mix_images: list, mix_weights: list,
             layout: gr.Radio, blend_all: str, mix_event: dict) -> None:
        """Connect to the rest of the page: `tab` follows these tabs; a clicked palette cell
        sets Mix's four images and weights and its layout to `blend_all`, shows the Mix tab,
        then runs `mix_event` (the app's own Mix run)."""
        self.paint_tab.select(lambda: "paint", None, tab, api_visibility="private", queue=False)
        self.palette_tab.select(lambda: "palette", None, tab, api_visibility="private",
                                queue=False)
        size, tileable = self.paint_event["inputs"][-2:]
        gr.on([size.release, tileable.input], **self._when_shown(tab, "paint", self.paint_event),
              **UI)
        gr.on([tileable.input], **self._when_shown(tab, "palette", self.palette_event), **UI)

        def open_in_mix(made_from, evt: gr.SelectData):
            if not made_from:
                raise gr.Error("Make a palette first.", print_exception=False)
            corners, weights = made_from
            cell = weights[evt.index]
            top = max(cell)  # the Mix sliders go to 1; the mix normalises anyway
            gr.Info(f"Opened cell {evt.index + 1} in Mix: {palette_ops.caption(cell)}")
            return [gr.Tabs(selected="mix"), "mix", *corners,
                    *[round(w / top, 4) for w in cell], blend_all]

        self.gallery.select(open_in_mix, self.made_from,
                            [tabs, tab, *mix_images, *mix_weights, layout],
                            api_visibility="private").then(**mix_event)

    @staticmethod
    def _when_shown(tab: gr.State, name: str, event: dict) -> dict:
        """`event`, run only while the tab `name` is the visible one."""
        fn, outputs = event["fn"], event["outputs"]

        def run(visible, *values):
            if visible != name:
                return [gr.skip()] * len(outputs)
            return fn(*values)

        return dict(fn=run, inputs=[tab, *event["inputs"]], outputs=outputs)


def add_tabs(engine: Engine, folder: OutputFolder, examples: dict[str, str],
             size: gr.Slider, tileable: gr.Checkbox) -> Studio:
    """Build the Paint and Palette tabs (call inside the app's `with gr.Tabs()`); `size` and
    `tileable` are the page's shared controls."""

    def shown(result: pg.Result) -> tuple:
        path = str(folder.save(result))
        return path, tiled(result.image), path

    def waiting(message: str, outputs: int) -> list:
        """Not ready yet (a control moved before the images were there): say so, keep what
        the outputs show."""
        gr.Info(message)
        return [gr.skip()] * outputs

    def paint_ui(editor, t1, t2, t3, t4, layout_from, layout_image, seed, softness, side,
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
        return shown(pg.paint(engine, mask, textures, layout, softness, side, tiles,
                              layout_seed))

    def palette_ui(c1, c2, c3, c4, rows, cols, cell, tiles):
        corners = [c1, c2, c3, c4]
        if any(c is None for c in corners):
            missing = [palette_ops.CORNERS[i] for i, c in enumerate(corners) if c is None]
            return waiting(f"A palette needs four corners: add {', '.join(missing)}.", 3)
        gallery, path, made_from = palette_made(corners, rows, cols, cell, tiles)
        return (gr.Gallery(value=gallery, columns=int(cols), height=gallery_height(rows, cols)),
                path, made_from)

    def palette_made(corners, rows, cols, cell, tiles) -> tuple:
        """(gallery pictures with captions, the sheet's path, what the cells were made from)."""
        result, cells, weights = pg.palette(engine, corners, rows, cols, cell, tiles)
        gallery = [(c, palette_ops.caption(w)) for c, w in zip(cells, weights, strict=True)]
        return gallery, str(folder.save(result)), (corners, weights)

    def gallery_height(rows, cols) -> int:
        """Square thumbnails in a gallery about 900 px wide; taller pages scroll."""
        return round(int(rows) * 900 / int(cols)) + 60

    def texture(label: str, elem_id: str, height: int = 180, value: str | None = None
                ) -> gr.Image:
        return gr.Image(label=label, type="filepath", sources=["upload", "clipboard"],
                        height=height, elem_id=elem_id, value=value)

    # the first page: each tab opens with a result made from the examples, as the others do
    first_paint = [examples.get(n) for n in ("bricks", "cells")] + [None, None]
    first_corners = [examples.get(n) for n in ("bricks", "cells", "marble", "wood")]
    first_mask = paint_ops.example_mask("halves", CANVAS, 2)
    painted, made = (None, None, None), (None, None, None)
    if all(first_paint[:2]) and all(first_corners):
        painted = shown(pg.paint(engine, first_mask, first_paint[:2], None, 0.3,
                                 pg.DEFAULT_SIZE, False))
        made = palette_made(first_corners, 5, 5, 128, False)

    def example_rows(rows: list[list[str | None]], inputs: list) -> gr.Examples:
        return gr.Examples([[examples.get(n) for n in row] for row in rows], inputs,
                           label="Examples", api_visibility="private")

    with gr.Tab("Paint", id="paint") as paint_tab:
        colours = ", ".join(f"{name} = texture {i + 1}"
                            for i, (name, _) in enumerate(paint_ops.MASK_COLOURS))
        gr.Markdown(f"Paint regions on the canvas ({colours}; unpainted = texture 1). Each "
                    "region is rendered in its texture's style over one layout, with soft "
                    "borders.")
        with gr.Row():
            with gr.Column(scale=3):
                canvas = gr.ImageEditor(
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
                textures = []
                for first in (0, 2):
                    with gr.Row():
                        textures += [texture(f"Texture {i + 1} ({name})", f"paint-texture-{i + 1}",
                                             value=first_paint[i])
                                     for i, (name, _) in enumerate(paint_ops.MASK_COLOURS)
                                     if first <= i < first + 2]
                paint_examples = example_rows([["bricks", "cells", None, None],
                                               ["marble", "wood", "woven", "stripes"]], textures)
        with gr.Row():
            softness = gr.Slider(0, 1, value=0.3, step=0.01, label="Border softness",
                                 info="0: as sharp as the model draws; 1: very soft",
                                 elem_id="paint-softness")
            layout_from = gr.Radio(list(LAYOUT_CHOICES), value=LAYOUT_CHOICES[0],
                                   label="Layout (structure) from")
            seed = gr.Number(0, label="Seed (random layout)", precision=0, minimum=0)
        with gr.Accordion("Layout image", open=False):
            layout_image = texture("Layout image: its structure map gives the layout",
                                   "paint-layout")
        paint_button = gr.Button("Paint", variant="primary", elem_id="paint-button")
        with gr.Row(equal_height=True):
            paint_result = gr.Image(painted[0], label="Painted", type="filepath", format="png",
                                    interactive=False, height=360, elem_id="paint-result")
            paint_tiles = gr.Image(painted[1], label="2x2 tiled preview (seams show unless "
                                   "tileable)", format="png", interactive=False, height=360,
                                   elem_id="paint-result-tiles")
        paint_file = gr.File(painted[2], label="Download: the PNG carries its recipe",
                             interactive=False, height=80)

    with gr.Tab("Palette", id="palette") as palette_tab:
        gr.Markdown("Four corner textures and a grid of blends between them (bilinear "
                    "weights). **Click a cell to open it in Mix** with its weights.")
        with gr.Row():
            corners = [texture(f"{name.capitalize()} corner", f"palette-corner-{i + 1}", 160,
                               first_corners[i]) for i, name in enumerate(palette_ops.CORNERS)]
        palette_examples = example_rows([["bricks", "cells", "marble", "wood"],
                                         ["stripes", "woven", "cells", "bricks"]], corners)
        with gr.Row():
            rows = gr.Slider(palette_ops.MIN_GRID, palette_ops.MAX_GRID, value=5, step=1,
                             label="Rows")
            cols = gr.Slider(palette_ops.MIN_GRID, palette_ops.MAX_GRID, value=5, step=1,
                             label="Columns")
            low, high, step = palette_ops.CELL_SLIDER
            cell = gr.Slider(low, high, value=128, step=step, label="Cell size (px)")
        palette_button = gr.Button("Make palette", variant="primary", elem_id="palette-button")
        with gr.Row():
            gallery = gr.Gallery(made[0], label="Palette: click a cell to open it in Mix",
                                 columns=5, height=gallery_height(5, 5),
                                 allow_preview=False, format="png", object_fit="contain",
                                 elem_id="palette-gallery", scale=3)
            with gr.Column(scale=1, min_width=200):
                sheet = gr.File(made[1], label="Download the sheet (one PNG)", interactive=False,
                                height=80, elem_id="palette-sheet")
                gr.Markdown("Each cell is a Mix of the corners, layouts blended. Its caption "
                            "gives the corners' weights in per cent: top-left · top-right · "
                            "bottom-left · bottom-right.")
        made_from = gr.State(made[2])

    paint_event = dict(fn=gpu(friendly(paint_ui)),
                       inputs=[canvas, *textures, layout_from, layout_image, seed, softness,
                               size, tileable],
                       outputs=[paint_result, paint_tiles, paint_file])
    palette_event = dict(fn=gpu(friendly(palette_ui)),
                         inputs=[*corners, rows, cols, cell, tileable],
                         outputs=[gallery, sheet, made_from])
    gr.on([paint_button.click, softness.release, layout_from.input], **paint_event, **UI)
    paint_examples.load_input_event.then(**paint_event, **UI)
    def starting_mask(shape, *slots):
        if shape is None:
            return gr.skip()
        count = max(2, sum(s is not None for s in slots))
        return paint_ops.example_mask(shape, CANVAS, count)

    start.input(starting_mask, [start, *textures], canvas, api_visibility="private",
                queue=False)
    gr.on([palette_button.click, rows.release, cols.release, cell.release], **palette_event,
          **UI)
    palette_examples.load_input_event.then(**palette_event, **UI)
    controls = {"mask": canvas, "layout_from": layout_from, "layout_image": layout_image,
                "seed": seed, "softness": softness, "rows": rows, "cols": cols, "cell": cell}
    return Studio(engine, folder, paint_tab, palette_tab, paint_event, palette_event, textures,
                  corners, controls, gallery, made_from)

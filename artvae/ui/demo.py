"""The page: a header with the controls every tab shares (output size, tileable) and the Restore
drop zone, the seven tabs (each built by its own module), and what crosses tabs: the shared
controls re-run the visible tab, Restore puts a PNG's settings back into its tab, Explore sends a
sample to Blend or Mix, a palette cell opens in Mix. The web API (`artvae.serve.webapi`) is
registered on the same Blocks; every UI event is private.

Encode, Mix, Blend and Explore open with a result made from the examples at start-up. A result
shows as a JPEG preview with a 2x2 tiled preview the browser draws (`artvae.serve.live`); while a
slider moves the preview follows it (the latest value only), and its release settles the tab
and writes the lossless PNG for the download. Anything a person can fix comes back as a
`gr.Error` saying how.
"""

from __future__ import annotations

import gradio as gr

from artvae.ops.images import read_recipe
from artvae.serve import playground as pg
from artvae.serve.engine import Engine
from artvae.serve.restore import restore_settings, restored_controls
from artvae.serve.webapi import add_endpoints, friendly, gpu, uploaded

from .blend import Blend
from .encode import Encode
from .explore import Explore
from .mix import SLOTS, Mix
from .page import Page, Tab
from .paint import Paint
from .palette import Palette
from .restyle import Restyle
from .widgets import RAW


def build_demo(engine: Engine, examples: dict[str, str]) -> gr.Blocks:
    """The page over `engine`, its examples (name -> PNG) in the tabs' example rows."""
    page = Page(engine, examples)
    with gr.Blocks(title="ArtVAE playground", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# ArtVAE playground\nEncode textures into a *structure* (where things are) "
                    "and a *style* (what they look like), then mix, blend, explore and "
                    "restyle.")
        with gr.Row(equal_height=True):
            with gr.Column(scale=3, min_width=280):
                page.size = gr.Slider(pg.SLIDER_MIN_SIZE, pg.MAX_SIZE, value=pg.DEFAULT_SIZE,
                                      step=pg.SLIDER_STEP, label="Output size (px)",
                                      info="Mix, Blend and Explore; Encode keeps the input's "
                                           "size")
                page.tileable = gr.Checkbox(label="Tileable (seamless)", value=False)
            restore = gr.File(label="Restore: drop a PNG made here", file_types=[".png"],
                              height=130, scale=2, min_width=280, elem_id="restore")
        status = gr.Markdown()
        encode, mix, blend, explore = Encode(page), Mix(page), Blend(page), Explore(page)
        paint, palette, restyle = Paint(page), Palette(page), Restyle(page)
        with gr.Tabs() as tabs:
            for tab in (encode, mix, blend, explore):
                tab.build()
            page.renders.reset_pace()  # start-up's results paid for loading the kernels
            paint.build()
            palette.build()
            restyle.build()
        visible = gr.State("encode")  # the visible tab: size and tileable changes re-run it

        playground = [encode, mix, blend, explore]
        for tab in playground:
            tab.select_sets(visible)
        explore.send_to(tabs, visible, blend, mix)
        paint.wire(visible)
        palette.wire(visible, tabs, mix)
        restyle.wire(visible)
        rerun = rerun_visible(page, playground, visible)
        wire_restore(page, restore, status, tabs, visible, playground, [paint, palette], rerun)
        add_endpoints(engine, page.folder)  # the web API: /encode, /blend, /mix, /sample, ...
    return demo


def rerun_visible(page: Page, tabs: list[Tab], visible: gr.State) -> tuple[dict, dict]:
    """The visible tab re-run when the shared size or tileable change, then its download
    written again; returned as the two events' keyword arguments (Restore runs them too)."""
    def rerender(name, *values):
        """Re-run the visible tab; a tab still waiting for its images is left as it is."""
        results, at, chosen = [], 0, None
        for tab in tabs:
            own, at = values[at:at + len(tab.inputs)], at + len(tab.inputs)
            if tab.name == name and tab.ready(own):
                chosen = (tab, own, len(results))
            results += [gr.skip()] * len(tab.outputs)
        if chosen is not None:
            tab, own, first_output = chosen
            extra_at = at + 2 + sum(len(t.extra) for t in tabs[:tabs.index(tab)])
            out = tab.fn(*own, *values[at:at + 2], *values[extra_at:extra_at + len(tab.extra)])
            results[first_output:first_output + len(out)] = out
        return results

    def download_visible(name, *states):
        """The visible tab's download, written again after a re-run."""
        return [page.download(s) if tab.name == name else gr.skip()
                for tab, s in zip(tabs, states, strict=True)]

    all_inputs = [c for tab in tabs for c in tab.inputs] + page.shared + [
        c for tab in tabs for c in tab.extra]
    rerender_event = dict(fn=gpu(friendly(rerender)), inputs=[visible, *all_inputs],
                          outputs=[c for tab in tabs for c in tab.outputs], **RAW)
    download_event = dict(fn=download_visible, inputs=[visible, *(t.state for t in tabs)],
                          outputs=[t.file for t in tabs], **RAW)
    gr.on([page.size.release, page.tileable.input], **rerender_event).success(**download_event)
    return rerender_event, download_event


def wire_restore(page: Page, drop: gr.File, status: gr.Markdown, tabs: gr.Tabs,
                 visible: gr.State, playground: list[Tab], studio: list[Paint | Palette],
                 rerun: tuple[dict, dict]) -> None:
    """A PNG dropped on Restore: its recipe's settings back in the controls and its tab shown
    and re-run (`artvae.serve.restore` checks the recipe and fits it to the controls). The
    playground tabs re-run with `rerun`, Paint and Palette on their own events."""
    every_tab = [*playground, *studio]
    by_name = {tab.name: tab for tab in every_tab}
    controls = {"tileable": page.tileable, "size": page.size}
    for tab in every_tab:
        controls |= tab.controls
    known_inputs = {pg.loaded(p)[1]: p for p in page.examples.values()}

    def restore_ui(file):
        s = restore_settings(read_recipe(uploaded(file, "Restore")), known_inputs)
        c = restored_controls(s, page.engine.weights, SLOTS, page.directions)
        updates = {tabs: gr.Tabs(selected=c["tab"]), visible: c["tab"], status: c["note"]}
        updates |= {controls[k]: v for k, v in c.items() if k in controls}
        return updates | by_name[c["tab"]].restore(c)

    outputs = [tabs, visible, page.size, page.tileable, status] + [
        c for tab in every_tab for c in tab.restorable]
    restored = drop.upload(friendly(restore_ui), drop, outputs, preprocess=False,
                           api_visibility="private")
    rerender_event, download_event = rerun
    restored.success(**rerender_event).success(**download_event)
    for tab in studio:
        tab.rerun_after(restored, visible)

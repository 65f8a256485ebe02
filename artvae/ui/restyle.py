"""The Restyle tab: a set of textures (several files, or a zip of them) each given one look at its
own size, its layout kept: a style image's style (*Strength* of the way from its own) and the
named controls; seamless tiles stay seamless. The results show in a gallery and download as a
zip with a contact sheet; a file that cannot be read is listed, the rest are made."""

from __future__ import annotations

import gradio as gr

from artvae.serve import restyling
from artvae.serve.webapi import uploaded

from .page import Page
from .widgets import RAW, named_controls, named_values, runs_model, texture


class Restyle:
    name = "restyle"

    def __init__(self, page: Page):
        self.page = page

    def restyle_ui(self, files, style, strength, tileable, *named):
        """The uploads restyled: (gallery, contact sheet, zip, a note of what failed)."""
        progress = gr.Progress()
        files = files if isinstance(files, list) else [] if files is None else [files]
        paths = [uploaded(f, f"File {i + 1}") for i, f in enumerate(files)]
        inputs = restyling.gather(paths)
        progress(0.02, desc=f"Restyling {len(inputs)} images")
        made = restyling.restyle(
            self.page.engine, inputs, None if style is None else uploaded(style, "Style"),
            strength, named_values(named), tileable,
            lambda done, total: progress(done / total, desc=f"{done} of {total} restyled"))
        pngs, sheet, archive = restyling.write_outputs(made, self.page.folder.new())
        note = f"**{len(pngs)} restyled.**"
        if made.failed:
            note += " Not restyled: " + "; ".join(made.failed)
        return [(str(p), p.name) for p in pngs], str(sheet), str(archive), note

    def build(self) -> None:
        with gr.Tab("Restyle", id="restyle") as self.block:
            gr.Markdown("Give a set of textures one look: each keeps its size and layout. "
                        "Upload several images or a zip of them (a texture pack), pick a style "
                        "image and/or move the controls, then *Restyle*.")
            with gr.Row():
                files = gr.File(label="Textures to restyle (images or a .zip)",
                                file_count="multiple", file_types=["image", ".zip"],
                                height=180, elem_id="restyle-files", min_width=240)
                style = texture("Style image (optional)", "restyle-style", 180,
                                self.page.example("marble"), min_width=200)
            with gr.Row():
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength",
                                     info="of the way from each texture's own style to the "
                                          "style image's", elem_id="restyle-strength",
                                     min_width=200)
                tileable = gr.Checkbox(False, label="Keep seamless tiles seamless",
                                       elem_id="restyle-tileable", min_width=200)
            named = named_controls("restyle", self.page.has_controls)
            button = gr.Button("Restyle", variant="primary", elem_id="restyle-run")
            note = gr.Markdown(elem_id="restyle-note")
            gallery = gr.Gallery(label="Restyled (each PNG carries its recipe)", columns=4,
                                 height="auto", format="png", elem_id="restyle-gallery",
                                 elem_classes=["artvae-gallery"])
            with gr.Row():
                sheet = gr.Image(label="Contact sheet", type="filepath", format="png",
                                 interactive=False, height=240, elem_id="restyle-sheet")
                archive = gr.File(label="Download all: a zip of the PNGs and the contact "
                                        "sheet", interactive=False, height=80,
                                  elem_id="restyle-zip")
        button.click(runs_model(self.restyle_ui, 4), [files, style, strength, tileable, *named],
                     [gallery, sheet, archive, note], **RAW)

    def wire(self, visible: gr.State) -> None:
        """Showing the tab sets `visible` (the shared size and tileable re-run no other tab)."""
        self.block.select(lambda: self.name, None, visible, api_visibility="private",
                          queue=False)

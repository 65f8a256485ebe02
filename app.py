"""ArtVAE playground: the Gradio app. Layout and wiring only; `artvae.playground` does the work.

    python app.py                      # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --auth me:secret --weights user/repo@rev

Tabs Encode, Mix, Blend and Explore (and Paint and Palette, from `artvae.studio`) share an output
size, a tileable switch and a "restore" drop zone for PNGs made here: a PNG carries its recipe,
which `artvae.restore` turns back into the controls. The first four open with a result made from
the examples at start-up. A result shows as a JPEG preview with a 2x2 tiled preview the browser
draws (`artvae.live`); while a slider moves the preview follows it (the latest value only), and
its release settles the tab and writes the lossless PNG for the download. The web API is typed
endpoints, `/encode(image)`, `/blend(image_a, image_b, t)`, `/mix(images, weights)`,
`/sample(seed)`, `/variations(image)` and `/expand(image)`, in `artvae.webapi`; every UI event
is private. Anything a person can fix comes back as a `gr.Error` saying how.
"""

import os

# Before torch loads OpenMP: its threads sleep instead of spinning while they wait. On a CPU
# shared with other work, spinning threads wait for each other's lost time slices: a 512 px
# blend took 764 ms with spinning and 314 ms without, on 2 cores at load average 8-10.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import collections
import functools
import logging
import os
import random
from pathlib import Path

import gradio as gr

from artvae.model.device import pick_device
from artvae.model.hub import WeightsError
from artvae.ops.images import read_recipe
from artvae.ops.latent import BLEND_MODES
from artvae.serve import live
from artvae.serve import playground as pg
from artvae.serve.batching import default_workers, steady_memory
from artvae.serve.checks import whole_number
from artvae.serve.engine import Engine
from artvae.serve.files import OutputFolder, export_morph
from artvae.serve.restore import restore_settings, restored_controls
from artvae.serve.webapi import add_endpoints, friendly, gpu, uploaded
from artvae.ui import paint as studio

EXAMPLE_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = {p.stem: str(p) for p in sorted(EXAMPLE_DIR.glob("*.png"))}
SLOTS = 4  # textures on the Mix tab
LAYOUTS = [f"Texture {i + 1}" for i in range(SLOTS)] + ["Blend all"]
MAX_FILE_SIZE = "32mb"


EXPLORE_COUNT = 8  # seeded samples in the Explore gallery: seed, seed + 1, ...
GALLERY_SIDE = 512  # the gallery's samples are made at the output size, at most this big
VARIATIONS = 4  # "more like this" on the Encode tab


class Waiting(Exception):
    """A tab cannot run yet (an input is missing): say so, change nothing."""


def file_data(path: str) -> dict:
    """An example file as the page sends an image (what `uploaded` accepts)."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def build_demo(engine: Engine) -> gr.Blocks:
    folder = OutputFolder()
    renders = live.Renders()
    directions = engine.model.style_basis.shape[0]
    known_inputs = {pg.loaded(p)[1]: p for p in EXAMPLES.values()}

    def busy(size) -> None:
        """A progress note on big outputs. gr.Progress reports to the running event whether or
        not it is a parameter (a parameter would not work after *values)."""
        if isinstance(size, (int, float)) and size >= 1024:
            gr.Progress()(0.05, desc=f"Making a {size}x{size} texture")

    # ---- results, each made once per settings (inputs arrive unprocessed: the same checks
    # as the web API apply) -----------------------------------------------------------------
    settled = collections.deque(maxlen=256)  # keys a release (or an input) asked to settle

    def fetch(key: tuple, make, shrink: int = 0):
        """(result, JPEG URL) of `make(shrink)`, kept by `key` and `shrink`. `shrink` 0: the
        settled result (full size); >= 1: a frame while a slider moves, None where that would
        come after the settled result of the same settings, which it must not replace (a
        move that reaches the server after the release only slows it down)."""
        if shrink == 0:
            settled.append(key)
            return renders.get((*key, 1), lambda: make(1))
        if key in settled or (shrink > 1 and renders.has((*key, 1))):
            return None
        made = renders.get((*key, shrink), lambda: make(shrink))
        return None if key in settled else made

    def encode_made(image, tileable, refine=False):
        if image is None:
            raise Waiting("Upload a texture or pick an example.")
        path = uploaded(image, "Texture")
        steps = pg.REFINE_STEPS if refine is True else 0
        if steps:
            gr.Progress()(0.05, desc="Refining the code")
        return fetch(("encode", path, tileable, steps),
                     lambda _: pg.encode(engine, path, tileable, steps))

    def mix_made(images, weights, layout, size, tileable, shrink=0):
        filled = [i for i, im in enumerate(images) if im is not None]
        if not filled:
            raise Waiting("Add a texture to mix: upload one or pick an example.")
        structure_from = None
        if layout != LAYOUTS[-1]:
            if layout not in LAYOUTS or LAYOUTS.index(layout) not in filled:
                raise ValueError(f"{layout} gives the layout but is empty: add an image there "
                                 "or choose another.")
            structure_from = filled.index(LAYOUTS.index(layout))
        paths = tuple(uploaded(images[i], f"Texture {i + 1}") for i in filled)
        chosen = tuple(weights[i] for i in filled)
        busy(size)
        return fetch(("mix", paths, chosen, structure_from, size, tileable),
                     lambda k: pg.mix(engine, list(paths), list(chosen), structure_from, size,
                                      tileable, k), shrink)

    def blend_made(a, b, t, mode, ramp, size, tileable, shrink=0):
        if a is None or b is None:
            raise Waiting(f"Blend needs two textures: add {'A' if a is None else 'B'}.")
        a, b = uploaded(a, "A"), uploaded(b, "B")
        busy(size)
        return fetch(("blend", a, b, t, mode, ramp, size, tileable),
                     lambda k: pg.blend(engine, a, b, t, mode, ramp, size, tileable, k), shrink)

    def sample_made(seed, temperature, size, tileable, offsets=(), shrink=0):
        offsets = tuple(offsets) if any(offsets) else None  # all zero: the seed's own style
        busy(size)
        return fetch(("sample", seed, temperature, size, tileable, offsets),
                     lambda k: pg.sample(engine, seed, size, tileable, temperature,
                                         offsets=None if offsets is None else list(offsets),
                                         shrink=k), shrink)

    def preview(size) -> int:
        """How much smaller a moving slider's frames are made (see `live.Renders`)."""
        side = size if isinstance(size, (int, float)) and size > 0 else 512
        return renders.shrink_for(int(side) ** 2)

    def moving(made) -> str:
        """The view of a frame made while a slider moves (a `fetch` answer)."""
        return gr.skip() if made is None else live.view(*made, False)

    def gallery_made(seed, temperature, size, tileable) -> list:
        seed = whole_number(seed, "seed", 0, pg.MAX_SEED - EXPLORE_COUNT)
        side = min(whole_number(size, "size", pg.MIN_SIZE, pg.MAX_SIZE), GALLERY_SIDE)
        return [sample_made(s, temperature, side, tileable)
                for s in range(seed, seed + EXPLORE_COUNT)]

    # ---- the tabs' handlers: `*_ui` settle a tab (the result, its state for the download and
    # "send to", any extras); `*_live` answer a slider while it moves (the view alone) ----------
    def encode_ui(image, refine, _size, tileable):
        result, url = encode_made(image, tileable, refine)
        x = result.extras
        return (live.view(result, url, True), result, f"**PSNR {x['psnr']:.2f} dB**",
                x["structure"], x["style_chart"])

    def mix_ui(*values):
        result, url = mix_made(values[:SLOTS], values[SLOTS:2 * SLOTS], *values[2 * SLOTS:])
        return live.view(result, url, True), result

    def mix_live(*values):
        return moving(mix_made(values[:SLOTS], values[SLOTS:2 * SLOTS], *values[2 * SLOTS:],
                               preview(values[-2])))

    def blend_ui(*values):
        result, url = blend_made(*values)
        return live.view(result, url, True), result

    def blend_live(*values):
        return moving(blend_made(*values, preview(values[-2])))

    def explore_ui(shown, selected, temperature, size, tileable, *offsets):
        """The gallery of EXPLORE_COUNT samples from `shown`'s seed (sent again only when it
        changed) and the selected sample, its style moved by `offsets`."""
        seed = shown[0] if shown else 0
        gallery = gallery_made(seed, temperature, size, tileable)
        key = [seed, temperature, min(size, GALLERY_SIDE), tileable]
        pictures = gr.skip() if key == shown else [
            (live.thumbnail(r.image), f"seed {r.recipe['seed']}") for r, _ in gallery]
        result, url = sample_made(selected, temperature, size, tileable, offsets)
        return pictures, key, live.view(result, url, True), result

    def explore_live(_shown, selected, temperature, size, tileable, *offsets):
        return moving(sample_made(selected, temperature, size, tileable, offsets,
                                  preview(size)))

    def morph_ui(a, b, mode, ramp, size, tileable, steps, fps, ping_pong):
        progress = gr.Progress()
        if a is None or b is None:
            raise ValueError("A morph needs two textures: add A and B.")
        frames, recipe = pg.morph(engine, uploaded(a, "A"), uploaded(b, "B"), steps, mode, ramp,
                                  size, tileable,
                                  lambda f: progress(0.9 * f, desc="Decoding frames"))
        progress(0.9, desc="Writing the GIF, MP4 and zip")
        files = [str(f) for f in export_morph(frames, recipe, folder.new(), fps, ping_pong)]
        if not any(f.endswith(".mp4") for f in files):
            gr.Warning("MP4 export needs PyAV (pip install av): made the GIF and the zip.")
        return files[0], files

    def variations_ui(image, strength, tileable):
        source = uploaded(image, "Texture") if image is not None else None
        if source is None:
            raise ValueError("Upload a texture first: the variations take its style.")
        return [(str(folder.save(pg.variations(engine, source, seed, strength, None,
                                               tileable))), f"variation {seed + 1}")
                for seed in range(VARIATIONS)]

    def expand_ui(image, side):
        if image is None:
            raise ValueError("Upload a texture first: it is grown into a seamless tile.")
        busy(side)
        result = pg.expand(engine, uploaded(image, "Texture"), side)
        return live.view(result, live.jpeg_url(result.image), True), str(folder.save(result))

    def download(result) -> str | None:
        """The result as a PNG carrying its recipe (written once it has settled)."""
        return None if result is None else str(folder.save(result))

    def waits(fn, outputs: int):
        """`fn`, except that a missing input shows a note and changes nothing."""
        @functools.wraps(fn)
        def wrapper(*values):
            try:
                return fn(*values)
            except Waiting as e:
                gr.Info(str(e))
                return gr.skip() if outputs == 1 else [gr.skip()] * outputs
        return wrapper

    # ---- the first page: each tab opens with a result made from the examples -----------------
    first: dict[str, tuple] = {}
    examples_there = {"bricks", "cells", "wood"} <= set(EXAMPLES)
    if examples_there:
        bricks, cells, wood = (file_data(EXAMPLES[n]) for n in ("bricks", "cells", "wood"))
        side = pg.DEFAULT_SIZE
        first["encode"] = encode_ui(bricks, False, side, False)
        first["mix"] = mix_ui(bricks, cells, None, None, 1.0, 1.0, 1.0, 1.0, LAYOUTS[0], side,
                              False)
        first["blend"] = blend_ui(bricks, wood, 0.5, "full", "left-right", side, False)
    first["explore"] = explore_ui([], 0, 1.0, pg.DEFAULT_SIZE, False, *[0.0] * directions)
    renders.reset_pace()

    def initial(name: str, i: int, empty=None):
        return first[name][i] if name in first else empty

    def initial_example(name: str | None) -> str | None:
        return EXAMPLES[name] if examples_there and name else None

    def initial_file(name: str) -> str | None:
        return download(first[name][1 if name != "explore" else 3]) if name in first else None

    # ---- layout ---------------------------------------------------------------------------------
    def texture(label: str, elem_id: str, height: int = 240, value=None) -> gr.Image:
        return gr.Image(value, label=label, type="filepath", sources=["upload", "clipboard"],
                        height=height, elem_id=elem_id, min_width=140)  # two abreast on a phone

    def results(name: str, elem_id: str, empty: str) -> tuple:
        """A tab's result view, its settled result (for the download) and the download."""
        at = 2 if name == "explore" else 0  # where the view is among the tab's outputs
        shown = gr.HTML(initial(name, at, live.placeholder(empty)), elem_id=elem_id,
                        min_height=200)
        state = gr.State(initial(name, at + 1))
        file = gr.File(initial_file(name), label="Download: the PNG carries its recipe (drop "
                       "it in Restore)", interactive=False, height=80,
                       elem_id=f"{elem_id}-download")
        return shown, state, file

    def examples(rows: list[list[str | None]], inputs: list) -> gr.Examples:
        return gr.Examples([[EXAMPLES.get(n) for n in row] for row in rows], inputs,
                           label="Examples", api_visibility="private")

    with gr.Blocks(title="ArtVAE playground", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# ArtVAE playground\nEncode textures into a *structure* (where things are) "
                    "and a *style* (what they look like), then mix, blend and explore.")
        with gr.Row(equal_height=True):
            with gr.Column(scale=3, min_width=280):
                size = gr.Slider(pg.SLIDER_MIN_SIZE, pg.MAX_SIZE, value=pg.DEFAULT_SIZE,
                                 step=pg.SLIDER_STEP, label="Output size (px)",
                                 info="Mix, Blend and Explore; Encode keeps the input's size")
                tileable = gr.Checkbox(label="Tileable (seamless)", value=False)
            restore = gr.File(label="Restore: drop a PNG made here", file_types=[".png"],
                              height=130, scale=2, min_width=280, elem_id="restore")
        status = gr.Markdown()
        with gr.Tabs() as tabs:
            with gr.Tab("Encode", id="encode") as encode_tab:
                with gr.Row():
                    with gr.Column(min_width=240):
                        enc_image = texture("Texture", "encode-texture", 300,
                                            initial_example("bricks"))
                        enc_examples = examples([[n] for n in EXAMPLES], [enc_image])
                        enc_refine = gr.Checkbox(
                            False, label="Refine the code", elem_id="encode-refine",
                            info=f"{pg.REFINE_STEPS} steps through the decoder: closer and as "
                                 "crisp (held-out textures +0.5 dB), about 1 s at 256 px and "
                                 "5 s at 512 on 2 CPU cores; " + (
                                     f"this server refines every image up to 512 px by "
                                     f"{engine.refine_uploads} steps anyway"
                                     if engine.refine_uploads else
                                     "Mix and Blend keep the encoder's code"))
                    with gr.Column(scale=2, min_width=240):
                        psnr = gr.Markdown(initial("encode", 2, ""))
                        enc_view, enc_state, enc_download = results(
                            "encode", "encode-result", "The reconstruction shows here.")
                with gr.Row(equal_height=True):
                    structure_map = gr.Image(initial("encode", 3),
                                             label="Structure map (false colour)", format="png",
                                             interactive=False, height=240, min_width=200,
                                             elem_id="encode-structure")
                    style_bars = gr.Image(initial("encode", 4),
                                          label="Style (offset from the average texture)",
                                          format="png", interactive=False, height=240,
                                          min_width=200, elem_id="encode-style")
                with gr.Row(equal_height=True):
                    strength = gr.Slider(0.05, 1.0, value=pg.VARIATION_STRENGTH, step=0.05,
                                         label="Variation",
                                         info="small: close to the upload; 1: a fresh layout",
                                         min_width=200)
                    more = gr.Button("More like this", elem_id="encode-more", min_width=160)
                    grow = gr.Slider(512, pg.MAX_SIZE, value=1024, step=pg.SLIDER_STEP,
                                     label="Expand to (px)", min_width=200)
                    expand = gr.Button("Expand / make seamless", elem_id="encode-expand",
                                       min_width=160)
                variations = gr.Gallery(label="More like this: new layouts in the upload's "
                                        "style (each downloads as a PNG with its recipe)",
                                        columns=VARIATIONS, height="auto", format="png",
                                        elem_id="encode-variations",
                                        elem_classes=["artvae-gallery"])
                expanded = gr.HTML(elem_id="encode-expanded")
                expanded_file = gr.File(label="Download the seamless tile", interactive=False,
                                        height=80)
            with gr.Tab("Mix", id="mix") as mix_tab:
                mix_images, mix_weights = [], []
                with gr.Row():
                    for i in range(SLOTS):
                        with gr.Column(min_width=160):
                            mix_images.append(texture(
                                f"Texture {i + 1}", f"mix-texture-{i + 1}", 180,
                                initial_example(("bricks", "cells", None, None)[i])))
                            mix_weights.append(gr.Slider(0, 1, value=1.0, step=0.01,
                                                         label=f"Weight {i + 1}",
                                                         elem_id=f"mix-weight-{i + 1}"))
                layout = gr.Radio(LAYOUTS, value=LAYOUTS[0], label="Structure (layout) from",
                                  info="The weights are normalised to sum to one")
                mix_button = gr.Button("Mix", variant="primary")
                mix_view, mix_state, mix_download = results(
                    "mix", "mix-result", "Add textures to mix: the result shows here.")
                mix_examples = examples([["bricks", "cells", None, None],
                                         ["marble", "stripes", "wood", "woven"]], mix_images)
            with gr.Tab("Blend", id="blend") as blend_tab:
                with gr.Row():
                    image_a = texture("A", "blend-a", value=initial_example("bricks"))
                    image_b = texture("B", "blend-b", value=initial_example("wood"))
                t = gr.Slider(0, 1, value=0.5, step=0.01, label="t (0 = A, 1 = B)",
                              elem_id="blend-t")
                with gr.Row():
                    mode = gr.Radio(list(BLEND_MODES), value="full", label="Mode",
                                    info="full: layout and style move; style: A's layout "
                                         "keeps; spatial: the style ramps across the canvas")
                    ramp = gr.Radio(list(pg.RAMPS), value="left-right", label="Ramp (spatial)",
                                    interactive=False)
                blend_view, blend_state, blend_download = results(
                    "blend", "blend-result", "Add A and B: the blend shows here.")
                blend_examples = examples([["bricks", "wood"], ["marble", "cells"],
                                           ["woven", "stripes"]], [image_a, image_b])
                with gr.Accordion("Export the morph A -> B", open=False):
                    with gr.Row():
                        steps = gr.Slider(2, pg.MAX_STEPS, value=16, step=1, label="Steps")
                        fps = gr.Slider(2, 30, value=12, step=1, label="Frames per second")
                        ping_pong = gr.Checkbox(label="Ping-pong (A -> B -> A)", value=True)
                    morph_button = gr.Button("Make GIF, MP4 and a zip of the frames")
                    with gr.Row():
                        gif = gr.Image(label="Morph (GIF preview)", type="filepath",
                                       interactive=False, height=360)
                        morph_files = gr.File(label="Downloads", file_count="multiple",
                                              interactive=False)
            with gr.Tab("Explore", id="explore") as explore_tab:
                with gr.Row(equal_height=True):
                    seed = gr.Number(0, label="Seed (the gallery shows it and the next seven)",
                                     precision=0, minimum=0, min_width=160)
                    temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Temperature",
                                            info="0: the plain average, 1: typical, 2: bold",
                                            elem_id="explore-temperature", min_width=200)
                    generate = gr.Button("New samples", variant="primary", min_width=120)
                    surprise = gr.Button("Surprise me", elem_id="explore-surprise",
                                         min_width=120)
                gallery = gr.Gallery(initial("explore", 0), label="Samples: click one to pick "
                                     "it", columns=EXPLORE_COUNT // 2, height="auto",
                                     format="jpeg", allow_preview=False,
                                     elem_id="explore-gallery",
                                     elem_classes=["artvae-gallery"])
                shown = gr.State(initial("explore", 1, []))  # the gallery's [seed, settings]
                selected = gr.State(0)  # the picked sample's seed
                gr.Markdown("Move the picked sample's style along the training set's main "
                            "directions of style:")
                coords = []
                for first_slider in range(0, directions, 4):  # rows of four sliders
                    with gr.Row():
                        coords += [gr.Slider(-pg.EXPLORE_RANGE, pg.EXPLORE_RANGE, value=0.0,
                                             step=0.05, label=f"Style direction {k + 1}",
                                             min_width=160, elem_id=f"explore-direction-{k + 1}")
                                   for k in range(first_slider,
                                                  min(first_slider + 4, directions))]
                explore_view, explore_state, explore_download = results(
                    "explore", "explore-result", "Pick a sample above.")
                with gr.Row():
                    to_a = gr.Button("Use as Blend A", min_width=120)
                    to_b = gr.Button("Use as Blend B", min_width=120)
                    to_mix = gr.Button("Use in Mix", min_width=120, elem_id="explore-to-mix")
            studio_tabs = studio.add_tabs(engine, folder, EXAMPLES, size, tileable)
        tab = gr.State("encode")  # the visible tab: size and tileable changes re-run it

        # ---- wiring ---------------------------------------------------------------------------
        ui = dict(api_visibility="private", concurrency_id="engine", trigger_mode="always_last",
                  preprocess=False)
        shared = [size, tileable]
        tab_io = {  # tab -> (handler, its own inputs, outputs); handlers take `shared` next
            "encode": (encode_ui, [enc_image, enc_refine],
                       [enc_view, enc_state, psnr, structure_map, style_bars]),
            "mix": (mix_ui, [*mix_images, *mix_weights, layout], [mix_view, mix_state]),
            "blend": (blend_ui, [image_a, image_b, t, mode, ramp], [blend_view, blend_state]),
            "explore": (explore_ui, [shown, selected, temperature],
                        [gallery, shown, explore_view, explore_state]),
        }
        saved = {"encode": (enc_state, enc_download), "mix": (mix_state, mix_download),
                 "blend": (blend_state, blend_download),
                 "explore": (explore_state, explore_download)}
        live_fns = {"mix": (mix_live, mix_view), "blend": (blend_live, blend_view),
                    "explore": (explore_live, explore_view)}

        def inputs_of(name: str) -> list:
            return tab_io[name][1] + shared + (coords if name == "explore" else [])

        def settle(name: str, triggers: list) -> None:
            """Run a tab on `triggers`, then write its download."""
            fn, _, outputs = tab_io[name]
            state, file = saved[name]
            gr.on(triggers, gpu(friendly(waits(fn, len(outputs)))), inputs_of(name), outputs,
                  show_progress="minimal", **ui).success(download, state, file, **ui)

        def follow(name: str, sliders: list) -> None:
            """While `sliders` move, the view follows (the latest value only); on release the
            tab settles."""
            fn, shown_view = live_fns[name]
            gr.on([c.input for c in sliders], gpu(friendly(waits(fn, 1))), inputs_of(name),
                  shown_view, show_progress="hidden", **ui)
            settle(name, [c.release for c in sliders])


        settle("encode", [enc_image.input, enc_refine.input])
        settle("mix", [*(c.input for c in mix_images), layout.input, mix_button.click])
        follow("mix", mix_weights)
        settle("blend", [image_a.input, image_b.input, mode.input, ramp.input])
        follow("blend", [t])
        follow("explore", [temperature, *coords])
        for name, ex in (("encode", enc_examples), ("mix", mix_examples),
                         ("blend", blend_examples)):
            fn, _, outputs = tab_io[name]
            ex.load_input_event.then(gpu(friendly(waits(fn, len(outputs)))), inputs_of(name),
                                     outputs, **ui).success(download, *saved[name], **ui)
        mix_fn, _, mix_outputs = tab_io["mix"]
        studio_tabs.wire(tabs, tab, mix_images, mix_weights, layout, LAYOUTS[-1],
                         dict(fn=gpu(friendly(waits(mix_fn, len(mix_outputs)))),
                              inputs=inputs_of("mix"), outputs=mix_outputs, **ui))

        def new_samples(value):
            first_seed = whole_number(value, "seed", 0, pg.MAX_SEED - EXPLORE_COUNT)
            return first_seed, [first_seed], first_seed, *[0.0] * directions

        def surprise_ui():
            return new_samples(random.Random().randrange(2**31))

        def pick(shown_now, evt: gr.SelectData):
            return (shown_now[0] if shown_now else 0) + evt.index, *[0.0] * directions

        fn, _, outputs = tab_io["explore"]
        explore_event = dict(fn=gpu(friendly(fn)), inputs=inputs_of("explore"),
                             outputs=outputs, **ui)
        seed_outputs = [seed, shown, selected, *coords]
        for trigger, first_step, inputs in ((generate.click, new_samples, [seed]),
                                            (seed.submit, new_samples, [seed]),
                                            (surprise.click, surprise_ui, None),
                                            (gallery.select, pick, [shown])):
            outs = seed_outputs if first_step is not pick else [selected, *coords]
            gr.on([trigger], friendly(first_step), inputs, outs, api_visibility="private",
                  queue=False).then(**explore_event).success(download, *saved["explore"], **ui)

        def send(result, *images):
            """The picked sample, written as a PNG, into Blend's A or B or Mix's first free
            slot (else the last)."""
            if result is None:
                raise ValueError("Pick a sample first.")
            path = download(result)
            if images:
                slot = next((i for i, im in enumerate(images) if im is None), len(images) - 1)
                return [path if i == slot else gr.skip() for i in range(len(images))]
            return path

        for button, target, inputs, outs in ((to_a, "blend", [explore_state], [image_a]),
                                             (to_b, "blend", [explore_state], [image_b]),
                                             (to_mix, "mix", [explore_state, *mix_images],
                                              mix_images)):
            fn, _, outputs = tab_io[target]
            button.click(friendly(send), inputs, outs, api_visibility="private",
                         preprocess=False, queue=False).success(
                lambda name=target: (gr.Tabs(selected=name), name), None, [tabs, tab],
                api_visibility="private", queue=False).then(
                gpu(friendly(waits(fn, len(outputs)))), inputs_of(target), outputs,
                **ui).success(download, *saved[target], **ui)

        more.click(gpu(friendly(variations_ui)), [enc_image, strength, tileable], variations,
                   **ui)
        expand.click(gpu(friendly(expand_ui)), [enc_image, grow], [expanded, expanded_file],
                     **ui)
        mode.change(lambda m: gr.update(interactive=m == "spatial"), mode, ramp,
                    api_visibility="private", queue=False)
        morph_button.click(gpu(friendly(morph_ui)), [image_a, image_b, mode, ramp, *shared, steps,
                                                     fps, ping_pong], [gif, morph_files], **ui)
        for name, tab_block in (("encode", encode_tab), ("mix", mix_tab), ("blend", blend_tab),
                                ("explore", explore_tab)):
            tab_block.select(lambda n=name: n, None, tab, api_visibility="private", queue=False)

        needs = {"encode": 1, "blend": 2, "explore": 0}  # leading images a tab cannot run without

        def rerender(name, *values):
            """Re-run the visible tab (size or tileable changed, or settings were restored);
            a tab still waiting for its images is left as it is."""
            results, at, chosen = [], 0, None
            for other, (fn, inputs, outputs) in tab_io.items():
                own, at = values[at:at + len(inputs)], at + len(inputs)
                ready = (any(v is not None for v in own[:SLOTS]) if other == "mix"
                         else all(v is not None for v in own[:needs[other]]))
                if other == name and ready:
                    chosen = (fn, own, len(results))
                results += [gr.skip()] * len(outputs)
            if chosen is not None:
                fn, own, first_output = chosen
                extra = values[at + 2:] if name == "explore" else ()
                out = fn(*own, *values[at:at + 2], *extra)
                results[first_output:first_output + len(out)] = out
            return results

        def download_visible(name, *states):
            """The visible tab's download, written again after a re-run."""
            return [download(s) if other == name else gr.skip()
                    for other, s in zip(saved, states, strict=True)]

        all_inputs = [c for _, inputs, _ in tab_io.values() for c in inputs] + shared + coords
        all_outputs = [c for _, _, outputs in tab_io.values() for c in outputs]
        rerender_event = dict(fn=gpu(friendly(rerender)), inputs=[tab, *all_inputs],
                              outputs=all_outputs, **ui)
        download_event = dict(fn=download_visible, inputs=[tab, *(s for s, _ in saved.values())],
                              outputs=[f for _, f in saved.values()], **ui)
        gr.on([size.release, tileable.input], **rerender_event).success(**download_event)

        def restore_ui(file):
            s = restore_settings(read_recipe(uploaded(file, "Restore")), known_inputs)
            c = restored_controls(s, engine.weights, SLOTS, len(coords))
            updates = {tabs: gr.Tabs(selected=c["tab"]), tab: c["tab"], status: c["note"]}
            controls = {"tileable": tileable, "t": t, "mode": mode, "ramp": ramp, "seed": seed,
                        "temperature": temperature, "size": size, "steps": steps,
                        "refine": enc_refine}
            updates |= {controls[k]: v for k, v in c.items() if k in controls}
            if c["tab"] in ("paint", "palette"):
                return updates | studio_tabs.restored(c[c["tab"]])
            images = c["images"]
            if c["tab"] == "encode":
                updates[enc_image] = images[0]
            elif c["tab"] == "mix":
                updates |= dict(zip(mix_images, images, strict=True))
                updates |= dict(zip(mix_weights, c["mix_weights"], strict=True))
                if "layout" in c:
                    updates[layout] = LAYOUTS[c["layout"]]
            elif c["tab"] == "blend":
                updates[image_a], updates[image_b] = images[:2]
            else:
                updates |= dict(zip(coords, c["coords"], strict=True))
                picked = c.get("seed", 0)
                updates |= {selected: picked, shown: [picked]}
            return updates

        restore_outputs = [tabs, tab, size, tileable, status, enc_image, enc_refine,
                           *mix_images, *mix_weights, layout, image_a, image_b, t, mode, ramp,
                           steps, seed, temperature, selected, shown, *coords,
                           *studio_tabs.restorable]
        restored = restore.upload(friendly(restore_ui), restore, restore_outputs,
                                  preprocess=False, api_visibility="private")
        restored.success(**rerender_event).success(**download_event)
        studio_tabs.rerun_after(restored, tab)  # a Paint or Palette PNG re-runs its tab

        add_endpoints(engine, folder)  # the web API: /encode, /blend, /mix, /sample, ...
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="The ArtVAE playground (a Gradio web app).")
    p.add_argument("--host", help="address to serve on (default: $GRADIO_SERVER_NAME, "
                                  "else 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, help="default: $GRADIO_SERVER_PORT, else 7860")
    p.add_argument("--share", action="store_true",
                   help="also make a public *.gradio.live link (needs internet)")
    p.add_argument("--auth", help="require a login, given as user:password")
    p.add_argument("--weights", help="folder or Hub repo_id[@revision] (default: "
                                     "$ARTVAE_WEIGHTS, else the bundled checkpoint)")
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--concurrency", type=int, default=2,
                   help="requests handled at once (default 2: more only contended for the "
                        "CPU here); their model work goes to the model workers; others queue")
    p.add_argument("--queue-size", type=int, default=64,
                   help="requests that may wait (default 64); beyond that a client is told "
                        "the queue is full")
    p.add_argument("--sessions", type=int, default=500,
                   help="sessions whose state is kept in memory (default 500; the oldest go "
                        "first). Every web API call is a session of its own, about 0.2 MB "
                        "here: Gradio's default of 10,000 grows the server by ~2 GB")
    p.add_argument("--workers", type=int,
                   help="model threads (default: on a CPU one per request in flight, up to "
                        "one per core; 1 on a GPU; 0 on a ZeroGPU Space: each request runs "
                        "the model itself, inside spaces.GPU); workers x threads should not "
                        "pass the CPU cores")
    p.add_argument("--threads", type=int,
                   help="torch threads per model worker (default: the cores / workers)")
    p.add_argument("--batch-window-ms", type=float,
                   help="how long a decode waits for others of its kind to batch with "
                        "(default 5 on a GPU, 0 on a CPU: only decodes already queued "
                        "together share a batch)")
    p.add_argument("--max-batch", type=int, default=8, help="decodes in one batch (default 8)")
    p.add_argument("--refine-uploads", type=int, default=0, metavar="STEPS",
                   help="refine the code of every new image up to 512x512 px by STEPS steps "
                        "through the decoder, once, for Encode, Mix, Blend and the rest, e.g. "
                        "10: closer and as crisp (held-out textures +0.5 dB, art +0.3 dB), "
                        "about 5 s per new 512 px image on 2 CPU cores (default 0: the "
                        "encoder's codes)")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"],
                   help="inference precision (default: $ARTVAE_PRECISION, else auto: bf16 on "
                        "GPUs and on CPUs with native bf16, float32 on other CPUs)")
    args = p.parse_args(argv)
    if args.auth is not None and ":" not in args.auth:
        p.error("--auth takes user:password")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    steady_memory()  # big buffers back to the system when freed: memory flat under load
    try:
        workers = args.workers if args.workers is not None else default_workers(
            args.concurrency, pick_device(args.device), bool(os.environ.get("SPACES_ZERO_GPU")))
        engine = Engine(args.weights, args.device, workers=workers,  # once, before serving
                        threads=args.threads, batch_window_ms=args.batch_window_ms,
                        max_batch=args.max_batch, precision=args.precision,
                        refine_uploads=args.refine_uploads)
    except (WeightsError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"ArtVAE weights: {engine.weights}, on {engine.device} ({engine.precision}); "
          f"{engine.workers.workers} model worker(s) x {engine.workers.threads} threads")
    demo = build_demo(engine)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    if args.share:
        print("--share: asking Gradio for a public link. Offline, it prints 'Could not create "
              "share link' and the app keeps serving locally.")
    demo.launch(server_name=args.host, server_port=args.port, share=args.share or None,
                auth=tuple(args.auth.split(":", 1)) if args.auth else None,
                max_file_size=MAX_FILE_SIZE, footer_links=["api", "gradio"], css=live.CSS,
                state_session_capacity=args.sessions,
                allowed_paths=[str(EXAMPLE_DIR)])  # restore puts examples back from any cwd


if __name__ == "__main__":
    main()

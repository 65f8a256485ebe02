"""ArtVAE playground: the Gradio app. Layout and wiring only; `artvae.playground` does the work.

    python app.py                      # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --auth me:secret --weights user/repo@rev

Tabs Encode, Mix, Blend and Explore share an output size, a tileable switch and a "restore" drop
zone for PNGs made here (they carry their recipe). The web API is four typed endpoints,
`/encode(image)`, `/blend(image_a, image_b, t)`, `/mix(images, weights)` and `/sample(seed)`,
in `artvae.webapi`; every UI event is private. Anything a person can fix comes back as a
`gr.Error` saying how.
"""

import argparse
import logging
import os
import random
from pathlib import Path

import gradio as gr

from artvae import playground as pg
from artvae.batching import steady_memory
from artvae.engine import Engine
from artvae.hub import WeightsError
from artvae.images import read_recipe
from artvae.latent import BLEND_MODES
from artvae.webapi import add_endpoints, friendly, gpu, uploaded

EXAMPLE_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = {p.stem: str(p) for p in sorted(EXAMPLE_DIR.glob("*.png"))}
SLOTS = 4  # textures on the Mix tab
LAYOUTS = [f"Texture {i + 1}" for i in range(SLOTS)] + ["Blend all"]
MAX_FILE_SIZE = "32mb"


def build_demo(engine: Engine) -> gr.Blocks:
    folder = pg.OutputFolder()
    directions = engine.model.style_basis.shape[0]
    known_inputs = {pg.loaded(p)[1]: p for p in EXAMPLES.values()}

    def shown(result: pg.Result) -> tuple:
        """(result PNG, its 2x2 tiled preview, the PNG again as a download)."""
        path = str(folder.save(result))
        return path, pg.tiled(result.image), path

    def waiting(message: str) -> list:
        """Not enough images yet (a slider moved before both were there): say so, change
        nothing. The outputs keep what they show."""
        gr.Info(message)
        return [gr.skip()] * 3

    def busy(size) -> None:
        """A progress note on big outputs. gr.Progress reports to the running event whether or
        not it is a parameter (a parameter would not work after *values)."""
        if isinstance(size, (int, float)) and size >= 1024:
            gr.Progress()(0.05, desc=f"Making a {size}x{size} texture")

    # ---- the UI's handlers: inputs arrive unprocessed, so the same checks apply ---------------
    def encode_ui(image, _size, tileable):
        if image is None:
            return [None] * 6
        r = pg.encode(engine, uploaded(image, "Texture"), tileable)
        path, preview, _ = shown(r)
        return (path, f"**PSNR {r.extras['psnr']:.2f} dB**", r.extras["structure"],
                r.extras["style_chart"], preview, path)

    def mix_ui(*values):
        images, weights = values[:SLOTS], values[SLOTS:2 * SLOTS]
        layout, size, tileable = values[2 * SLOTS:]
        filled = [i for i, im in enumerate(images) if im is not None]
        if not filled:
            return waiting("Add a texture to mix: upload one or pick an example.")
        structure_from = None
        if layout != LAYOUTS[-1]:
            if layout not in LAYOUTS or LAYOUTS.index(layout) not in filled:
                raise ValueError(f"{layout} gives the layout but is empty: add an image there "
                                 "or choose another.")
            structure_from = filled.index(LAYOUTS.index(layout))
        busy(size)
        return shown(pg.mix(engine, [uploaded(images[i], f"Texture {i + 1}") for i in filled],
                            [weights[i] for i in filled], structure_from, size, tileable))

    def blend_ui(a, b, t, mode, ramp, size, tileable):
        if a is None or b is None:
            return waiting(f"Blend needs two textures: add {'A' if a is None else 'B'}.")
        busy(size)
        return shown(pg.blend(engine, uploaded(a, "A"), uploaded(b, "B"), t, mode, ramp, size,
                              tileable))

    def morph_ui(a, b, mode, ramp, size, tileable, steps, fps, ping_pong):
        progress = gr.Progress()
        if a is None or b is None:
            raise ValueError("A morph needs two textures: add A and B.")
        frames, recipe = pg.morph(engine, uploaded(a, "A"), uploaded(b, "B"), steps, mode, ramp,
                                  size, tileable,
                                  lambda f: progress(0.9 * f, desc="Decoding frames"))
        progress(0.9, desc="Writing the GIF, MP4 and zip")
        files = [str(f) for f in pg.export_morph(frames, recipe, folder.new(), fps, ping_pong)]
        if not any(f.endswith(".mp4") for f in files):
            gr.Warning("MP4 export needs PyAV (pip install av): made the GIF and the zip.")
        return files[0], files

    def sample_ui(seed, temperature, size, tileable, *coords):
        busy(size)
        return shown(pg.sample(engine, seed, size, tileable, temperature, list(coords)))

    # ---- layout ---------------------------------------------------------------------------------
    def texture(label: str, elem_id: str, height: int = 240) -> gr.Image:
        return gr.Image(label=label, type="filepath", sources=["upload", "clipboard"],
                        height=height, elem_id=elem_id)

    def result(label: str, elem_id: str) -> gr.Image:  # elem_ids: for the browser tests
        return gr.Image(label=label, type="filepath", format="png", interactive=False,
                        height=360, elem_id=elem_id)

    def preview(elem_id: str) -> gr.Image:
        return gr.Image(label="2x2 tiled preview (seams show unless tileable)", format="png",
                        interactive=False, height=360, elem_id=elem_id)

    def download() -> gr.File:
        return gr.File(label="Download: the PNG carries its recipe (drop it in Restore)",
                       interactive=False, height=80)

    def results(label: str, elem_id: str) -> list:
        with gr.Row(equal_height=True):
            image, tiles = result(label, elem_id), preview(f"{elem_id}-tiles")
        return [image, tiles, download()]

    def examples(rows: list[list[str | None]], inputs: list) -> gr.Examples:
        return gr.Examples([[EXAMPLES.get(n) for n in row] for row in rows], inputs,
                           label="Examples", api_visibility="private")

    with gr.Blocks(title="ArtVAE playground", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# ArtVAE playground\nEncode textures into a *structure* (where things are) "
                    "and a *style* (what they look like), then mix, blend and explore.")
        with gr.Row(equal_height=True):
            size = gr.Slider(pg.SLIDER_MIN_SIZE, pg.MAX_SIZE, value=512, step=pg.SLIDER_STEP,
                             label="Output size (px)",
                             info="Mix, Blend and Explore; Encode keeps the input's size",
                             scale=3)
            tileable = gr.Checkbox(label="Tileable (seamless)", value=False, scale=1)
            restore = gr.File(label="Restore: drop a PNG made here", file_types=[".png"],
                              height=130, scale=2, elem_id="restore")
        status = gr.Markdown()
        with gr.Tabs() as tabs:
            with gr.Tab("Encode", id="encode") as encode_tab:
                with gr.Row():
                    with gr.Column():
                        enc_image = texture("Texture", "encode-texture", 360)
                        enc_examples = examples([[n] for n in EXAMPLES], [enc_image])
                    with gr.Column():
                        reconstruction = result("Reconstruction", "encode-result")
                        psnr = gr.Markdown()
                with gr.Row(equal_height=True):
                    structure_map = gr.Image(label="Structure map (false colour)", format="png",
                                             interactive=False, height=240,
                                             elem_id="encode-structure")
                    style_bars = gr.Image(label="Style (offset from the average texture)",
                                          format="png", interactive=False, height=240,
                                          elem_id="encode-style")
                    enc_preview = preview("encode-result-tiles")
                enc_download = download()
            with gr.Tab("Mix", id="mix") as mix_tab:
                mix_images, mix_weights = [], []
                with gr.Row():
                    for i in range(SLOTS):
                        with gr.Column(min_width=160):
                            mix_images.append(
                                texture(f"Texture {i + 1}", f"mix-texture-{i + 1}", 180))
                            mix_weights.append(gr.Slider(0, 1, value=1.0, step=0.01,
                                                         label=f"Weight {i + 1}",
                                                         elem_id=f"mix-weight-{i + 1}"))
                mix_examples = examples([["bricks", "cells", None, None],
                                         ["marble", "stripes", "wood", "woven"]], mix_images)
                layout = gr.Radio(LAYOUTS, value=LAYOUTS[0], label="Structure (layout) from",
                                  info="The weights are normalised to sum to one")
                mix_button = gr.Button("Mix", variant="primary")
                mix_out = results("Mix", "mix-result")
            with gr.Tab("Blend", id="blend") as blend_tab:
                with gr.Row():
                    image_a, image_b = texture("A", "blend-a"), texture("B", "blend-b")
                blend_examples = examples([["bricks", "wood"], ["marble", "cells"],
                                           ["woven", "stripes"]], [image_a, image_b])
                t = gr.Slider(0, 1, value=0.5, step=0.01, label="t (0 = A, 1 = B)",
                              elem_id="blend-t")
                with gr.Row():
                    mode = gr.Radio(list(BLEND_MODES), value="full", label="Mode",
                                    info="full: layout and style move; style: A's layout "
                                         "keeps; spatial: the style ramps across the canvas")
                    ramp = gr.Radio(list(pg.RAMPS), value="left-right", label="Ramp (spatial)",
                                    interactive=False)
                blend_out = results("Blend", "blend-result")
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
                with gr.Row():
                    seed = gr.Number(0, label="Seed (sets the layout)", precision=0, minimum=0)
                    temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Temperature",
                                            info="0: the plain average, 1: typical, 2: bold")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary")
                    surprise = gr.Button("Surprise me", elem_id="explore-surprise")
                coords = []
                for first in range(0, directions, 4):  # rows of four sliders
                    with gr.Row():
                        coords += [gr.Slider(-pg.EXPLORE_RANGE, pg.EXPLORE_RANGE, value=0.0,
                                             step=0.05, label=f"Style direction {k + 1}",
                                             min_width=160)
                                   for k in range(first, min(first + 4, directions))]
                explore_out = results("Texture", "explore-result")
        tab = gr.State("encode")  # the visible tab: size and tileable changes re-run it

        # ---- wiring ---------------------------------------------------------------------------
        ui = dict(api_visibility="private", concurrency_id="engine", trigger_mode="always_last",
                  preprocess=False)
        shared = [size, tileable]
        tab_io = {  # tab -> (handler, its own inputs, outputs); handlers take `shared` next
            "encode": (encode_ui, [enc_image], [reconstruction, psnr, structure_map, style_bars,
                                                enc_preview, enc_download]),
            "mix": (mix_ui, [*mix_images, *mix_weights, layout], mix_out),
            "blend": (blend_ui, [image_a, image_b, t, mode, ramp], blend_out),
            "explore": (sample_ui, [seed, temperature], explore_out),
        }

        def render(name: str) -> dict:
            fn, inputs, outputs = tab_io[name]
            extra = coords if name == "explore" else []
            return dict(fn=gpu(friendly(fn)), inputs=inputs + shared + extra, outputs=outputs)

        for name, (_, inputs, _) in tab_io.items():
            triggers = [c.input for c in inputs if isinstance(c, (gr.Image, gr.Radio))]
            triggers += [c.release for c in inputs if isinstance(c, gr.Slider)]
            gr.on(triggers, **render(name), **ui)  # user actions only: restore re-runs itself
        for name, ex in (("encode", enc_examples), ("mix", mix_examples),
                         ("blend", blend_examples)):
            ex.load_input_event.then(**render(name), **ui)
        mix_button.click(**render("mix"), **ui)
        gr.on([c.release for c in coords] + [generate.click, seed.submit], **render("explore"),
              **ui)
        def surprise_ui():
            new_seed, new_coords = pg.surprise(directions, random.Random())
            return new_seed, *new_coords

        surprise.click(surprise_ui, None, [seed, *coords], api_visibility="private", queue=False
                       ).then(**render("explore"), **ui)
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
                fn, own, first = chosen
                extra = values[at + 2:] if name == "explore" else ()
                out = fn(*own, *values[at:at + 2], *extra)
                results[first:first + len(out)] = out
            return results

        all_inputs = [c for _, inputs, _ in tab_io.values() for c in inputs] + shared + coords
        all_outputs = [c for _, _, outputs in tab_io.values() for c in outputs]
        rerender_event = dict(fn=gpu(friendly(rerender)), inputs=[tab, *all_inputs],
                              outputs=all_outputs, **ui)
        gr.on([size.release, tileable.input], **rerender_event)

        def restore_ui(file):
            s = pg.restore_settings(read_recipe(uploaded(file, "Restore")), known_inputs)
            c = pg.restored_controls(s, engine.weights, SLOTS, len(coords))
            images = c["images"]
            updates = {tabs: gr.Tabs(selected=c["tab"]), tab: c["tab"], status: c["note"]}
            controls = {"tileable": tileable, "t": t, "mode": mode, "ramp": ramp, "seed": seed,
                        "temperature": temperature, "size": size, "steps": steps}
            updates |= {controls[k]: v for k, v in c.items() if k in controls}
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
            return updates

        restore_outputs = [tabs, tab, size, tileable, status, enc_image, *mix_images,
                           *mix_weights, layout, image_a, image_b, t, mode, ramp, steps, seed,
                           temperature, *coords]
        restore.upload(friendly(restore_ui), restore, restore_outputs, preprocess=False,
                       api_visibility="private").success(**rerender_event)

        add_endpoints(engine, folder)  # the web API: /encode, /blend, /mix, /sample
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
                   help="model threads (default 1; 0 on a ZeroGPU Space: each request runs "
                        "the model itself, inside spaces.GPU); workers x threads should not "
                        "pass the CPU cores")
    p.add_argument("--threads", type=int,
                   help="torch threads per model worker (default: the cores / workers)")
    p.add_argument("--batch-window-ms", type=float,
                   help="how long a decode waits for others of its kind to batch with "
                        "(default 5 on a GPU, 0 on a CPU: only decodes already queued "
                        "together share a batch)")
    p.add_argument("--max-batch", type=int, default=8, help="decodes in one batch (default 8)")
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
        workers = args.workers if args.workers is not None else (
            0 if os.environ.get("SPACES_ZERO_GPU") else 1)
        engine = Engine(args.weights, args.device, workers=workers,  # once, before serving
                        threads=args.threads, batch_window_ms=args.batch_window_ms,
                        max_batch=args.max_batch, precision=args.precision)
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
                max_file_size=MAX_FILE_SIZE, footer_links=["api", "gradio"],
                state_session_capacity=args.sessions,
                allowed_paths=[str(EXAMPLE_DIR)])  # restore puts examples back from any cwd


if __name__ == "__main__":
    main()

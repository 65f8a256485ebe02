"""ArtVAE playground: the Gradio app. Parses arguments, builds the page (`artvae.ui`), launches.

    python app.py                      # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --auth me:secret --weights user/repo@rev

Tabs Encode, Mix, Blend, Explore, Paint, Palette and Restyle share an output size, a tileable
switch and a "restore" drop zone for PNGs made here: a PNG carries its recipe, which
`artvae.serve.restore` turns back into the controls. Each tab is built by its own module in
`artvae/ui/`; the page that puts them together is `artvae.ui.demo`. The web API is typed
endpoints, `/encode(image)`, `/blend(image_a, image_b, t)`, `/mix(images, weights)`,
`/sample(seed)`, `/variations(image)`, `/expand(image)`, `/paint(mask, textures)`,
`/palette(corners)` and `/restyle(images)`, in `artvae.serve.webapi`; every UI event is private.
"""

import os

# Before torch loads OpenMP: its threads sleep instead of spinning while they wait. On a CPU
# shared with other work, spinning threads wait for each other's lost time slices: a 512 px
# blend took 764 ms with spinning and 314 ms without, on 2 cores at load average 8-10.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import logging
from pathlib import Path

from artvae.model.device import pick_device
from artvae.model.hub import WeightsError
from artvae.serve import live
from artvae.serve.batching import default_workers, steady_memory
from artvae.serve.engine import Engine
from artvae.ui import build_demo

EXAMPLE_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = {p.stem: str(p) for p in sorted(EXAMPLE_DIR.glob("*.png"))}
MAX_FILE_SIZE = "32mb"


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
    demo = build_demo(engine, EXAMPLES)
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

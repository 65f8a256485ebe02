"""`python -m artvae <command>`: the command line.

Model commands live here (reconstruct, bench, evaluate, grid, train, export, publish); the
playground commands (blend, mix, sample) are added by `cli.py`. Every command that runs the
model takes `--weights` (a folder or Hub `repo_id[@revision]`; default $ARTVAE_WEIGHTS, then
the bundled checkpoint) and `--device`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import cli


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", help="folder or Hub repo_id[@revision] (default: bundled)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine

    engine = Engine(args.weights, args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        out = args.out / (Path(path).stem + ".png")
        save_png(engine.reconstruct(path, tileable=args.tileable, refine_steps=args.refine), out)
        print(out)


def cmd_bench(args: argparse.Namespace) -> None:
    from .measure.bench import run
    from .serve.engine import Engine

    if args.load:
        from .measure.loadtest import main as load

        load(args.clients, args.requests, args.max_seconds, args.app_args,
             args.session_per_call, args.baseline)
        return
    if args.browser:
        from .measure import browser_bench

        app_args = [a for flag, value in (("--weights", args.weights), ("--device", args.device))
                    if value for a in (flag, value)]
        browser_bench.run(args.rounds, tuple(app_args), args.url)
        return
    if args.http:
        import json

        from .measure.bench import bench_http

        print(json.dumps(bench_http(args.http, args.images[0], args.images[1], args.repeats)))
        return
    if args.restyle:
        import json

        from .measure.bench import bench_restyle

        print(json.dumps(bench_restyle(Engine(args.weights, args.device), args.restyle)))
        return
    if args.canvas:
        import json

        from .measure.bench import bench_canvas

        engine = Engine(args.weights, args.device)
        for side in sorted(args.canvas):
            print(json.dumps(bench_canvas(engine, side)))
        return
    run(Engine(args.weights, args.device), as_json=args.json, repeats=args.repeats,
        sample_sides=args.sample)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .measure.evaluate import run
    from .serve.engine import Engine

    run(Engine(args.weights, args.device).model, args.data, args.card,
        refine_steps=args.refine, only=args.only)


def cmd_grid(args: argparse.Namespace) -> None:
    from .measure.evaluate import load_eval_images
    from .measure.swaps import grid_from_folder
    from .serve.engine import Engine

    images = load_eval_images(args.data) if args.group is None else _group_images(args)
    print(grid_from_folder(Engine(args.weights, args.device).model, images, args.out,
                           args.layouts, args.styles, smooth=args.smooth))


def _group_images(args: argparse.Namespace) -> list:
    from .train.data import load_split

    return load_split(args.data, "val", max_side=512, group=args.group)


def cmd_train(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from .train.autoencoder import TrainConfig, train, with_overrides

    cfg = with_overrides(
        TrainConfig.preset(args.preset),
        steps=args.steps,
        seed=args.seed,
        batch_pairs=args.batch_pairs,
        crop=args.crop,
        min_scale=args.min_scale,
        lr=args.lr,
        gan_start=args.gan_start,
        gan_weight=args.gan_weight,
        fourier_weight=args.fourier_weight,
        psnr_weight=args.psnr_weight,
        colour_weight=args.colour_weight,
        swap_weight=args.swap_weight,
        style_cycle_weight=args.style_cycle_weight,
        layout_cycle_weight=args.layout_cycle_weight,
        lattice_weight=args.lattice_weight,
        smooth_swaps=args.smooth_swaps,
        anchor_weight=args.anchor_weight,
        val_every=args.val_every,
        freeze_encoder=args.freeze_encoder or None,
        freeze_decoder=args.freeze_decoder or None,
    )
    if args.structure_channels:  # a wider latent; from --init-from weights, grown into it
        cfg = replace(cfg, model=replace(cfg.model, structure_channels=args.structure_channels))
    if args.enc_blocks:  # a deeper encoder; from --init-from weights, grown into it
        cfg = replace(cfg, model=replace(cfg.model, enc_blocks=tuple(args.enc_blocks)))
    if args.no_structure_norm:  # the ablation: a layout map free to carry global appearance
        cfg = replace(cfg, model=replace(cfg.model, structure_norm=False))
    train(cfg, args.data, args.run_dir, args.device, init_from=args.init_from,
          minutes=args.minutes, anchor_from=args.anchor_from)


def cmd_train_prior(args: argparse.Namespace) -> None:
    from .model.hub import BUNDLED_WEIGHTS
    from .train.autoencoder import with_overrides
    from .train.prior import PriorTrainConfig, train_prior

    cfg = with_overrides(PriorTrainConfig.preset(args.preset), steps=args.steps, width=args.width,
                         batch=args.batch, lr=args.lr, seed=args.seed)
    train_prior(args.weights, args.data, args.run_dir, args.out or BUNDLED_WEIGHTS, cfg,
                args.device, args.minutes, warm_start=args.warm_start)


def cmd_train_corrector(args: argparse.Namespace) -> None:
    from .train.autoencoder import with_overrides
    from .train.corrector import CorrectorTrainConfig, train_corrector

    cfg = with_overrides(CorrectorTrainConfig.preset(args.preset), steps=args.steps,
                         width=args.width, batch=args.batch, lr=args.lr, seed=args.seed,
                         passes=args.passes, detail_weight=args.detail_weight,
                         warmup_steps=args.warmup_steps)
    train_corrector(args.weights, args.data, args.run_dir, args.out, cfg, args.device,
                    args.minutes)


def cmd_train_gpu(args: argparse.Namespace) -> None:
    from .model.hub import BUNDLED_WEIGHTS
    from .train.gpu import Budgets, Recipe, run

    minutes = {"autoencoder": args.ae_minutes, "corrector": args.corrector_minutes,
               "prior": args.prior_minutes}
    budgets = Budgets(**{phase: m for phase, m in minutes.items() if m is not None})
    run(Recipe(args.data, args.out, args.init_from or BUNDLED_WEIGHTS, args.structure_channels,
               args.preset, args.device, budgets, args.ae_steps, args.corrector_steps,
               args.prior_steps))


def cmd_export(args: argparse.Namespace) -> None:
    from .model.hub import BUNDLED_WEIGHTS
    from .train.export import export

    export(args.run_dir, args.out or BUNDLED_WEIGHTS, args.data, args.device, args.weights)


def cmd_controls(args: argparse.Namespace) -> None:
    from .model.hub import BUNDLED_WEIGHTS
    from .train.controls import CROPS, SIDE, refill

    print(refill(args.weights or BUNDLED_WEIGHTS, args.data, args.crops or CROPS,
                 args.side or SIDE, args.device, args.out))


def cmd_publish(args: argparse.Namespace) -> None:
    from .model.hub import BUNDLED_WEIGHTS, publish

    if args.space:
        from .space import publish_space

        if args.weights:
            raise ValueError("--weights goes with --repo-id: a Space gets the bundled checkpoint "
                             "(export other weights into checkpoints/artvae-textures first)")
        print(publish_space(args.space, private=args.private))
    else:
        print(publish(args.weights or BUNDLED_WEIGHTS, args.repo_id, private=args.private))


def add_model_commands(commands) -> None:
    """reconstruct: the model on your images."""
    p = commands.add_parser("reconstruct", help="encode and decode images")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", type=Path, required=True, help="folder for <name>.png")
    p.add_argument("--tileable", action="store_true", help="decode with wrap-around padding")
    p.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="refine each code by STEPS gradient steps through the decoder first, e.g. "
                        "10: closer to the input and as crisp (held-out textures +0.5 dB, art "
                        "+0.3 dB), about 0.8 s a 256 px image on 2 CPU cores (default 0: the "
                        "encoder's code)")
    add_model_options(p)
    p.set_defaults(run=cmd_reconstruct)


def add_bench_command(commands) -> None:
    """bench: latency, or the app under load, over HTTP or in a browser."""
    p = commands.add_parser("bench", help="median encode/decode latency, batch 1")
    p.add_argument("--json", action="store_true", help="only the JSON line")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--sample", type=int, nargs="+", metavar="PX",
                   help="also time one tileable sample of PX x PX (prior and fast) and the peak "
                        "memory, e.g. --sample 512 2048")
    p.add_argument("--canvas", type=int, nargs="+", metavar="PX",
                   help="instead, time a tileable Blend on PX x PX canvases and the peak "
                        "memory, e.g. --canvas 2048 (one side per process for a clean peak)")
    p.add_argument("--restyle", type=int, metavar="COUNT",
                   help="instead, restyle COUNT images of 512 px in batches of 8 and one at a "
                        "time: images per second each way, e.g. --restyle 100")
    p.add_argument("--http", metavar="URL",
                   help="instead, time the running app's /blend over HTTP (see --images)")
    p.add_argument("--images", nargs=2, default=["examples/bricks.png", "examples/wood.png"],
                   help="the two images --http blends")
    p.add_argument("--load", action="store_true",
                   help="instead, start the app on a free loopback port and load it with many "
                        "clients: errors, requests/s, p50/p95 per endpoint, server memory")
    p.add_argument("--clients", type=int, default=16, help="--load: clients at once")
    p.add_argument("--requests", type=int, default=300, help="--load: calls per client")
    p.add_argument("--max-seconds", type=float, default=600,
                   help="--load: no new call starts after this long")
    p.add_argument("--session-per-call", action="store_true",
                   help="--load: a new Gradio session for every call (as curl without a "
                        "session_hash) instead of one per client (as a page or gradio_client)")
    p.add_argument("--app-args", default="",
                   help='--load: options for app.py, e.g. "--concurrency 4"')
    p.add_argument("--baseline", metavar="REV",
                   help="--load: first measure git revision REV (a worktree of this repository) "
                        "the same way, in the same sitting, and print the ratio")
    p.add_argument("--browser", action="store_true",
                   help="instead, drag the Blend slider of `python app.py` (started on a free "
                        "port, or --url) in Chromium: release-to-image ms and updates/s")
    p.add_argument("--rounds", type=int, default=8, help="--browser: drags to time")
    p.add_argument("--url", help="--browser: a running app to measure instead of starting one")
    add_model_options(p)
    p.set_defaults(run=cmd_bench)


def add_measure_commands(commands) -> None:
    """evaluate and grid: quality on held-out images, style swaps."""
    p = commands.add_parser("evaluate", help="quality on held-out textures, with baselines")
    p.add_argument("--data", type=Path, required=True, help="corpus folder (or any images)")
    p.add_argument("--card", type=Path, help="also write the table into this model card")
    p.add_argument("--only", choices=["lattice", "controls"],
                   help="only this measure (lattice: the 8-px grid check; controls: the named "
                        "controls, scale and restyle, written into the card's controls block; "
                        "a few minutes each)")
    p.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="also score reconstructions from codes refined by STEPS steps through "
                        "the decoder, as the app's Refine makes them (10: about 0.8 s an image "
                        "on 2 CPU cores, twice for the groups; default 0: not scored)")
    add_model_options(p)
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("grid", help="style-swap picture: layouts as rows, styles as columns")
    p.add_argument("--data", type=Path, required=True,
                   help="corpus folder (its held-out split) or a folder of images")
    p.add_argument("--group", help="only this source group of the corpus (textures, art)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--layouts", type=int, default=4, help="rows (default 4)")
    p.add_argument("--styles", type=int, default=4, help="columns (default 4)")
    p.add_argument("--smooth", action="store_true",
                   help="the smoothest images as layouts and the most detailed as styles")
    add_model_options(p)
    p.set_defaults(run=cmd_grid)


def add_train_command(commands) -> None:
    """train: the autoencoder."""
    p = commands.add_parser("train", help="train (or resume) a model")
    p.add_argument("--data", type=Path, default=Path("data/corpus"))
    p.add_argument(
        "--run-dir",
        type=Path,
        default=Path("runs/default"),
        help="run folder: resumes from its last.pt when present",
    )
    p.add_argument("--preset", default="default", choices=["default", "tiny"])
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-pairs", type=int)
    p.add_argument("--crop", type=int, help="training crop side in pixels (default 128)")
    p.add_argument("--min-scale", type=float,
                   help="crops are cut at a random scale in [this, 1] and resized to --crop "
                        "(default 0.5; 1.0: pixels as inference sees them)")
    p.add_argument("--lr", type=float)
    p.add_argument("--gan-start", type=int, help="step at which the discriminator joins")
    p.add_argument("--gan-weight", type=float,
                   help="weight of the adversarial term (default 0.05): sharpness against PSNR")
    p.add_argument("--fourier-weight", type=float,
                   help="weight of the Fourier-amplitude term (default 0.5): sharpness")
    p.add_argument("--psnr-weight", type=float,
                   help="weight per dB of a mean-PSNR term (default 0): PSNR against sharpness")
    p.add_argument("--colour-weight", type=float,
                   help="weight of an L1 term on 8x8 block means (default 0): colour drift")
    p.add_argument("--swap-weight", type=float,
                   help="weight of the patch statistics of D(s_A, w_B) against B's (default 1; "
                        "0 turns swaps off)")
    p.add_argument("--style-cycle-weight", type=float,
                   help="weight of E_w(D(s_A, w_B)) ~ w_B (default 0.1)")
    p.add_argument("--layout-cycle-weight", type=float,
                   help="weight of E_s(D(s_A, w_B)) ~ s_A (default 0.1): keeps A's layout")
    p.add_argument("--lattice-weight", type=float,
                   help="weight of the swaps' 8-px grid energy beyond their style source's "
                        "(default 0): keeps a textured style on a smooth layout from drawing a "
                        "waffle")
    p.add_argument("--smooth-swaps", type=float,
                   help="share of swap layouts smoothed 8x (default 0): the case that draws "
                        "the waffle")
    p.add_argument("--anchor-from", type=Path,
                   help="exported weights whose decoder the reconstructions are anchored to "
                        "(with --anchor-weight): a fine-tune keeps what that decoder drew")
    p.add_argument("--anchor-weight", type=float,
                   help="weight of the reconstructions' L1 + SSIM + Fourier against the "
                        "--anchor-from decoder's (default 0)")
    p.add_argument("--no-structure-norm", action="store_true",
                   help="do not normalise the structure map over space (ablation only)")
    p.add_argument("--val-every", type=int, help="steps between validations (default 500)")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="train the decoder alone: the codes, and a prior trained on them, stay")
    p.add_argument("--freeze-decoder", action="store_true",
                   help="train the encoder alone, on posterior means: codes the decoder rebuilds "
                        "better (then train-prior again on them)")
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes, checkpointed (resume with the same command)")
    p.add_argument("--structure-channels", type=int,
                   help="channels of the structure map (default 8); with --init-from weights "
                        "of fewer, they are widened: the same image, new channels to learn")
    p.add_argument("--enc-blocks", type=int, nargs=2, metavar=("AT_1_4", "AT_1_8"),
                   help="encoder residual blocks at 1/4 and 1/8 resolution (default 1 2); with "
                        "--init-from weights of fewer, the new ones start as the identity")
    p.add_argument("--init-from", type=Path,
                   help="start a new run from exported weights (e.g. checkpoints/artvae-textures)")
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.set_defaults(run=cmd_train)


def add_part_training_commands(commands) -> None:
    """train-prior and train-corrector: the parts trained after the autoencoder, it frozen."""
    p = commands.add_parser(
        "train-prior", help="train (or resume) the learned prior over structure maps")
    p.add_argument("--data", type=Path, default=Path("data/corpus"))
    p.add_argument("--run-dir", type=Path, default=Path("runs/prior"),
                   help="run folder: encoded crops, last.pt (resumed when present), metrics")
    p.add_argument("--out", type=Path,
                   help="checkpoint to write, the autoencoder with its prior (default: bundled)")
    p.add_argument("--preset", default="default", choices=["default", "tiny"])
    p.add_argument("--steps", type=int)
    p.add_argument("--width", type=int, help="first-level channels of the prior (default 32)")
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes, checkpointed (resume with the same command)")
    p.add_argument("--warm-start", action="store_true",
                   help="start from the prior the weights carry (after an encoder fine-tune)")
    add_model_options(p)
    p.set_defaults(run=cmd_train_prior)

    p = commands.add_parser(
        "train-corrector", help="train (or resume) the code corrector, the rest frozen")
    p.add_argument("--data", type=Path, default=Path("data/corpus"))
    p.add_argument("--run-dir", type=Path, default=Path("runs/corrector"),
                   help="run folder: last.pt (resumed when present), metrics")
    p.add_argument("--out", type=Path, required=True,
                   help="checkpoint to write, the autoencoder with its corrector (then refill "
                        "its statistics: export --weights OUT --out OUT)")
    p.add_argument("--preset", default="default", choices=["default", "tiny"])
    p.add_argument("--steps", type=int)
    p.add_argument("--width", type=int, help="corrector channels at 1/4 resolution (default 64)")
    p.add_argument("--batch", type=int, help="256 px crops per step (default 8)")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--passes", type=int,
                   help="corrector passes per encode, trained unrolled (default 1); a model "
                        "that has a corrector of --width trains it on from where it is")
    p.add_argument("--detail-weight", type=float,
                   help="weight of the local-detail term (default: refining's, "
                        "refine.DETAIL_WEIGHT)")
    p.add_argument("--warmup-steps", type=int, help="learning-rate warm-up (default 100)")
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes, checkpointed (resume with the same command)")
    add_model_options(p)
    p.set_defaults(run=cmd_train_corrector)

    add_train_gpu_parser(commands)


def add_weights_commands(commands) -> None:
    """export and publish: a run's weights to a checkpoint folder, a folder to the Hub."""
    p = commands.add_parser("export", help="a run's EMA weights -> a save_pretrained folder")
    p.add_argument("--run-dir", type=Path, default=Path("runs/default"))
    p.add_argument("--weights", type=Path,
                   help="instead of a run: an exported folder to re-calibrate and refill on --data")
    p.add_argument("--out", type=Path, help="default: the bundled checkpoints/artvae-textures")
    p.add_argument(
        "--data",
        type=Path,
        default=Path("data/corpus"),
        help="corpus whose training styles give the explore directions",
    )
    p.add_argument("--device")
    p.set_defaults(run=cmd_export)

    p = commands.add_parser(
        "controls", help="learn the named style controls (brightness, contrast, saturation, "
                         "warmth, grain) of a weights folder, into a file beside the weights")
    p.add_argument("--weights", type=Path, help="weights folder (default: the bundled one)")
    p.add_argument("--data", type=Path, default=Path("data/corpus"),
                   help="corpus whose training images the controls are learned from")
    p.add_argument("--crops", type=int,
                   help="training crops to learn from (default 1024: 4-5 minutes on 2 CPU cores)")
    p.add_argument("--side", type=int, help="their side in px (default 128)")
    p.add_argument("--out", type=Path, help="folder to write style_controls.safetensors to "
                                            "(default: the weights folder)")
    p.add_argument("--device")
    p.set_defaults(run=cmd_controls)

    p = commands.add_parser(
        "publish", help="push a checkpoint folder, or the app as a Space, to the Hugging Face Hub")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo-id", metavar="USER/NAME",
                        help="model repository for the checkpoint folder (config, weights, card)")
    target.add_argument("--space", metavar="USER/NAME",
                        help="Gradio Space for the app: app.py, the package, requirements, README "
                             "as the Space card, examples and the bundled weights")
    p.add_argument("--private", action="store_true",
                   help="create the repository private (an existing one keeps its visibility)")
    p.add_argument("--weights", type=Path,
                   help="with --repo-id: the folder to push (default: the bundled one)")
    p.set_defaults(run=cmd_publish)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: one builder per command group."""
    parser = argparse.ArgumentParser(
        prog="python -m artvae",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (add_model_commands, add_bench_command, add_measure_commands, add_train_command,
                add_part_training_commands, add_weights_commands):
        add(commands)
    cli.add_commands(commands, add_model_options)
    cli.add_studio_commands(commands, add_model_options)
    cli.add_restyle_command(commands, add_model_options)
    return parser


def add_train_gpu_parser(commands) -> None:
    p = commands.add_parser(
        "train-gpu", help="the prepared GPU run: a 16-channel map with noise inputs and a "
                          "discriminator, then the corrector and prior retrained, exported "
                          "(10 minutes of one H100; the same command resumes)",
        description="Phases: start (the weights grown to a wider map, with noise inputs), "
                    "autoencoder, autoencoder-export, corrector, prior, export (OUT/final). "
                    "OUT/state.json records the finished ones; running the same command again "
                    "skips them and resumes the unfinished one from its last.pt. 16 channels "
                    "rather than a 1/4-resolution map: a prepared choice (the wider map "
                    "starts from the shipped model exactly; see artvae/train/gpu.py and "
                    "docs/gpu.md).")
    p.add_argument("--data", type=Path, default=Path("data/pack"),
                   help="a packed corpus (python -m artvae.data pack; <= 64 MiB travels to a "
                        "lent machine) or a corpus (default data/pack)")
    p.add_argument("--out", type=Path, default=Path("runs/wide"),
                   help="run folder: state.json, each phase's folder, final/ (default runs/wide)")
    p.add_argument("--init-from", type=Path,
                   help="weights to grow and start from (default: the bundled checkpoint)")
    p.add_argument("--structure-channels", type=int, default=16,
                   help="structure channels to grow the map to (default 16)")
    p.add_argument("--preset", default="h100", choices=["h100", "tiny"],
                   help="h100: the real run (needs CUDA); tiny: a dry run in seconds on a CPU")
    p.add_argument("--ae-minutes", type=float,
                   help="autoencoder training budget (default 5)")
    p.add_argument("--corrector-minutes", type=float,
                   help="corrector training budget (default 1.25)")
    p.add_argument("--prior-minutes", type=float,
                   help="prior training budget (default 1.25)")
    p.add_argument("--ae-steps", type=int, help="autoencoder schedule length (default 1500)")
    p.add_argument("--corrector-steps", type=int, help="corrector schedule length (default 1500)")
    p.add_argument("--prior-steps", type=int, help="prior schedule length (default 6000)")
    p.add_argument("--device", help="cuda (default: the best available)")
    p.set_defaults(run=cmd_train_gpu)


def main(argv: list[str] | None = None) -> None:
    from .model.hub import WeightsError
    from .space import SpaceError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, WeightsError, SpaceError) as error:
        # errors meant for people (bad image, missing corpus, weights not found) without a trace
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()

"""The playground commands of `python -m artvae`: blend, mix, sample, variations, expand, sheet,
paint, palette, restyle.

Thin adapters from command-line arguments to the engine's operations; `__main__.py` adds them
to its parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .model.controls import STYLE_CONTROLS
from .ops.generate import VARIATION_STRENGTH
from .ops.latent import BLEND_MODES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tga", ".tif", ".tiff", ".gif")


def cmd_blend(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine

    engine = Engine(args.weights, args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    edits, scale = look_of(args)
    frames = engine.blend_frames(args.a, args.b, args.steps, args.mode, tileable=args.tileable,
                                 edits=edits, scale=scale)
    for i, frame in enumerate(frames):
        save_png(frame, args.out / f"{i:03d}.png")
    print(f"{len(frames)} frames in {args.out}")


def cmd_mix(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine

    if len(args.mix_weights) != len(args.images):
        raise ValueError(
            f"give one weight per image: {len(args.images)} images, {len(args.mix_weights)} weights"
        )
    engine = Engine(args.weights, args.device)
    edits, scale = look_of(args)
    image = engine.mix(
        args.images, args.mix_weights, structure_from=args.structure_from, tileable=args.tileable,
        edits=edits, scale=scale,
    )
    print(save_png(image, args.out))


def cmd_sample(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine
    from .serve.playground import checked_controls

    engine = Engine(args.weights, args.device)
    edits, scale = look_of(args)
    image = engine.sample(
        args.seed, (args.size, args.size), tileable=args.tileable, temperature=args.temperature,
        fast=args.fast, edits=edits, scale=scale,
    )
    controls = checked_controls(edits | {"scale": scale})
    print(
        save_png(
            image,
            args.out,
            recipe={
                "op": "sample",
                "seed": args.seed,
                "size": args.size,
                "tileable": args.tileable,
                "fast": args.fast,
                "weights": engine.weights,
                **({"controls": controls} if controls else {}),
            },
        )
    )


def cmd_variations(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine

    engine = Engine(args.weights, args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    size = None if args.size is None else (args.size, args.size)
    for seed in range(args.seed, args.seed + args.count):
        image = engine.variations(args.image, seed, size, args.strength, args.tileable)
        recipe = {"op": "variations", "seed": seed, "strength": args.strength,
                  "tileable": args.tileable, "weights": engine.weights}
        print(save_png(image, args.out / f"{Path(args.image).stem}_{seed:03d}.png", recipe))


def cmd_expand(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine

    engine = Engine(args.weights, args.device)
    image = engine.expand(args.image, (args.size, args.size), args.seed,
                          tileable=not args.no_tileable)
    recipe = {"op": "expand", "seed": args.seed, "size": args.size,
              "tileable": not args.no_tileable, "weights": engine.weights}
    print(save_png(image, args.out, recipe))


def cmd_sheet(args: argparse.Namespace) -> None:
    from .measure.samples import sample_sheet
    from .serve.engine import Engine

    engine = Engine(args.weights, args.device)
    seeds = list(range(args.seed, args.seed + args.count))
    print(sample_sheet(engine.model, args.out, seeds, args.size, args.columns, args.fast))


def add_look_options(p: argparse.ArgumentParser) -> None:
    """The named style controls as flags (--brightness X ... --scale F), in their units: 0 as
    it is, +-1 a clear step, +-3 the end."""
    for name in STYLE_CONTROLS:
        p.add_argument(f"--{name}", type=float, default=0.0, metavar="X",
                       help=f"{name}, -3..3 (default 0)")
    p.add_argument("--scale", type=float, default=1.0, metavar="F",
                   help="the pattern's size, 0.25..4: 2 = features twice as big (default 1)")


def look_of(args: argparse.Namespace) -> tuple[dict[str, float], float]:
    """(the named edits set on the command line, the scale) of `add_look_options`' flags."""
    return {name: getattr(args, name) for name in STYLE_CONTROLS if getattr(args, name)}, \
        args.scale


def add_commands(commands, add_model_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the playground commands on the `python -m artvae` sub-parsers."""
    p = commands.add_parser("blend", help="morph frames from texture A to texture B")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--steps", type=int, default=8, help="frames are 0..steps (steps + 1 files)")
    p.add_argument("--out", type=Path, required=True, help="folder for 000.png, 001.png ...")
    p.add_argument("--mode", choices=BLEND_MODES, default="full")
    p.add_argument("--tileable", action="store_true")
    add_look_options(p)
    add_model_options(p)
    p.set_defaults(run=cmd_blend)

    p = commands.add_parser("mix", help="mix the styles of several textures")
    p.add_argument("images", nargs="+")
    p.add_argument(
        "--weights",
        dest="mix_weights",
        type=float,
        nargs="+",
        required=True,
        help="one weight per image (normalised to sum to 1)",
    )
    p.add_argument(
        "--structure-from",
        type=int,
        default=0,
        help="index of the image giving the layout; -1 mixes the layouts too",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tileable", action="store_true")
    add_look_options(p)
    p.add_argument("--model", dest="weights", help="weights folder or Hub repo_id[@revision]")
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.set_defaults(run=cmd_mix)

    p = commands.add_parser("sample", help="a random texture from a seed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=512, help="side in pixels")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tileable", action="store_true")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--fast", action="store_true",
                   help="random-phase layout instead of the learned prior's")
    add_look_options(p)
    add_model_options(p)
    p.set_defaults(run=cmd_sample)

    p = commands.add_parser("variations", help="new layouts of an image's kind, in its style")
    p.add_argument("image")
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="first seed; one image per seed")
    p.add_argument("--size", type=int, help="side in pixels (default: the image's size)")
    p.add_argument("--strength", type=float, default=VARIATION_STRENGTH,
                   help="0..1: how far from the image's own layout (1: a fresh layout)")
    p.add_argument("--tileable", action="store_true")
    p.add_argument("--out", type=Path, required=True, help="folder for <name>_<seed>.png")
    add_model_options(p)
    p.set_defaults(run=cmd_variations)

    p = commands.add_parser("expand", help="grow an image to a large seamless tile")
    p.add_argument("image")
    p.add_argument("--size", type=int, default=1024, help="side in pixels (default 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-tileable", action="store_true", help="do not wrap around")
    p.add_argument("--out", type=Path, required=True)
    add_model_options(p)
    p.set_defaults(run=cmd_expand)

    p = commands.add_parser("sheet", help="a sheet of seeded samples (PNG)")
    p.add_argument("--count", type=int, default=16)
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--size", type=int, default=256, help="side of each sample")
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--fast", action="store_true", help="random-phase layouts")
    p.add_argument("--out", type=Path, required=True)
    add_model_options(p)
    p.set_defaults(run=cmd_sheet)


def cmd_paint(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine
    from .serve.playground import paint

    engine = Engine(args.weights, args.device)
    result = paint(engine, args.mask, args.textures, args.layout, args.softness, args.size,
                   args.tileable, args.seed)
    print(save_png(result.image, args.out, result.recipe))


def cmd_palette(args: argparse.Namespace) -> None:
    from .ops.images import save_png
    from .serve.engine import Engine
    from .serve.playground import palette

    engine = Engine(args.weights, args.device)
    result, cells, _ = palette(engine, args.corners, args.rows, args.cols, args.cell,
                               args.tileable)
    print(save_png(result.image, args.out, result.recipe))
    if args.cells is not None:
        args.cells.mkdir(parents=True, exist_ok=True)
        for i, cell in enumerate(cells):
            save_png(cell, args.cells / f"{i // args.cols:02d}_{i % args.cols:02d}.png")


def add_studio_commands(commands,
                        add_model_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register paint and palette on the `python -m artvae` sub-parsers."""
    p = commands.add_parser(
        "paint", help="paint textures' styles into the regions of a mask",
        description="Each mask colour takes a texture: red the 1st, green the 2nd, blue the 3rd, "
                    "yellow the 4th (pure RGB; other colours go to the nearest of these). White, "
                    "grey, black and transparent pixels are unpainted: they take the 1st.")
    p.add_argument("mask", help="the mask image (stretched over the output)")
    p.add_argument("textures", nargs="+", help="1 to 4 textures, in mask-colour order")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--layout", help="image whose structure gives the layout "
                                    "(default: the first texture's)")
    p.add_argument("--seed", type=int, help="without --layout: the sampler's layout for SEED")
    p.add_argument("--softness", type=float, default=0.3,
                   help="0..1: how soft the region borders are (default 0.3)")
    p.add_argument("--size", type=int, help="output side in pixels (default: the mask's size)")
    p.add_argument("--tileable", action="store_true", help="seamless; borders wrap around")
    add_model_options(p)
    p.set_defaults(run=cmd_paint)

    p = commands.add_parser("palette", help="a grid of blends between four corner textures")
    p.add_argument("corners", nargs=4, metavar="CORNER",
                   help="top-left, top-right, bottom-left, bottom-right")
    p.add_argument("--out", type=Path, required=True, help="the sheet (PNG)")
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--cols", type=int, default=5)
    p.add_argument("--cell", type=int, default=128, help="cell side in pixels (default 128)")
    p.add_argument("--cells", type=Path, help="also write each cell to this folder "
                                              "(<row>_<col>.png)")
    p.add_argument("--tileable", action="store_true")
    add_model_options(p)
    p.set_defaults(run=cmd_palette)


def restyle_inputs(inputs: list[str]) -> list[Path]:
    """Files as given; a folder gives its images (and its sub-folders'), sorted."""
    files = []
    for given in map(Path, inputs):
        if given.is_dir():
            files += sorted(p for p in given.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(given)
    if not files:
        raise ValueError("no images to restyle: give image files or folders holding some")
    return files


def cmd_restyle(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .ops.images import save_png
    from .serve.engine import Engine
    from .serve.playground import checked_controls
    from .serve.restyling import output_names

    files = restyle_inputs(args.inputs)
    edits, scale = look_of(args)
    engine = Engine(args.weights, args.device)
    with tqdm(total=len(files), desc="restyle", unit="image", dynamic_ncols=True) as bar:
        made = engine.restyle(files, args.style, args.strength, edits, scale,
                              args.tileable, args.batch,
                              progress=lambda done, _: bar.update(done - bar.n))
    args.out.mkdir(parents=True, exist_ok=True)
    controls = checked_controls(edits | {"scale": scale})
    recipe = {"op": "restyle", "weights": engine.weights, "tileable": args.tileable,
              "strength": args.strength if args.style else None,
              **({"controls": controls} if controls else {})}
    failed = []
    for path, name, out in zip(files, output_names([f.name for f in files]), made, strict=True):
        if isinstance(out, Exception):
            failed.append(f"{path}: {out}")
        else:
            save_png(out, args.out / name, recipe)
    print(f"{len(files) - len(failed)} restyled into {args.out}")
    if failed:
        sys.exit(f"{len(failed)} failed:\n" + "\n".join(failed))


def add_restyle_command(commands,
                        add_model_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register restyle on the `python -m artvae` sub-parsers."""
    p = commands.add_parser(
        "restyle", help="restyle images (or folders of them) at their own size: in a style "
                        "image's style and/or with named edits",
        description="Writes OUT/<name>.png for each input, its size and layout kept: with "
                    "--style, in that image's style (--strength of the way from its own), "
                    "then the named edits (in units: 0 as it is, +-1 a clear step, +-3 the "
                    "end). A file that cannot be read is reported and skipped; the exit "
                    "status is 1 when any failed.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="images, or folders of images")
    p.add_argument("--out", type=Path, required=True, help="folder for <name>.png")
    p.add_argument("--style", help="image whose style the inputs take")
    p.add_argument("--strength", type=float, default=1.0,
                   help="0..1: how far from each input's own style to --style's (default 1)")
    add_look_options(p)
    p.add_argument("--tileable", action="store_true",
                   help="keep seamless inputs seamless (encode and decode wrapping around)")
    p.add_argument("--batch", type=int, default=8,
                   help="images of one size run through the model together (default 8)")
    add_model_options(p)
    p.set_defaults(run=cmd_restyle)

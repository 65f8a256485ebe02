"""`python -m artvae ...`: the command-line interface other tools rely on (DESIGN.md)."""

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from PIL import Image

from artvae.measure.evaluate import CARD_END, CARD_START, card_table, evaluate, write_card

ROOT = Path(__file__).resolve().parents[1]


def artvae(*args: str, weights: Path | None = None, process: bool = False
           ) -> subprocess.CompletedProcess:
    """`python -m artvae ARGS` with `weights` as $ARTVAE_WEIGHTS: its exit status, stdout and
    stderr. In this process through the entry point's `main` (a new Python would spend 3 s
    importing PyTorch for each call), or with `process` as a new process, as people run it."""
    env = {"HF_HUB_OFFLINE": "1"} | ({"ARTVAE_WEIGHTS": str(weights)} if weights else {})
    if process:
        return subprocess.run([sys.executable, "-m", "artvae", *args], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                              capture_output=True, text=True, timeout=240)
    from artvae.__main__ import main

    out, err, code = io.StringIO(), io.StringIO(), 0
    with patch.dict(os.environ, env), redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as stop:  # sys.exit(message) prints it and exits 1, as Python does
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
            if isinstance(stop.code, str):
                print(stop.code, file=err)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cli_images")
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(70, 50), (64, 64), (40, 96)]):
        path = folder / f"t{i}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_reconstruct_writes_same_size_pngs(images, tiny_weights, tmp_path):
    result = artvae("reconstruct", *map(str, images), "--out", str(tmp_path), weights=tiny_weights,
                    process=True)
    assert result.returncode == 0, result.stderr
    for path in images:
        with Image.open(tmp_path / path.name) as out, Image.open(path) as original:
            assert out.size == original.size


def test_blend_writes_numbered_frames(images, tiny_weights, tmp_path):
    result = artvae("blend", str(images[0]), str(images[1]), "--steps", "4", "--out",
                    str(tmp_path), "--mode", "spatial", weights=tiny_weights)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"00{i}.png" for i in range(5)]


def test_mix_and_sample_write_their_file(images, tiny_weights, tmp_path):
    mixed = artvae("mix", *map(str, images), "--weights", "0.5", "0.3", "0.2", "--out",
                   str(tmp_path / "mix.png"), weights=tiny_weights)
    assert mixed.returncode == 0, mixed.stderr
    with Image.open(tmp_path / "mix.png") as image:
        assert image.size == (50, 70)  # the layout (and size) of the first image
    sampled = artvae("sample", "--seed", "3", "--size", "96", "--out", str(tmp_path / "s.png"),
                     "--tileable", weights=tiny_weights)
    assert sampled.returncode == 0, sampled.stderr
    with Image.open(tmp_path / "s.png") as image:
        assert image.size == (96, 96)


def test_mix_with_the_wrong_number_of_weights_says_so(images, tiny_weights, tmp_path):
    result = artvae("mix", *map(str, images), "--weights", "1", "--out", str(tmp_path / "m.png"),
                    weights=tiny_weights)
    assert result.returncode != 0
    assert "one weight per image" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_non_image_gives_a_clear_error(tiny_weights, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = artvae("reconstruct", str(bad), "--out", str(tmp_path), weights=tiny_weights)
    assert result.returncode != 0
    assert "not an image we can read" in result.stderr and "Traceback" not in result.stderr


def test_bench_json_last_line(tiny_weights, monkeypatch, capsys):
    """`bench --json` times the given weights' encoder and decoder at 256 and 512 px (three
    warm-up calls, then --repeats timed ones) and prints the medians, in ms, as its last line.
    Run in this process, to count the calls it makes."""
    import time

    from artvae.__main__ import main
    from artvae.model import ArtVAE

    calls, encode, decode = [], ArtVAE.encode, ArtVAE.decode

    def counted_encode(model, x):
        calls.append(("encode", x.shape[-1]))
        return encode(model, x)

    def counted_decode(model, structure, style, tileable=False):
        calls.append(("decode", 8 * structure.shape[-1]))
        return decode(model, structure, style, tileable)

    monkeypatch.setattr(ArtVAE, "encode", counted_encode)
    monkeypatch.setattr(ArtVAE, "decode", counted_decode)
    start = time.perf_counter()
    main(["bench", "--json", "--repeats", "2", "--weights", str(tiny_weights)])
    wall_ms = (time.perf_counter() - start) * 1000
    numbers = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for side in (256, 512):  # one encode for the code to decode, then 3 + 2 of each
        assert (calls.count(("encode", side)), calls.count(("decode", side))) == (6, 5)
    parameters = sum(p.numel() for p in ArtVAE.from_pretrained(tiny_weights).parameters())
    assert numbers["parameters"] == parameters and numbers["device"] == "cpu"
    medians = [numbers[op][side] for op in ("encode_ms", "decode_ms") for side in ("256", "512")]
    assert set(numbers["encode_ms"]) == set(numbers["decode_ms"]) == {"256", "512"}
    assert all(ms > 0 for ms in medians) and 2 * sum(medians) < wall_ms  # 2 timed calls each


def test_variations_expand_and_sheet_write_their_files(images, tiny_prior_weights, tmp_path):
    result = artvae("variations", str(images[1]), "--count", "2", "--seed", "5", "--out",
                    str(tmp_path / "var"), weights=tiny_prior_weights)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["t1_005.png", "t1_006.png"]
    with Image.open(tmp_path / "var/t1_005.png") as image:
        assert image.size == (64, 64)  # the image's own size by default
    result = artvae("expand", str(images[1]), "--size", "128", "--out",
                    str(tmp_path / "big.png"), weights=tiny_prior_weights)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "big.png") as image:
        assert image.size == (128, 128)
    result = artvae("sheet", "--count", "3", "--size", "32", "--columns", "3", "--out",
                    str(tmp_path / "sheet.png"), weights=tiny_prior_weights)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "sheet.png") as image:
        assert image.size == (3 * 32 + 2 * 4, 32)


def test_evaluate_reports_model_baselines_and_blends(images, tiny_weights):
    result = artvae("evaluate", "--data", str(images[0].parent), weights=tiny_weights)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["images"] == 3
    for key in ("model", "bicubic_x4", "bicubic_x8"):
        assert set(metrics[key]) == {"psnr", "ssim", "swd", "sharpness"}
    # on white noise a 1/4 bicubic down-up keeps more than a 1/8 one
    assert metrics["bicubic_x4"]["psnr"] > metrics["bicubic_x8"]["psnr"]
    assert 0 <= metrics["per_texture"]["wins_over_bicubic_x4"] <= 3
    assert metrics["blend"]["pairs"] == 2
    samples = metrics["samples"]
    assert samples["count"] == 64 and samples["random_phase"]["ratio"] > 0
    assert "prior" not in samples  # tiny weights without a learned prior


def test_evaluate_refine_scores_the_refined_codes_beside_the_encoders(images):
    import torch

    from artvae.model.autoencoder import ArtVAE
    from artvae.model.config import ModelConfig
    from artvae.train.data import load_uint8

    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny()).eval()
    crops = [load_uint8(p, max_side=512) for p in images]
    metrics = evaluate(model, crops, refine_steps=10)
    assert "refined" not in evaluate(model, crops)
    refined, encoded = metrics["refined"], metrics["model"]
    assert refined["steps"] == 10
    # random weights on noise: the steps still make it structurally closer
    assert refined["ssim"] > encoded["ssim"]
    assert "| ArtVAE, codes refined 10 steps (all) |" in card_table(metrics)


def test_write_card_replaces_only_the_marked_block(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(f"intro\n{CARD_START}\nold\n{CARD_END}\noutro\n")
    row = {"psnr": 20.0, "ssim": 0.5, "swd": 10.0, "sharpness": 0.9}
    metrics = {"images": 2, "model": row, "bicubic_x4": row, "bicubic_x8": row,
               "style_swap": {"psnr_own_style": 20.0, "psnr_other_crop_style": 19.0}}
    write_card(card, metrics)
    text = card.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "| ArtVAE | 20.00 | 0.500 |" in text

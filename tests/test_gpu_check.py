"""The GPU check (`python -m artvae.gpu_check`) on a machine without CUDA: it says so, writes
that in its report and runs none of its steps."""

import json

import pytest
import torch

from artvae import gpu_check


def test_without_cuda_it_says_so_runs_nothing_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ran = []
    monkeypatch.setattr(gpu_check, "CHECKS", {name: lambda args, n=name: ran.append(n)
                                              for name in gpu_check.STEPS})
    assert gpu_check.main(["--report", str(tmp_path)]) == gpu_check.NO_CUDA != 0
    assert ran == []
    assert "No CUDA GPU here" in capsys.readouterr().err
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["steps"] == {} and report["machine"]["cuda"] is False
    assert "nothing was run" in (tmp_path / "gpu_check.md").read_text()


def test_the_report_goes_to_the_device_machines_out_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    gpu_check.main([])
    assert (tmp_path / "out" / "gpu_check.json").is_file()


def test_steps_run_in_order_and_each_lands_in_the_report(tmp_path, monkeypatch):
    """On a GPU machine (faked here): the chosen steps in order, a failed one fails the run
    without stopping the rest, and the report has a row for each."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpu_check, "machine", lambda: {"cuda": True, "gpu": "a stand-in"})
    ran = []

    def fake(name):
        def check(args):
            ran.append(name)
            return {"ok": name != "bench", "seconds": 1.0}
        return check

    monkeypatch.setattr(gpu_check, "CHECKS", {name: fake(name) for name in gpu_check.STEPS})
    assert gpu_check.main(["--report", str(tmp_path), "--skip", "train"]) == 1
    assert ran == ["tests", "bench", "app"]
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| tests | pass |" in table and "| bench | FAIL |" in table and "train" not in table
    assert json.loads((tmp_path / "gpu_check.json").read_text())["verdict"] == "some steps failed"


@pytest.mark.parametrize("output, expected", [
    ('loading\n{"decode_ms": {"256": 1.5}}\n', {"decode_ms": {"256": 1.5}}),
    ("no json here\n", None),
])
def test_bench_results_are_read_from_the_last_json_line(output, expected):
    assert gpu_check.last_json(output) == expected

"""The package's layers (DESIGN.md, "Layout"): imports run downwards, ui -> serve -> ops -> model
for the app and measure -> train -> ops -> model offline, the two sides apart, no cycles. The
contracts are import-linter's, configured in pyproject.toml; these tests run them, show that
they catch a broken rule, and check the sub-packages for cycles with grimp directly."""

import itertools
import shutil
import subprocess
import sys

import grimp
import pytest
from conftest import ROOT

LAYERS = ("model", "ops", "serve", "ui", "train", "measure")
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(where) -> subprocess.CompletedProcess:
    """`lint-imports` on the package and pyproject.toml in `where` (the contracts' own report)."""
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--config", "pyproject.toml"],
                          cwd=where, capture_output=True, text=True, timeout=120)


def copy_with(tmp_path, module: str, source: str):
    """The package and its contracts copied to `tmp_path`, with `module` (a path in the
    package) written as `source`."""
    shutil.copytree(ROOT / "artvae", tmp_path / "artvae",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "artvae" / module).write_text(source)
    return tmp_path


def test_the_package_keeps_its_layer_contracts():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(("module", "source", "reported"), [
    ("model/upward.py", "from artvae.ui import paint\n",
     "artvae.model is not allowed to import artvae.ui"),
    ("ops/upward.py", "from artvae.serve.engine import Engine\n",
     "artvae.ops is not allowed to import artvae.serve"),
    ("train/serving.py", "from artvae.serve import playground\n",
     "artvae.train is not allowed to import artvae.serve"),
    ("serve/training.py", "from artvae.train import data\n",
     "artvae.serve is not allowed to import artvae.train"),
], ids=["model->ui", "ops->serve", "train->serve", "serve->train"])
def test_an_import_against_the_layers_is_reported_as_broken(tmp_path, module, source, reported):
    run = lint_imports(copy_with(tmp_path, module, source))
    assert run.returncode != 0
    assert reported in run.stdout, run.stdout
    assert "artvae." + module.removesuffix(".py").replace("/", ".") in run.stdout


def test_a_cycle_between_two_modules_of_a_layer_is_reported_as_broken(tmp_path):
    copy = copy_with(tmp_path, "ops/circular.py", "from artvae.ops import latent\n")
    latent = copy / "artvae" / "ops" / "latent.py"
    latent.write_text(latent.read_text() + "\nfrom artvae.ops import circular  # noqa: E402\n")
    run = lint_imports(copy)
    assert run.returncode != 0
    assert "No import cycles" in run.stdout and "BROKEN" in run.stdout, run.stdout


def test_no_import_cycle_between_the_sub_packages():
    graph = grimp.build_graph("artvae", cache_dir=None, exclude_type_checking_imports=True)
    both_ways = [
        (a, b) for a, b in itertools.combinations(LAYERS, 2)
        if graph.chain_exists(f"artvae.{a}", f"artvae.{b}", as_packages=True)
        and graph.chain_exists(f"artvae.{b}", f"artvae.{a}", as_packages=True)]
    assert both_ways == []


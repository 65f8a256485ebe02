"""No function in the project (the package and app.py) is longer than 120 lines, argument
parsers and UI builders included: a longer one is two concerns (DESIGN.md: a tab is a module,
one parser builder per command group)."""

import ast

from conftest import ROOT

MAX_LINES = 120


def function_lengths() -> dict[str, int]:
    """'path:line name' -> lines, for every function and method (nested ones too)."""
    lengths = {}
    for path in [ROOT / "app.py", *sorted((ROOT / "artvae").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                lengths[where] = node.end_lineno - node.lineno + 1
    return lengths


def test_the_lengths_are_measured_over_the_whole_project():
    lengths = function_lengths()
    assert any(w.startswith("app.py:") for w in lengths)
    assert any(w.startswith("artvae/ui/") for w in lengths)
    assert len(lengths) > 300


def test_no_function_is_longer_than_120_lines():
    too_long = {w: n for w, n in function_lengths().items() if n > MAX_LINES}
    assert too_long == {}

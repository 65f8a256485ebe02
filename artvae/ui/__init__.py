"""The Gradio page: one module per tab, the widgets and page context they share, and the page
that puts them together and wires what crosses tabs (shared size and tileable, Restore).

The top layer: may use `artvae.serve`, `artvae.ops` and `artvae.model`; only the entry points
(`app.py`) import it.
"""

from .demo import build_demo

__all__ = ["build_demo"]

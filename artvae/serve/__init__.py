"""Serving: the `Engine` (device, dtype, caches, model workers and batching), the playground's
operations with checked inputs and recipes, live previews, Restore, and the typed web API.

May use `artvae.ops` and `artvae.model`; never `artvae.ui`, `artvae.train` or `artvae.measure`.
"""

from .engine import Engine

__all__ = ["Engine"]

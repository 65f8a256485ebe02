"""Measurement: held-out quality against baselines, style swaps, sample sheets and their
checks, and the benchmarks (latency, the app under load, the page in a browser).

Offline work, run from `python -m artvae`: may use `artvae.train` (the corpus and its splits),
`artvae.ops` and `artvae.model`; never `artvae.serve` or `artvae.ui` at run time (the
benchmarks are handed an engine by the command line, or start `python app.py`).
"""

"""Training: the corpus (sources, download, crops, splits), the losses, the three trainers
(autoencoder, structure prior, code corrector) and the export of a run to a checkpoint.

Offline work, run from `python -m artvae`: may use `artvae.ops` (images, measures, refining's
objective) and `artvae.model`; never `artvae.serve`, `artvae.ui` or `artvae.measure`.
"""

"""`python -m artvae.data build|pack`: the corpus commands, kept at their old address.

The corpus code lives in `artvae.train.data`.
"""

"""ArtVAE: a two-level texture VAE and the operations of the art-style playground.

    from artvae import Engine
    engine = Engine()                       # bundled weights, best device
    tile = engine.sample(seed=3, size=(512, 512), tileable=True)
    morph = engine.blend_frames("a.png", "b.png", steps=8)
"""

from .model.autoencoder import ArtVAE
from .model.config import ModelConfig
from .model.hub import BUNDLED_WEIGHTS, WeightsError, load_model
from .ops.images import ImageError, load_image, read_recipe, save_png
from .ops.latent import Code, blend, mix, resize, sample
from .serve.engine import Engine

__all__ = [
    "BUNDLED_WEIGHTS",
    "ArtVAE",
    "Code",
    "Engine",
    "ImageError",
    "ModelConfig",
    "WeightsError",
    "blend",
    "load_image",
    "load_model",
    "mix",
    "read_recipe",
    "resize",
    "sample",
    "save_png",
]

"""The network: the two-level autoencoder, its code corrector and structure prior, their
configuration, weights (folders and the Hugging Face Hub) and the choice of device and dtype.

The bottom layer: it imports nothing else of ArtVAE's. Everything above may use it.
"""

from .autoencoder import ArtVAE, deepened, widened
from .config import ModelConfig
from .hub import BUNDLED_WEIGHTS, WeightsError, load_model

__all__ = ["BUNDLED_WEIGHTS", "ArtVAE", "ModelConfig", "WeightsError", "deepened", "load_model",
           "widened"]

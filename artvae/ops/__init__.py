"""Pure operations on codes and images: the `Code` and its mix, blend and ramps, sampling,
variations and quilting, banded (tiled) decoding, paint and palette maths, refining a code,
image I/O with recipes, and the image measures (PSNR, SSIM, SWD ...) that refining, training
and evaluation share.

Functions of tensors, images and a model: no engine, no threads, no web. May use
`artvae.model` only.
"""

from .latent import Code, blend, mix, resize, sample

__all__ = ["Code", "blend", "mix", "resize", "sample"]

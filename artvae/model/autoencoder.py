"""The ArtVAE network: a two-level variational autoencoder for textures and artwork.

An image becomes a *structure* map `s` (C_s, H/8, W/8), where things are, and a global *style*
vector `w` (D_w,), what they look like. Both have diagonal-Gaussian posteriors. The decoder is
fully convolutional; the style modulates its normalised features at every block (FiLM), and the
style may be given per pixel, so one canvas can ramp from one style to another. Circular padding
(`tileable=True`) makes the decoded image wrap around without a seam. Optional noise inputs
(`ModelConfig.noise_inputs`) add per-pixel grain, scaled by the style, at 1/4 and 1/2 resolution.

Speed shapes the layout: the encoder starts with a pixel-unshuffle (no full-resolution convs), and
the decoder's widest layers run at 1/8 and 1/4 resolution, ending in a pixel-shuffle.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .blocks import Conv, ResBlock, _fit_style
from .config import ModelConfig
from .controls import StyleControls, write_controls
from .corrector import CodeCorrector
from .prior import StructurePrior

DOWNSCALE = 8  # structure map resolution relative to the image
OLD_STATISTICS = ("structure_mean", "structure_std")  # buffers of earlier runs' states
BANK_SIDE = 32  # side of the stored training structure maps (those of 256 px crops)
NOISE_SEED = 8_808  # with the canvas size, seeds the noise inputs' fields when no one else does


class DiagonalGaussian:
    """A diagonal-Gaussian posterior from concatenated (mean, logvar) along `dim`."""

    def __init__(self, params: torch.Tensor, dim: int = 1):
        self.mean, logvar = params.chunk(2, dim=dim)
        self.logvar = logvar.clamp(-20.0, 10.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over all but the batch dimension: (B,)."""
        kl = 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)
        return kl.flatten(1).sum(1)


def normalise_over_space(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Zero mean, unit spread per channel over space: (B, C, h, w) -> same shape."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps)


class Encoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> structure params (B, 2C_s, H/8, W/8), style params (B, 2D_w)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c4, c8 = cfg.enc_channels
        g = cfg.norm_groups
        self.stem = Conv(3 * 16, c4)  # after pixel-unshuffle by 4: (B, 48, H/4, W/4)
        self.blocks4 = nn.ModuleList(ResBlock(c4, g) for _ in range(cfg.enc_blocks[0]))
        self.down = Conv(c4, c8, kernel=3, stride=2)  # -> H/8
        self.blocks8 = nn.ModuleList(ResBlock(c8, g) for _ in range(cfg.enc_blocks[1]))
        self.structure_head = nn.Sequential(
            nn.GroupNorm(g, c8), nn.SiLU(), nn.Conv2d(c8, 2 * cfg.structure_channels, 1)
        )
        self.structure_norm = cfg.structure_norm
        # style: a further stride-2 stage, then mean and std pooling (texture statistics)
        self.style_down = Conv(c8, c8, kernel=3, stride=2)
        self.style_head = nn.Sequential(
            nn.Linear(4 * c8, 2 * c8), nn.SiLU(), nn.Linear(2 * c8, 2 * cfg.style_dim)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.stem(F.pixel_unshuffle(x, 4))
        for block in self.blocks4:
            h = block(h)
        h = self.down(h)
        for block in self.blocks8:
            h = block(h)
        structure = self.structure_head(h)  # (B, 2C_s, H/8, W/8)
        if self.structure_norm:
            mean, logvar = structure.chunk(2, dim=1)
            structure = torch.cat([normalise_over_space(mean), logvar], dim=1)
        g = F.silu(self.style_down(F.silu(h)))  # (B, c8, H/16, W/16)
        # population std: defined even when a small input leaves a single pixel
        stats = [
            h.mean((2, 3)),
            h.std((2, 3), correction=0),
            g.mean((2, 3)),
            g.std((2, 3), correction=0),
        ]
        style = self.style_head(torch.cat(stats, dim=1))  # (B, 2D_w)
        return structure, style


def _noise_strength(style_dim: int, channels: int) -> nn.Conv2d:
    """style -> per-channel strength of a noise input; zero-init: no noise until trained."""
    conv = nn.Conv2d(style_dim, channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _noisy(h: torch.Tensor, strength: nn.Conv2d, style: torch.Tensor,
           noise: torch.Tensor) -> torch.Tensor:
    """h (B, C, H, W) plus noise (1 or B, 1, H, W) scaled per channel (and per pixel, for a
    style map) by the style."""
    return h + strength(_fit_style(style, h)) * noise.to(h.dtype)


class Decoder(nn.Module):
    """structure (B, C_s, h, w) + style (B, D_w) or (B, D_w, h', w') -> image (B, 3, 8h, 8w)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c8, c4, c2 = cfg.dec_channels
        g, d = cfg.norm_groups, cfg.style_dim
        self.stem = Conv(cfg.structure_channels, c8)
        self.blocks8 = nn.ModuleList(ResBlock(c8, g, d) for _ in range(cfg.dec_blocks[0]))
        self.up4 = Conv(c8, c4)
        self.blocks4 = nn.ModuleList(ResBlock(c4, g, d) for _ in range(cfg.dec_blocks[1]))
        self.up2 = Conv(c4, c2)
        self.film2 = nn.Conv2d(d, 2 * c2, 1)  # the style also sets the last stage's colours
        self.out = Conv(c2, 3 * 4)  # -> pixel-shuffle by 2 -> (B, 3, H, W)
        # noise inputs (config.noise_inputs): per-pixel grain after each upsampling conv
        self.noise4 = _noise_strength(d, c4) if cfg.noise_inputs else None
        self.noise2 = _noise_strength(d, c2) if cfg.noise_inputs else None

    def noise_fields(self, structure: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """N(0, 1) fields for the noise inputs of a decode of `structure` (B, C_s, h, w):
        (n, 1, 2h, 2w) at 1/4 and (n, 1, 4h, 4w) at 1/2 resolution. From `generator`: one
        per image (n = B), drawn on the CPU, so a seed gives the same grain on every device.
        Training without one: fresh ones on the structure's device. Otherwise one field for
        the whole batch (n = 1) seeded by the canvas size: an image is a function of its code,
        decoded alone or batched, whole or banded. Per pixel, so a tileable decode wraps."""
        b, _, h, w = structure.shape
        if generator is None and self.training:
            return (torch.randn(b, 1, 2 * h, 2 * w, device=structure.device),
                    torch.randn(b, 1, 4 * h, 4 * w, device=structure.device))
        if generator is None:
            generator, b = torch.Generator().manual_seed(NOISE_SEED + (h << 20) + w), 1
        quarter = torch.randn(b, 1, 2 * h, 2 * w, generator=generator)
        half = torch.randn(b, 1, 4 * h, 4 * w, generator=generator)
        return quarter.to(structure.device), half.to(structure.device)

    def forward(
        self, structure: torch.Tensor, style: torch.Tensor, tileable: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        noise = self.noise_fields(structure, generator) if self.noise4 is not None else None
        h = self.stem(structure, tileable)
        for block in self.blocks8:
            h = block(h, style, tileable)
        h = self.up4(F.interpolate(h, scale_factor=2.0, mode="nearest"), tileable)
        if noise is not None:
            h = _noisy(h, self.noise4, style, noise[0])
        for block in self.blocks4:
            h = block(h, style, tileable)
        h = self.up2(F.interpolate(F.silu(h), scale_factor=2.0, mode="nearest"), tileable)
        if noise is not None:
            h = _noisy(h, self.noise2, style, noise[1])
        scale, shift = self.film2(_fit_style(style, h)).chunk(2, dim=1)
        h = F.silu(h * (1 + scale) + shift)
        return F.pixel_shuffle(self.out(h, tileable), 2)


class ArtVAE(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="artvae",
    tags=["texture", "vae", "art-style"],
    repo_url="https://github.com/artvae/artvae",
    license="gpl-3.0",
):
    """The two-level texture VAE. Images are (B, 3, H, W) in [-1, 1], H and W multiples of 8."""

    def __init__(self, config: ModelConfig | dict | None = None):
        super().__init__()
        if config is None:
            config = ModelConfig()
        elif isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        # principal directions of the training styles, filled in at export (explore sliders)
        k, d = config.style_directions, config.style_dim
        self.register_buffer("style_mean", torch.zeros(d))
        self.register_buffer("style_basis", torch.zeros(k, d))  # rows: unit directions
        self.register_buffer("style_spread", torch.ones(k))  # std of the styles along each row
        # structure maps of training crops, filled in at export: seeded samples share their
        # spectra. Until then, white noise (samples from the N(0, I) prior).
        bank = (config.structure_bank, config.structure_channels, BANK_SIDE, BANK_SIDE)
        self.register_buffer(
            "structure_bank", torch.randn(bank, generator=torch.Generator().manual_seed(0)))
        # trained after the autoencoder, on its frozen codes (`python -m artvae train-prior`)
        self.prior = (StructurePrior(config.structure_channels, config.style_dim,
                                     config.prior_width) if config.prior_width else None)
        # trained after the autoencoder, with it frozen (`python -m artvae train-corrector`)
        self.corrector = CodeCorrector(config) if config.corrector_width else None
        # named style controls, learned with the rest frozen (`python -m artvae controls`):
        # kept in their own file beside the weights, not in the state dict (`hub.load_model`)
        self.style_controls: StyleControls | None = None

    def encode(self, x: torch.Tensor) -> tuple[DiagonalGaussian, DiagonalGaussian]:
        """(B, 3, H, W) -> posteriors of structure (B, C_s, H/8, W/8) and style (B, D_w).
        With a corrector, their means are the corrected codes (`corrected`, applied
        `config.corrector_passes` times)."""
        q_s, q_w = self.guess(x)
        if self.corrector is not None:
            q_s.mean, q_w.mean = self.corrected_passes(x, q_s.mean, q_w.mean)
        return q_s, q_w

    def guess(self, x: torch.Tensor) -> tuple[DiagonalGaussian, DiagonalGaussian]:
        """The encoder's posteriors alone, uncorrected: what training of the autoencoder
        uses, and where the corrector starts."""
        structure, style = self.encoder(x)
        return DiagonalGaussian(structure), DiagonalGaussian(style)

    def corrected(self, x: torch.Tensor, structure: torch.Tensor, style: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes of images `x` moved by the corrector after one look at their decode:
        (structure (B, C_s, h, w), style (B, D_w)) -> the same shapes."""
        decoded = self.decode(structure, style)[..., : x.shape[-2], : x.shape[-1]]
        d_structure, d_style = self.corrector(x, decoded, structure, style)
        structure = structure + d_structure
        if self.config.structure_norm:
            structure = normalise_over_space(structure)
        return structure, style + d_style

    def corrected_passes(self, x: torch.Tensor, structure: torch.Tensor, style: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """`corrected` applied `config.corrector_passes` times, each pass starting from the
        code the last one left (what `encode` does, and what `train-corrector` trains)."""
        for _ in range(self.config.corrector_passes):
            structure, style = self.corrected(x, structure, style)
        return structure, style

    def decode(
        self, structure: torch.Tensor, style: torch.Tensor, tileable: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(structure, style) -> (B, 3, 8h, 8w) in about [-1, 1]; tileable wraps around.
        `generator` draws the noise inputs' grain, where the model has them
        (`Decoder.noise_fields`)."""
        return self.decoder(structure, style, tileable, generator)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> their deterministic (posterior-mean) reconstructions in [0, 1]."""
        q_s, q_w = self.encode(self.to_model_range(images))
        return self.to_image_range(self.decode(q_s.mode(), q_w.mode()))

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian, DiagonalGaussian]:
        """Sampled reconstruction for training: (image, structure posterior, style posterior)."""
        q_s, q_w = self.encode(x)
        return self.decode(q_s.sample(generator), q_w.sample(generator)), q_s, q_w

    def load_trained(self, state: dict[str, torch.Tensor]) -> None:
        """Load the weights of a training state strictly, except the latent statistics: export
        computes those afresh, so a run started before they changed still loads."""
        statistics = {name for name, _ in self.named_buffers() if "." not in name}
        statistics |= set(OLD_STATISTICS)
        weights = {k: v for k, v in state.items() if k not in statistics}
        missing, unexpected = self.load_state_dict(weights, strict=False)
        missing = [k for k in missing if k not in statistics]
        if missing or unexpected:
            raise KeyError(f"weights do not match the model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")

    @staticmethod
    def to_model_range(images: torch.Tensor) -> torch.Tensor:
        """[0, 1] -> [-1, 1]"""
        return images * 2.0 - 1.0

    @staticmethod
    def to_image_range(images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> [0, 1], clamped"""
        return ((images + 1.0) * 0.5).clamp(0.0, 1.0)

    def _save_pretrained(self, save_directory) -> None:
        """As the mixin's (model.safetensors), and the named style controls beside it where
        the model has them (`controls.write_controls`)."""
        super()._save_pretrained(save_directory)
        if self.style_controls is not None:
            write_controls(save_directory, self.style_controls)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> ArtVAE:
        """As the mixin's, but strict: a missing or unexpected weight is an error."""
        kwargs.setdefault("strict", True)
        return super().from_pretrained(*args, **kwargs)


@torch.no_grad()
def widened(model: ArtVAE, channels: int) -> ArtVAE:
    """`model` with a structure map of `channels` (more than its own) that decodes exactly as
    it did: a trained model grown into a wider latent, so a run can start from it instead of
    from scratch. The new map channels are fresh random features of the encoder's last layer
    (with the posterior noise level of the old channels' average) that the decoder's stem
    starts by ignoring (zero weights): its image is unchanged, and training can make use of
    them. The prior belongs to the old latent and is dropped (train it again: `train-prior`);
    the structure bank is refilled at export."""
    old = model.config.structure_channels
    if channels <= old:
        raise ValueError(f"widening needs more than {old} structure channels, got {channels}")
    config = replace(model.config, structure_channels=channels, prior_width=0,
                     corrector_width=0)
    wide = ArtVAE(config)
    own = {k: v for k, v in model.state_dict().items()
           if not k.startswith(("prior.", "corrector.")) and k != "structure_bank"}
    head, stem = "encoder.structure_head.2.", "decoder.stem."
    fresh = wide.state_dict()
    for part in ("weight", "bias"):
        trained, grown = own.pop(head + part), fresh[head + part].clone()
        mean, logvar = trained[:old], trained[old:]
        grown[:old] = mean  # rows: the means of the old channels, the new ones (random init)
        grown[channels:channels + old] = logvar
        grown[channels + old:] = logvar.mean(0, keepdim=True)
        own[head + part] = grown
    grown = torch.zeros_like(fresh[stem + "weight"])  # (c8, channels, 3, 3)
    grown[:, :old] = own.pop(stem + "weight")
    own[stem + "weight"] = grown
    missing, unexpected = wide.load_state_dict(own, strict=False)
    if unexpected or set(missing) != {"structure_bank"}:
        raise KeyError(f"widening did not fit: {missing[:5]} {unexpected[:5]}")
    return wide


@torch.no_grad()
def with_noise_inputs(model: ArtVAE) -> ArtVAE:
    """`model` with the decoder's noise inputs (`ModelConfig.noise_inputs`) at zero strength:
    it decodes exactly as before, and training can turn the grain up. Everything else (a
    prior, a corrector, the latent statistics) carries over: the codes do not change."""
    if model.config.noise_inputs:
        return model
    noisy = ArtVAE(replace(model.config, noise_inputs=True))
    missing, unexpected = noisy.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("decoder.noise4.", "decoder.noise2."))
                         for k in missing):
        raise KeyError(f"noise inputs did not fit: {missing[:5]} {unexpected[:5]}")
    return noisy.train(model.training)


@torch.no_grad()
def deepened(model: ArtVAE, enc_blocks: tuple[int, int]) -> ArtVAE:
    """`model` with more encoder residual blocks at 1/4 and 1/8 resolution (`enc_blocks`, at
    least its own) that encodes exactly as it did: each new block follows the old ones of its
    stage with a zero last convolution, so it starts as the identity and training can grow it.
    The codes are unchanged, so the decoder, the structure bank and a learned prior all carry
    over; the prior needs `train-prior` again once the encoder has moved."""
    old = model.config.enc_blocks
    if any(n < o for n, o in zip(enc_blocks, old, strict=True)) or tuple(enc_blocks) == old:
        raise ValueError(f"deepening needs more encoder blocks than {old}, got {enc_blocks}")
    deep = ArtVAE(replace(model.config, enc_blocks=tuple(enc_blocks)))
    fresh = set()  # the new blocks' weight names
    for stage, n_old in (("blocks4", old[0]), ("blocks8", old[1])):
        for i, block in enumerate(getattr(deep.encoder, stage)[n_old:], start=n_old):
            nn.init.zeros_(block.conv2.weight)
            nn.init.zeros_(block.conv2.bias)
            fresh |= {f"encoder.{stage}.{i}.{name}" for name in block.state_dict()}
    # every old weight lands where it was: the new blocks come after the old of each stage
    missing, unexpected = deep.load_state_dict(model.state_dict(), strict=False)
    if unexpected or set(missing) != fresh:
        raise KeyError(f"deepening did not fit: {sorted(set(missing) ^ fresh)[:5]} "
                       f"{unexpected[:5]}")
    return deep

"""Model hyper-parameters, saved as `config.json` beside the weights and rebuilt from it on load."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ModelConfig:
    structure_channels: int = 8  # C_s of the (C_s, H/8, W/8) layout map; <= 8 keeps mixing sane
    style_dim: int = 64  # D_w of the global style vector: palette, material, grain
    enc_channels: tuple[int, int] = (64, 128)  # encoder widths at 1/4 and 1/8 resolution
    enc_blocks: tuple[int, int] = (1, 2)  # residual blocks at those two resolutions
    dec_channels: tuple[int, int, int] = (128, 64, 32)  # decoder widths at 1/8, 1/4, 1/2
    dec_blocks: tuple[int, int] = (2, 2)  # style-modulated residual blocks at 1/8 and 1/4
    norm_groups: int = 8  # GroupNorm groups; the style then re-scales the normalised features
    style_directions: int = 8  # principal style directions stored with the weights for "explore"
    structure_bank: int = 128  # training structure maps stored with the weights: seeded samples
    # the layout map's posterior mean is normalised per channel over space (zero mean, unit
    # spread), so its global statistics carry no colour or contrast: only the style can
    structure_norm: bool = True
    # width of the learned prior over structure maps (`prior.py`), 0 for none: then seeded
    # samples are random-phase fields of the stored structure bank
    prior_width: int = 0
    # width of the code corrector (`corrector.py`), 0 for none: a learned refining step that
    # sees the decode of the encoder's code and moves the code closer (at 1/4 resolution; twice
    # that at 1/8)
    corrector_width: int = 0
    # times the corrector looks and moves the code (weights shared): each pass decodes the code
    # once more and sees what is still wrong; the corrector is trained for this many passes
    corrector_passes: int = 1
    # per-pixel Gaussian noise added at the decoder's 1/4 and 1/2 resolution stages, each
    # channel scaled by a strength the style sets (StyleGAN's noise inputs): grain that a
    # 1/8-resolution code cannot place. Off in configs saved before it existed; the strengths
    # start at zero, so a model given them decodes as before until training moves them
    noise_inputs: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """Inverse of `to_dict`; JSON turns the tuples into lists. Configs saved before
        `structure_norm` existed describe weights trained without it."""
        values = {"structure_norm": False, **values}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @classmethod
    def tiny(cls) -> ModelConfig:
        """A few channels: for unit tests, seconds on a CPU."""
        return cls(
            structure_channels=4,
            style_dim=8,
            enc_channels=(8, 16),
            enc_blocks=(1, 1),
            dec_channels=(16, 8, 8),
            dec_blocks=(1, 1),
            norm_groups=4,
            style_directions=4,
            structure_bank=2,
        )

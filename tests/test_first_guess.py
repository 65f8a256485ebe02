"""The encoder's first guess at a new upload's code, for showing something while the corrected
code is made (tiny weights whose corrector moves the code)."""

import numpy as np
import pytest
import torch
from PIL import Image

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.serve import playground as pg
from artvae.serve.engine import Engine
from artvae.train.corrector import with_corrector
from tests.conftest import made_up_controls


def corrected_model() -> ArtVAE:
    torch.manual_seed(0)
    model = with_corrector(ArtVAE(ModelConfig.tiny()), 8, seed=0)
    with torch.no_grad():  # a fresh corrector moves nothing: make it move the style
        model.corrector.style_head[-1].weight.normal_(0, 0.5)
    model.style_controls = made_up_controls(model.config.style_dim)
    return model.eval()


@pytest.fixture
def upload(tmp_path) -> dict:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "new.png")
    return {"path": str(tmp_path / "new.png"), "meta": {"_type": "gradio.FileData"}}


def test_the_first_guess_is_the_encoders_code_and_differs_from_the_corrected_one(upload):
    engine = Engine(model=corrected_model(), device="cpu")
    early = pg.first_guess(engine, upload["path"], controls={"brightness": 1.0})
    assert early.recipe["preview"] == "first guess"
    assert early.recipe["controls"] == {"brightness": 1.0}
    settled = pg.encode(engine, upload["path"], controls={"brightness": 1.0})
    assert settled.image.size == early.image.size
    assert np.abs(np.asarray(settled.image, float) - np.asarray(early.image, float)).mean() > 1


def test_weights_without_a_corrector_show_no_first_guess(upload):
    engine = Engine(model=ArtVAE(ModelConfig.tiny()).eval(), device="cpu")
    assert pg.first_guess(engine, upload["path"]) is None

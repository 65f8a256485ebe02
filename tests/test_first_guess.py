"""Progressive display of a new upload: the encoder's first guess shows at once, then the
corrected code's reconstruction replaces it and carries the recipe (tiny weights whose
corrector moves the code)."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.serve import playground as pg
from artvae.serve.engine import Engine
from artvae.train.corrector import with_corrector
from artvae.ui.encode import Encode
from artvae.ui.page import Page
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


def shown(view: str) -> dict:
    return dict(re.findall(r'data-(final|size)="([^"]*)"', view))


def test_a_new_upload_shows_the_first_guess_then_the_result_with_its_recipe(upload):
    tab = Encode(Page(Engine(model=corrected_model(), device="cpu"), {}))
    first, settled = list(tab.encode_upload(upload, False, 512, False))
    assert shown(first[0]) == {"final": "0", "size": "64x64"}
    assert "first guess" in first[0] and first[2] == "*Correcting the code ...*"
    assert shown(settled[0]) == {"final": "1", "size": "64x64"}
    result = settled[1]
    assert result.recipe["op"] == "encode" and "preview" not in result.recipe
    # the same upload again: its code is made, nothing to show first
    assert pg.first_guess(tab.page.engine, upload["path"]) is None
    assert len(list(tab.encode_upload(upload, False, 512, False))) == 1


def test_the_first_guess_is_the_encoders_code_and_differs_from_the_corrected_one(upload):
    engine = Engine(model=corrected_model(), device="cpu")
    early = pg.first_guess(engine, upload["path"], controls={"brightness": 1.0})
    assert early.recipe["preview"] == "first guess" and early.recipe["controls"] == {"brightness": 1.0}
    settled = pg.encode(engine, upload["path"], controls={"brightness": 1.0})
    assert settled.image.size == early.image.size
    assert np.abs(np.asarray(settled.image, float) - np.asarray(early.image, float)).mean() > 1


def test_weights_without_a_corrector_show_no_first_guess(upload):
    engine = Engine(model=ArtVAE(ModelConfig.tiny()).eval(), device="cpu")
    assert pg.first_guess(engine, upload["path"]) is None

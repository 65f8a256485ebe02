"""Progressive results: a slider's release and a new upload show a cheap picture first, then the
settled result in its place, carrying the recipe (a tiny model with a corrector)."""

import gradio as gr
import pytest
import torch
from PIL import Image

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.serve.engine import GUESS_SHRINK, Engine
from artvae.train.corrector import with_corrector
from artvae.ui.blend import Blend
from artvae.ui.encode import Encode
from artvae.ui.page import RELEASE_SHRINK, Page


def tiny_model(corrector: bool = True) -> ArtVAE:
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny())
    if corrector:
        model = with_corrector(model, 8, seed=0)
        for p in model.corrector.parameters():  # as if trained: the heads move the code
            p.data.normal_(0, 0.1)
    return model.eval()


def picture(tmp_path, name: str, seed: int) -> str:
    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()
    path = tmp_path / f"{name}.png"
    Image.fromarray(pixels).save(path)
    return str(path)


def sent(path: str) -> dict:
    """A file as the page sends it."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with gr.Blocks():
        page = Page(Engine(model=tiny_model(), workers=1, precision="float32"), {})
        page.size = gr.Slider(32, 512, value=64)
        page.tileable = gr.Checkbox(value=False)
        encode, blend = Encode(page), Blend(page)
        encode.build()
        blend.build()
    page.tabs = {"encode": encode, "blend": blend}
    return page


def shown(html: str) -> tuple[bool, str]:
    """(whether a view is the settled result, its picture's size)."""
    final = 'data-final="1"' in html
    return final, html.split('data-size="')[1].split('"')[0]


def test_the_encode_after_a_first_guess_starts_from_it_and_makes_the_same_code(tmp_path):
    path = picture(tmp_path, "a", 0)
    plain = Engine(model=tiny_model(), workers=1, precision="float32").encode(path)
    engine = Engine(model=tiny_model(), workers=1, precision="float32")
    guess = engine.first_guess(path)
    assert guess is not None and not torch.allclose(guess.style, plain.style, atol=1e-4)
    code = engine.encode(path)
    assert torch.allclose(code.structure, plain.structure, atol=1e-5)
    assert torch.allclose(code.style, plain.style, atol=1e-5)
    assert engine.first_guess(path) is None  # the code is made: nothing to guess
    assert Engine(model=tiny_model(corrector=False), workers=1).first_guess(path) is None


def test_a_new_upload_shows_the_first_guess_then_the_result_with_its_recipe(page, tmp_path):
    steps = list(page.tabs["encode"].encode_upload(sent(picture(tmp_path, "b", 1)), False,
                                                     None, False))
    assert len(steps) == 2
    (first, *rest), (view, result, psnr, *_) = steps
    assert shown(first) == (False, f"{64 // GUESS_SHRINK}x{64 // GUESS_SHRINK}")
    state, note, structure, style = rest  # the PSNR's place says what is coming
    assert "first guess" in first and "Correcting" in note
    assert all(isinstance(r, dict) for r in (state, structure, style))  # gr.skip()
    assert shown(view) == (True, "64x64") and "PSNR" in psnr
    assert result.recipe["op"] == "encode" and "preview" not in result.recipe
    # the same upload again: its code is kept, the result comes at once, alone
    again = list(page.tabs["encode"].encode_upload(sent(picture(tmp_path, "b", 1)), False,
                                                     None, False))
    assert len(again) == 1 and shown(again[0][0]) == (True, "64x64")


def test_a_release_shows_a_smaller_frame_first_then_the_result_with_its_recipe(page, tmp_path):
    blend = page.tabs["blend"]
    release = blend.released(blend.blend_live, blend.outputs[0])
    values = (sent(picture(tmp_path, "c", 2)), sent(picture(tmp_path, "d", 3)), 0.3, "full",
              "left-right", 64, False)
    steps = list(release(*values))
    assert len(steps) == 2
    (quick, skipped), (view, result) = steps
    side = 64 // RELEASE_SHRINK
    assert shown(quick) == (False, f"{side}x{side}") and isinstance(skipped, dict)
    assert shown(view) == (True, "64x64")
    assert result.recipe["op"] == "blend" and result.recipe["t"] == 0.3
    # released there again: the result is kept, and it comes alone
    again = list(release(*values))
    assert len(again) == 1 and shown(again[0][0]) == (True, "64x64")

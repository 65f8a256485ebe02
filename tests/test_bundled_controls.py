"""The shipped weights' named style controls: stored beside them (learned for exactly these
weights) and each moving its own look on the bundled examples, which are outside the corpus."""

from pathlib import Path

import pytest
import torch

from artvae.model.autoencoder import ArtVAE
from artvae.model.controls import CONTROLS_FILE, STYLE_CONTROLS
from artvae.model.hub import BUNDLED_WEIGHTS, WEIGHTS_FILE, file_sha256, load_model
from artvae.ops.images import image_to_tensor, load_image
from artvae.ops.latent import Code
from artvae.ops.looks import LOOKS, look, mean_frequency
from artvae.ops.restyle import edited, shrunk_back

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REFILL = ("python -m artvae controls --weights checkpoints/artvae-textures "
          "--data data/corpus")
COUPLED = {("warmth", "saturation")}  # warming a greyish texture gives it colour


@pytest.fixture(scope="module")
def model() -> ArtVAE:
    return load_model(None).eval()


@pytest.fixture(scope="module")
def examples(model) -> tuple[Code, torch.Tensor]:
    """The examples' codes and looks (their reconstructions')."""
    images = torch.cat([image_to_tensor(load_image(p))[..., :256, :256]
                        for p in sorted(EXAMPLES.glob("*.png"))])
    with torch.inference_mode():
        q_s, q_w = model.encode(ArtVAE.to_model_range(images))
        code = Code.full_size(q_s.mode(), q_w.mode())
        return code, look(decoded(model, (code, 1)))


def decoded(model: ArtVAE, edit: tuple[Code, int]) -> torch.Tensor:
    code, render = edit
    with torch.inference_mode():
        x = ArtVAE.to_image_range(model.decode(code.structure, code.style))
    return shrunk_back(x, (code.size[0] // render, code.size[1] // render))


def test_the_controls_are_stored_beside_the_weights_they_were_learned_for(model):
    assert (BUNDLED_WEIGHTS / CONTROLS_FILE).stat().st_size < 256 * 2**10
    assert model.style_controls is not None and model.style_controls.names == STYLE_CONTROLS
    made_for = model.style_controls.info["weights_sha256"]
    assert file_sha256(BUNDLED_WEIGHTS / WEIGHTS_FILE).startswith(made_for), (
        f"the bundled weights changed since their style controls were learned: {REFILL}")


@pytest.mark.parametrize("name", STYLE_CONTROLS)
def test_each_control_moves_its_own_look_on_the_examples(model, examples, name):
    """+2 moves the control's look the right way on every example, by more (in spreads
    across the training crops) than it moves any other look but its coupled one."""
    code, base = examples
    spread = torch.tensor([model.style_controls.info["look_spread"][k] for k in LOOKS])
    moved = (look(decoded(model, edited(code, model.style_controls, {name: 2.0}))) - base)
    moved = moved / spread  # (examples, looks) in spreads
    k = LOOKS.index(name)
    assert (moved[:, k] > 0).all(), moved[:, k]
    assert moved[:, k].mean() > 0.8
    for j, other in enumerate(LOOKS):
        if j != k and (name, other) not in COUPLED:
            assert moved[:, j].abs().mean() < 0.5 * moved[:, k].mean(), other


def test_scale_two_draws_the_examples_patterns_bigger(model, examples):
    code, _ = examples
    base = mean_frequency(decoded(model, (code, 1)))
    bigger = mean_frequency(decoded(model, edited(code, None, scale=2.0)))
    assert (base / bigger).median() > 1.5

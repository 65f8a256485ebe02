"""The Engine: caching, sizes, operations and their errors (tiny model, CPU)."""

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.ops.images import ImageError
from artvae.serve.engine import Engine


@pytest.fixture
def engine() -> Engine:
    torch.manual_seed(0)
    return Engine(model=ArtVAE(ModelConfig.tiny()), device="cpu", cache_size=3)


def noise(seed: int, size=(60, 44)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_encoding_is_cached_by_content_not_by_source(engine):
    image = noise(0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    first = engine.encode(image)
    assert engine.encode(buffer.getvalue()) is first  # same pixels, other source type
    assert engine.encode(noise(1)) is not first


def test_a_file_met_before_is_not_decoded_again_unless_it_changed(engine, tmp_path,
                                                                   monkeypatch):
    import os

    import artvae.serve.engine

    loads = []
    real = artvae.serve.engine.load_image
    monkeypatch.setattr(artvae.serve.engine, "load_image",
                        lambda *a, **k: loads.append(a) or real(*a, **k))
    path = tmp_path / "texture.png"
    noise(0).save(path)
    first = engine.encode(str(path))
    assert engine.encode(str(path)) is first and len(loads) == 1
    noise(1).save(path)  # rewritten: another modification time (set apart, whatever the clock)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    second = engine.encode(str(path))
    assert len(loads) == 2 and not torch.equal(second.structure, first.structure)


def test_cache_keeps_only_the_most_recent_encodings(engine):
    first = engine.encode(noise(0))
    for seed in (1, 2, 3):
        engine.encode(noise(seed))
    assert engine.encode(noise(0)) is not first


def test_reconstruct_keeps_any_input_size(engine):
    for size in [(60, 44), (8, 8), (33, 17)]:
        assert engine.reconstruct(noise(0, size)).size == size


def test_operations_return_the_asked_size(engine):
    a, b = noise(0), noise(1, (32, 32))
    assert engine.blend(a, b, 0.5, size=(40, 72)).size == (72, 40)
    assert engine.mix([a, b], [1, 1], structure_from=None, size=(64, 64)).size == (64, 64)
    assert engine.sample(5, size=(24, 40)).size == (40, 24)


def test_blend_frames_start_and_end_at_the_reconstructions(engine):
    a, b = noise(0, (32, 32)), noise(1, (32, 32))
    frames = engine.blend_frames(a, b, steps=4)
    assert len(frames) == 5
    assert np.array_equal(np.asarray(frames[0]), np.asarray(engine.reconstruct(a)))
    assert np.array_equal(np.asarray(frames[-1]), np.asarray(engine.reconstruct(b)))


def test_sample_is_reproducible_from_its_seed(engine):
    one, two = engine.sample(7, size=(32, 32)), engine.sample(7, size=(32, 32))
    assert np.array_equal(np.asarray(one), np.asarray(two))
    assert not np.array_equal(np.asarray(one), np.asarray(engine.sample(8, size=(32, 32))))


def test_bad_requests_raise_clear_errors(engine):
    with pytest.raises(ImageError):
        engine.encode(b"not an image")
    with pytest.raises(ValueError, match="output size"):
        engine.sample(1, size=(100_000, 100_000))
    with pytest.raises(ValueError, match="steps"):
        engine.blend_frames(noise(0), noise(1), steps=10_000)
    with pytest.raises(ValueError, match="structure_from"):
        engine.mix([noise(0)], [1.0], structure_from=3)


@pytest.fixture
def prior_engine() -> Engine:
    from dataclasses import replace

    torch.manual_seed(0)
    model = ArtVAE(replace(ModelConfig.tiny(), prior_width=8))
    with torch.no_grad():  # an untrained prior's last convs are zero: give it some say
        for p in model.prior.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return Engine(model=model, device="cpu")


def test_prior_samples_are_seeded_and_tile_seamlessly(prior_engine):
    one = np.asarray(prior_engine.sample(3, size=(64, 64), tileable=True)).astype(float)
    assert np.array_equal(one, np.asarray(prior_engine.sample(3, size=(64, 64), tileable=True)))
    assert not np.array_equal(one, np.asarray(prior_engine.sample(4, size=(64, 64),
                                                                   tileable=True)))
    seam = np.abs(one[:, 0] - one[:, -1]).mean()  # wrap-around neighbours
    inside = np.abs(one[:, 1:] - one[:, :-1]).mean()  # neighbours inside
    assert seam <= 1.5 * inside


def test_fast_sampling_skips_the_prior(prior_engine):
    """Fast: the prior's network never runs, and the sample is the one weights without a prior
    make from that seed."""
    model = prior_engine.model  # untrained: give it styles to draw from either way
    model.prior.style_bank.normal_(generator=torch.Generator().manual_seed(0))
    model.style_basis.copy_(torch.eye(*model.style_basis.shape))
    runs = []
    model.prior.register_forward_hook(lambda *_: runs.append(1))
    fast = np.asarray(prior_engine.sample(3, size=(64, 64), fast=True))
    assert runs == []
    with_prior = np.asarray(prior_engine.sample(3, size=(64, 64)))
    assert runs  # the hook does see the prior when it is used
    model.prior = None
    assert np.array_equal(fast, np.asarray(prior_engine.sample(3, size=(64, 64))))
    assert not np.array_equal(fast, with_prior)


def test_variations_and_expand_keep_sizes_and_seeds(prior_engine):
    image = noise(0, (64, 48))
    first = prior_engine.variations(image, seed=1)
    assert first.size == (64, 48)
    assert np.array_equal(np.asarray(first), np.asarray(prior_engine.variations(image, seed=1)))
    assert not np.array_equal(np.asarray(first), np.asarray(prior_engine.variations(image, 2)))
    assert prior_engine.expand(image, size=(128, 192)).size == (192, 128)
    with pytest.raises(ValueError, match="strength"):
        prior_engine.variations(image, seed=1, strength=1.5)


def test_larger_canvas_is_quilted_not_a_mirrored_or_tiled_repeat(prior_engine, engine):
    from artvae.ops.generate import expanded

    for eng in (engine, prior_engine):
        code = eng.encode(noise(0, (64, 64)))  # an 8 x 8 structure map
        big = expanded(eng.model, code, (64, 128)).structure  # (1, C, 8, 16)
        assert big.shape[-2:] == (8, 16)
        assert not torch.allclose(big[..., 8:], big[..., :8].flip(-1), atol=0.1)
        assert not torch.allclose(big[..., 8:], big[..., :8], atol=0.1)
        assert torch.equal(big, expanded(eng.model, code, (64, 128)).structure)  # seeded
        assert not torch.equal(big, expanded(eng.model, code, (64, 128), seed=1).structure)


def test_codes_on_larger_canvases_are_cached_per_image_and_size(prior_engine):
    image = noise(0, (32, 32))
    big = prior_engine.code_at(image, (64, 64))
    assert prior_engine.code_at(image, (64, 64)) is big  # a blend slider only decodes
    assert big.structure.shape[-2:] == (8, 8)
    assert prior_engine.code_at(image, None) is prior_engine.encode(image)


def test_engine_runs_every_operation_under_cpu_bf16_autocast():
    """The reduced-precision path (bf16 autocast, as on CUDA) on the CPU: dtype mistakes fail
    here, and the images stay close to float32's."""
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny())
    half = Engine(model=model, device="cpu", precision="bfloat16")
    full = Engine(model=model, device="cpu", precision="float32")
    assert (half.dtype, half.precision, full.dtype) == (torch.bfloat16, "bfloat16", None)
    a, b = noise(0, (40, 32)), noise(1, (32, 32))
    for run in (lambda e: e.reconstruct(a, tileable=True),
                lambda e: e.blend(a, b, 0.4, mode="spatial", size=(40, 32)),
                lambda e: e.mix([a, b], [1, 2], structure_from=None, size=(24, 32)),
                lambda e: e.sample(3, size=(32, 32), tileable=True)):
        low, high = (np.asarray(run(e), dtype=np.float64) for e in (half, full))
        assert low.shape == high.shape
        assert np.abs(low - high).mean() < 4  # levels of 255
    # larger canvases quilt the layout: a choice between blocks, which a rounding difference
    # may tip, so only that they run (and what they return) is compared
    for run in (lambda e: e.blend(a, b, 0.4, mode="spatial", size=(48, 40)),
                lambda e: e.mix([a, b], [1, 2], structure_from=None, size=(24, 64)),
                lambda e: e.expand(b, size=(64, 64))):
        low, high = (np.asarray(run(e)) for e in (half, full))
        assert low.shape == high.shape and low.dtype == high.dtype == np.uint8


def test_cpu_precision_is_float32_unless_bf16_is_native(monkeypatch):
    from artvae.model import device

    monkeypatch.delenv("ARTVAE_PRECISION", raising=False)
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert device.autocast_dtype(cpu) is None
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert device.autocast_dtype(cpu) == torch.bfloat16
    assert device.autocast_dtype(cpu, "float32") is None
    monkeypatch.setenv("ARTVAE_PRECISION", "float32")
    assert device.autocast_dtype(cpu) is None
    with pytest.raises(ValueError, match="precision"):
        device.autocast_dtype(cpu, "fp8")


def test_refined_codes_reconstruct_closer_and_stay_normalised(engine):
    from artvae.model.autoencoder import ArtVAE
    from artvae.ops.refine import refine, refine_loss

    image = noise(3, size=(32, 32))
    x = ArtVAE.to_model_range(torch.from_numpy(np.array(image)).permute(2, 0, 1)[None] / 255.0)
    model = engine.model
    losses = []
    for steps in (0, 30):
        structure, style = refine(model, x, steps)
        with torch.no_grad():
            losses.append(refine_loss(model.decode(structure, style), x).item())
        assert torch.allclose(structure.mean((2, 3)), torch.zeros(1), atol=1e-4)
    assert losses[1] < losses[0] - 1e-3  # the steps do something
    assert all(p.grad is None for p in model.parameters())  # only the codes were trained
    out = engine.reconstruct(image, refine_steps=5)
    assert out.size == image.size
    with pytest.raises(ValueError, match="refine steps"):
        engine.reconstruct(image, refine_steps=-1)


def test_refine_uploads_refines_each_new_small_image_once():
    from artvae.ops.refine import refine_loss

    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny())
    plain = Engine(model=model, device="cpu")
    refining = Engine(model=model, device="cpu", refine_uploads=5)
    image = noise(4, size=(32, 32))
    x = ArtVAE.to_model_range(torch.from_numpy(np.array(image)).permute(2, 0, 1)[None] / 255.0)

    def loss(code):
        with torch.no_grad():
            return refine_loss(model.decode(code.structure, code.style), x).item()

    assert loss(refining.encode(image)) < loss(plain.encode(image)) - 1e-3
    assert refining.encode(image) is refining.encode(image)  # refined once, then cached
    from artvae.serve import playground as pg

    encoded = pg.encode(refining, image)  # the Encode tab: its recipe says the code is refined
    assert encoded.recipe["refine"] == 5
    assert pg.encode(refining, image, refine=5).extras == encoded.extras  # the cached code
    big = noise(5, size=(520, 512))  # over REFINE_UPLOAD_PIXELS: the encoder's code
    assert torch.equal(refining.encode(big).structure, plain.encode(big).structure)
    with pytest.raises(ValueError, match="up to 1024x1024"):
        plain.refined(noise(6, size=(1100, 1000)), 1)
    with pytest.raises(ValueError, match="refine_uploads"):
        Engine(model=model, device="cpu", refine_uploads=-1)


def test_an_input_written_again_with_the_same_bytes_is_not_decoded_again(tmp_path, monkeypatch):
    from artvae.serve import playground

    path = tmp_path / "in.png"
    Image.new("RGB", (40, 40), (10, 200, 30)).save(path)
    decodes = []
    real = playground.load_image
    monkeypatch.setattr(playground, "load_image",
                        lambda *a, **k: decodes.append(1) or real(*a, **k))
    _, digest = playground.loaded(str(path))
    path.write_bytes(path.read_bytes())  # as a client re-sending it: a new file, same bytes
    os.utime(path, ns=(1, 1))  # a new time, whatever the clock's resolution
    assert playground.loaded(str(path))[1] == digest and len(decodes) == 1
    Image.new("RGB", (40, 40), (200, 10, 30)).save(path)  # other bytes: read anew
    assert playground.loaded(str(path))[1] != digest and len(decodes) == 2

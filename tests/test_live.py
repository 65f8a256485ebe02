"""The page's live results (`artvae.serve.live`): previews made once per settings, and the pace that
picks how small a moving slider's frames are; and the latent and sampling pieces they use."""

import sys
import threading
import time

import pytest
import torch
from PIL import Image

from artvae.ops import latent
from artvae.serve.engine import Engine
from artvae.serve.live import FRAME_BUDGET_S, Renders, jpeg_url, view
from artvae.serve.playground import Result


def result(side: int = 16, **settings) -> Result:
    return Result(Image.new("RGB", (side, side), (200, 60, 30)),
                  {"op": "blend", "inputs": ["abc"], "weights": "w", **settings})


def blocked(thread: threading.Thread) -> bool:
    """Whether `thread` is parked in a wait (an Event's, a Condition's, a Future's)."""
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code.co_name == "wait"


def test_renders_make_each_settings_once_even_when_asked_at_the_same_time():
    renders, calls, gate = Renders(), [], threading.Event()

    def make():
        calls.append(1)
        gate.wait(30)
        return result()

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(renders.get("k", make)))
               for _ in range(3)]
    for th in threads:
        th.start()
    try:
        # every caller is inside `get` while the first one's run is still in flight: one in
        # `make`, the others waiting for that run (or, were it not joined, in `make` of their own)
        deadline = time.monotonic() + 30
        while not all(blocked(th) for th in threads) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert all(blocked(th) for th in threads), "the callers did not all wait"
        assert len(calls) == 1, f"{len(calls)} runs for one settings in flight"
    finally:
        gate.set()
        for th in threads:
            th.join()
    assert len(calls) == 1 and len({id(a[0]) for a in answers}) == 1
    assert renders.get("k", lambda: pytest.fail("made again"))[0] is answers[0][0]


def test_an_error_reaches_the_caller_and_the_settings_can_be_tried_again():
    renders = Renders()
    with pytest.raises(ValueError, match="no"):
        renders.get("k", lambda: (_ for _ in ()).throw(ValueError("no")))
    assert renders.get("k", result)[0].image.size == (16, 16)


def test_renders_forget_the_oldest_beyond_their_pixel_budget():
    renders = Renders(max_pixels=2 * 16 * 16)
    for key in "abc":
        renders.get(key, result)
    renders.get("c", lambda: pytest.fail("the newest was forgotten"))
    made = []
    renders.get("a", lambda: made.append(1) or result())
    assert made == [1]


def test_a_slow_pace_makes_moving_frames_smaller():
    renders = Renders()
    assert renders.shrink_for(512 * 512) == 1  # nothing measured yet
    renders._seconds_per_pixel = 4 * FRAME_BUDGET_S / (512 * 512)  # 4x over budget at 512
    assert renders.shrink_for(512 * 512) == 2 and renders.shrink_for(256 * 256) == 1


def test_only_results_of_256_px_or_more_set_the_pace():
    renders = Renders()
    renders.get("small", lambda: time.sleep(0.05) or result())  # 16x16 px: fixed costs only
    assert renders.shrink_for(512 * 512) == 1
    big = Result(Image.new("RGB", (256, 256)), {})
    renders.get("big", lambda: time.sleep(0.05) or big)
    assert renders.shrink_for(512 * 512) > 1  # 50 ms at 256 px: 200 ms at 512 px, over budget


def test_view_shows_the_jpeg_and_its_tiles_with_the_settings():
    r = result(t=0.25)
    url = jpeg_url(r.image)
    html = view(r, url, final=True)
    assert url.startswith("data:image/jpeg;base64,") and html.count(url) == 2
    assert 'data-final="1"' in html and "&quot;t&quot;: 0.25" in html
    assert "abc" not in html  # the inputs' digests stay out of the page
    assert 'data-final="0"' in view(r, url, final=False, tiles=False)


def test_shrink_keeps_the_layout_spread_and_divides_the_size():
    g = torch.Generator().manual_seed(0)
    code = latent.Code(torch.randn(1, 4, 8, 6, generator=g) * 3 + 1, torch.zeros(1, 5), (64, 44))
    small = latent.shrink(code, 2)
    assert small.structure.shape == (1, 4, 4, 3) and small.size == (32, 22)
    assert torch.allclose(small.structure.std(dim=(-2, -1)), code.structure.std(dim=(-2, -1)))
    assert latent.shrink(code, 1) is code


def test_sample_offsets_move_the_style_and_keep_the_layout(tiny_weights):
    from artvae.ops import generate

    model = Engine(str(tiny_weights), "cpu").model
    k, d = model.style_basis.shape  # untrained weights: give them directions to move along
    model.style_basis.copy_(torch.eye(k, d))
    model.style_spread.fill_(1.0)
    plain = generate.sample_code(model, 5, (32, 32))
    nudged = generate.sample_code(model, 5, (32, 32), offsets=[1.0, -0.5])
    assert torch.equal(plain.structure, nudged.structure)
    assert not torch.allclose(plain.style, nudged.style)
    zero = generate.sample_code(model, 5, (32, 32), offsets=[0.0, 0.0])
    assert torch.allclose(plain.style, zero.style)

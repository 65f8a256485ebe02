"""The app as people run it: `python app.py` on a free loopback port, driven over HTTP with
gradio_client. Every input is made here, in tmp_path; the weights are a tiny random model, except
in the one test that needs the bundled checkpoint."""

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import BUNDLED, ROOT, free_port, running_app
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from artvae.ops.images import image_digest, image_to_tensor, load_image, read_recipe
from artvae.ops.metrics import psnr
from artvae.serve import playground as pg
from artvae.serve.engine import Engine
from artvae.serve.files import export_morph
from artvae.serve.playground import morph
from artvae.serve.restore import restore_settings, restored_controls

BRICKS, WOOD = ROOT / "examples" / "bricks.png", ROOT / "examples" / "wood.png"


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def smooth(size=(64, 48), mode="RGB") -> Image.Image:
    """A gradient: compresses well and shows any rotation."""
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8)).convert(mode)


def png_declaring(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose IHDR is patched to declare width x height (CRC fixed up)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def flat_colour_psnr(path) -> float:
    """PSNR of an image's mean colour against the image: what a model that learnt nothing
    but the palette would score."""
    x = image_to_tensor(load_image(path))
    return float(psnr(x.mean((2, 3), keepdim=True).expand_as(x), x)[0])


@pytest.fixture(scope="module")
def engine(tiny_weights) -> Engine:
    """The app's weights in this process: what the app should make, made here."""
    return Engine(str(tiny_weights), "cpu")


def made_here(result: pg.Result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def same_picture(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal but for rounding: the app and this process may order their sums differently."""
    return a.shape == b.shape and np.abs(a - b).max() <= 2


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    """Another picture: more than rounding apart (a mean of ~0.05 levels) on average."""
    return a.shape != b.shape or np.abs(a - b).mean() > 0.5


def still_serving(client: Client) -> None:
    image, recipe = client.predict(0, size=64, api_name="/sample")
    assert Image.open(image).size == (64, 64) and recipe["seed"] == 0


# ---- every endpoint ----------------------------------------------------------------------------

def test_encode_returns_reconstruction_psnr_structure_and_style(client):
    image, psnr, structure, style, recipe = client.predict(handle_file(BRICKS),
                                                           api_name="/encode")
    assert Image.open(image).size == Image.open(structure).size == (256, 256)
    assert isinstance(psnr, float) and psnr > 0
    assert len(style) == 8  # the tiny config's style_dim
    assert recipe["op"] == "encode" and recipe["weights"].startswith("tiny#")


def test_blend_at_t0_is_a_reconstruction_of_a(client):
    frame, _ = client.predict(handle_file(BRICKS), handle_file(WOOD), 0.0, api_name="/blend")
    reconstruction = client.predict(handle_file(BRICKS), api_name="/encode")[0]
    assert np.abs(pixels(frame) - pixels(reconstruction)).max() <= 1


@pytest.mark.parametrize("mode,ramp", [("full", "left-right"), ("style", "left-right"),
                                       ("spatial", "radial")])
def test_blend_makes_what_its_mode_ramp_size_and_tileable_ask_for(client, engine, mode, ramp):
    frame, recipe = client.predict(handle_file(BRICKS), handle_file(WOOD), 0.5, mode=mode,
                                   ramp=ramp, size=128, tileable=True, api_name="/blend")
    asked = dict(mode=mode, ramp=ramp, size=128, tileable=True)
    assert (recipe["mode"], recipe["ramp"], recipe["tileable"]) == (mode, ramp, True)

    def blend(**changed) -> np.ndarray:
        return made_here(pg.blend(engine, BRICKS, WOOD, 0.5, **(asked | changed)))

    made = pixels(frame)
    assert made.shape == (128, 128, 3) and same_picture(made, blend())
    # and each setting shows: the same blend with any one of them changed is another picture
    changes = [{"mode": m} for m in pg.BLEND_MODES if m != mode] + [{"tileable": False}]
    if mode == "spatial":
        changes.append({"ramp": "left-right"})
    assert [c for c in changes if not differs(made, blend(**c))] == []


def test_mix_with_one_hot_weights_reproduces_that_input(client):
    mixed, recipe = client.predict([handle_file(BRICKS), handle_file(WOOD)], [0, 1],
                                   structure_from=1, api_name="/mix")
    reconstruction = client.predict(handle_file(WOOD), api_name="/encode")[0]
    assert np.abs(pixels(mixed) - pixels(reconstruction)).max() <= 1
    assert recipe["mix_weights"] == [0, 1] and recipe["structure_from"] == 1


def test_mix_can_blend_all_layouts_at_any_size(client, engine):
    mixed, recipe = client.predict([handle_file(BRICKS), handle_file(WOOD), handle_file(BRICKS)],
                                   [1, 2, 1], structure_from=None, size=96, api_name="/mix")
    assert recipe["structure_from"] is None

    def mix(structure_from) -> np.ndarray:
        return made_here(pg.mix(engine, [BRICKS, WOOD, BRICKS], [1, 2, 1], structure_from, 96))

    made = pixels(mixed)
    assert made.shape == (96, 96, 3) and same_picture(made, mix(None))
    assert differs(made, mix(0)) and differs(made, mix(1))  # not any one input's layout


def test_sample_is_reproducible_from_its_seed(client):
    first, _ = client.predict(7, size=64, api_name="/sample")
    again, _ = client.predict(7, size=64, api_name="/sample")
    other, _ = client.predict(8, size=64, api_name="/sample")
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_sample_takes_style_coordinates(client, engine):
    image, recipe = client.predict(3, size=64, coords=[1.0, -0.5], tileable=True,
                                   api_name="/sample")
    assert recipe["coords"] == [1.0, -0.5]

    def sample(coords, tileable=True) -> np.ndarray:
        return made_here(pg.sample(engine, 3, 64, tileable, coords=coords))

    made = pixels(image)
    assert made.shape == (64, 64, 3) and same_picture(made, sample([1.0, -0.5]))
    assert differs(made, sample(None)) and differs(made, sample([-1.0, 0.5]))
    assert differs(made, sample([1.0, -0.5], tileable=False))


def test_sample_offsets_are_in_the_recipe_and_restore_to_the_sliders(client):
    image, recipe = client.predict(3, size=64, offsets=[0.5, -1.0], api_name="/sample")
    assert Image.open(image).size == (64, 64) and recipe["offsets"] == [0.5, -1.0]
    controls = restored_controls(restore_settings(read_recipe(image), {}), "w", slots=4,
                                 directions=3)
    assert controls["tab"] == "explore" and controls["seed"] == 3
    assert controls["coords"] == [0.5, -1.0, 0.0]


def test_concurrent_callers_are_all_answered(app_url):
    def call(i: int) -> dict:
        client = Client(app_url, verbose=False)
        frame, recipe = client.predict(handle_file(BRICKS), handle_file(WOOD), i / 5, size=64,
                                       api_name="/blend")
        assert Image.open(frame).size == (64, 64)
        return recipe

    with ThreadPoolExecutor(6) as pool:
        recipes = list(pool.map(call, range(6)))
    assert [r["t"] for r in recipes] == [i / 5 for i in range(6)]


def test_blend_over_plain_http_as_the_bench_measures_it(app_url, monkeypatch):
    """The bench times what it says: blends at fresh t, each answered with its PNG, over HTTP
    and through gradio_client, two calls each to warm up and then `repeats` timed."""
    import time

    from artvae.measure import bench

    made, predicted = [], []
    call_over_http, predict = bench.call_over_http, Client.predict

    def counted_call(http, api, data, session=None):
        png = call_over_http(http, api, data, session)
        made.append((api, data[2], Image.open(io.BytesIO(png)).size))
        return png

    def counted_predict(client, *args, **kwargs):
        predicted.append((kwargs["api_name"], args[2]))
        return predict(client, *args, **kwargs)

    monkeypatch.setattr(bench, "call_over_http", counted_call)
    monkeypatch.setattr(Client, "predict", counted_predict)
    start = time.perf_counter()
    result = bench.bench_http(app_url, str(BRICKS), str(WOOD), repeats=2)
    wall_ms = (time.perf_counter() - start) * 1000
    assert made == [("blend", t, (256, 256)) for t in (0.0, 0.1, 0.2, 0.3)]
    assert predicted == [("/blend", t) for t in (0.0, 0.1, 0.2, 0.3)]
    http_ms, client_ms = result["blend_http_ms_median"], result["blend_gradio_client_ms_median"]
    assert 0 < http_ms <= result["blend_http_ms_max"] and 2 * (http_ms + client_ms) < wall_ms


# ---- recipes -----------------------------------------------------------------------------------

def test_downloaded_png_carries_its_recipe(client):
    frame, _ = client.predict(handle_file(BRICKS), handle_file(WOOD), 0.25, mode="style",
                              size=128, tileable=True, api_name="/blend")
    recipe = read_recipe(frame)
    digests = [image_digest(load_image(p)) for p in (BRICKS, WOOD)]
    assert recipe["op"] == "blend" and recipe["inputs"] == digests
    assert (recipe["t"], recipe["mode"], recipe["size"], recipe["tileable"]) == (
        0.25, "style", 128, True)
    assert recipe["weights"].startswith("tiny#")


def test_sample_recipe_restores_settings_that_remake_the_texture(client):
    image, _ = client.predict(11, size=64, temperature=0.7, coords=[0.5], api_name="/sample")
    settings = restore_settings(read_recipe(image), {})
    assert (settings["op"], settings["seed"], settings["temperature"]) == ("sample", 11, 0.7)
    again, _ = client.predict(settings["seed"], size=settings["size"],
                              temperature=settings["temperature"], coords=settings["coords"],
                              api_name="/sample")
    assert np.array_equal(pixels(image), pixels(again))


def test_variations_and_expand_endpoints(client):
    first, recipe = client.predict(handle_file(WOOD), seed=3, strength=0.5, size=64,
                                   api_name="/variations")
    again, _ = client.predict(handle_file(WOOD), seed=3, strength=0.5, size=64,
                              api_name="/variations")
    assert Image.open(first).size == (64, 64) and recipe["op"] == "variations"
    assert np.array_equal(pixels(first), pixels(again))  # seeded
    big, recipe = client.predict(handle_file(WOOD), size=96, api_name="/expand")
    assert Image.open(big).size == (96, 96) and recipe["tileable"] is True
    with pytest.raises(AppError, match="strength"):
        client.predict(handle_file(WOOD), strength=3, api_name="/variations")
    still_serving(client)


def test_restore_finds_example_inputs_by_digest(client):
    mixed, _ = client.predict([handle_file(WOOD)], [1], size=64, api_name="/mix")
    known = {image_digest(load_image(WOOD)): str(WOOD)}
    settings = restore_settings(read_recipe(mixed), known)
    assert settings["images"] == [str(WOOD)] and settings["mix_weights"] == [1]


# ---- bad input: a clear message, and the server keeps answering --------------------------------

def write_bytes(data: bytes):
    return lambda path: path.write_bytes(data)


def saved(image: Image.Image, **params):
    return lambda path: image.save(path, **params)


UNREADABLE = {
    "empty.png": (write_bytes(b""), "empty"),
    "truncated.png": (lambda p: p.write_bytes(png_bytes(noise_image())[:2000]),
                      "truncated or corrupt"),
    "notes.png": (write_bytes(b"these are not pixels\n"), "not an image we can read"),
    "notes.txt": (write_bytes(b"neither are these\n"), "not an image we can read"),
    "bomb.png": (write_bytes(png_declaring(30_000, 30_000)), "900 MP, more than"),
    "speck.png": (saved(smooth((4, 4))), "at least 8x8"),
}


def noise_image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_images_get_a_clear_error(client, tmp_path, name):
    make, message = UNREADABLE[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(path), api_name="/encode")
    still_serving(client)


def animated_gif(path):
    frames = [smooth().rotate(90 * i) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated_jpeg(path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    smooth((64, 32)).save(path, exif=exif, quality=95)


def sixteen_bit_png(path):
    ramp = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    image.save(path)


UNUSUAL = {  # name -> (writer, the (W, H) the reconstruction must have)
    "sixteen-bit.png": (sixteen_bit_png, (64, 48)),
    "cmyk.jpg": (saved(smooth(mode="CMYK")), (64, 48)),
    "palette.png": (saved(smooth().quantize(16)), (64, 48)),
    "grey.png": (saved(smooth(mode="L")), (64, 48)),
    "alpha.png": (saved(smooth(mode="RGBA")), (64, 48)),
    "animated.gif": (animated_gif, (64, 48)),
    "rotated.jpg": (exif_rotated_jpeg, (32, 64)),  # stored 64x32, shown upright
    "tiny.png": (saved(smooth((8, 8))), (8, 8)),
}


@pytest.mark.parametrize("name", list(UNUSUAL))
def test_unusual_images_are_read_upright_as_rgb(client, tmp_path, name):
    make, size = UNUSUAL[name]
    path = tmp_path / name
    make(path)
    image, psnr, *_ = client.predict(handle_file(path), api_name="/encode")
    assert Image.open(image).size == size and psnr > 0
    still_serving(client)


def test_huge_image_is_downscaled_not_refused(client, tmp_path):
    path = tmp_path / "huge.png"
    smooth((3000, 3000)).save(path)
    mixed, recipe = client.predict([handle_file(path)], [1], size=128, api_name="/mix")
    assert Image.open(mixed).size == (128, 128) and len(recipe["inputs"]) == 1
    still_serving(client)


FILE = {"path": str(BRICKS), "meta": {"_type": "gradio.FileData"}}  # uploaded by the client
WRONG_TYPES = {
    "encode: no image": ("/encode", [None], {}, "no image given"),
    "encode: a number": ("/encode", [3], {}, "must be an image file"),
    "encode: a server path": ("/encode", ["/etc/hostname"], {}, "must be an image file"),
    "encode: a path without meta": ("/encode", [{"path": "/etc/hostname"}], {},
                                    "must be an image file"),
    "blend: t is text": ("/blend", [FILE, FILE, "abc"], {}, "t must be a number"),
    "blend: t out of range": ("/blend", [FILE, FILE, 1.5], {}, "t must be a number from 0 to 1"),
    "blend: no t": ("/blend", [FILE, FILE, None], {}, "t must be a number"),
    "blend: unknown mode": ("/blend", [FILE, FILE, 0.5], {"mode": "sideways"}, "mode must be"),
    "blend: size too big": ("/blend", [FILE, FILE, 0.5], {"size": 99999}, "size must be"),
    "mix: too few weights": ("/mix", [[FILE, FILE], [1]], {}, "one weight per image"),
    "mix: too many weights": ("/mix", [[FILE], [1, 2]], {}, "one weight per image"),
    "mix: one image, not a list": ("/mix", [FILE, [1]], {}, "images must be a list"),
    "mix: no images": ("/mix", [[], []], {}, "1 to 8 images"),
    "mix: text weights": ("/mix", [[FILE], ["heavy"]], {}, r"weights\[0\] must be a number"),
    "mix: zero weights": ("/mix", [[FILE, FILE], [0, 0]], {}, "not all zero"),
    "mix: negative weights": ("/mix", [[FILE, FILE], [1, -1]], {}, ">= 0"),
    "mix: layout out of range": ("/mix", [[FILE], [1]], {"structure_from": 5},
                                 "structure_from must be"),
    "sample: text seed": ("/sample", ["x"], {}, "seed must be"),
    "sample: negative seed": ("/sample", [-1], {}, "seed must be"),
    "sample: tileable is text": ("/sample", [1], {"tileable": "yes"}, "true or false"),
    "sample: too many coords": ("/sample", [1], {"coords": [0] * 9}, "style directions"),
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_types_sent_to_the_api_get_a_clear_error(client, case):
    api_name, args, kwargs, message = WRONG_TYPES[case]
    args = [handle_file(BRICKS) if a is FILE else a for a in args]
    args = [[handle_file(BRICKS) if x is FILE else x for x in a] if isinstance(a, list) else a
            for a in args]
    with pytest.raises(AppError, match=message):
        client.predict(*args, **kwargs, api_name=api_name)
    still_serving(client)


def test_a_server_file_smuggled_in_as_an_upload_is_refused(app_url):
    """Only files uploaded to the app are read: a raw request naming a file on the server (an
    image, so the loader would take it) gets an error, not its pixels, where the same request
    naming an upload of that file is answered. (Gradio refuses the path before our code runs,
    and tells the caller no more than that an error happened.)"""
    import httpx

    def answer(api: str, data: list) -> str:
        event = httpx.post(f"{app_url}/gradio_api/call/{api}", json={"data": data}).json()
        return httpx.get(f"{app_url}/gradio_api/call/{api}/{event['event_id']}",
                         timeout=30).text

    with BRICKS.open("rb") as f:
        upload = httpx.post(f"{app_url}/gradio_api/upload", files={"files": f}).json()[0]
    for path, event in ((upload, "event: complete"), (str(BRICKS), "event: error")):
        image = {"path": path, "meta": {"_type": "gradio.FileData"}}
        for api, data in (("encode", [image, False, None]),  # every parameter, as curl sends
                          ("mix", [[image], [1], 0, None, False, None])):
            text = answer(api, data)
            assert text.startswith(event), (path, text)
            assert ("artvae-" in text) == (event == "event: complete")  # a result's PNG


# ---- start-up --------------------------------------------------------------------------------

def test_missing_weights_stop_start_up_with_a_message(tmp_path):
    """`python app.py` exits with the message, before building a page (its main, run here:
    a SystemExit with a message is what Python prints to stderr and exits 1 with)."""
    import app

    with pytest.raises(SystemExit, match=r"^error: No weights found"):
        app.main(["--weights", str(tmp_path / "nowhere")])


@pytest.mark.skipif(not BUNDLED.exists(), reason=f"the trained checkpoint is not bundled yet "
                                                 f"({BUNDLED.relative_to(ROOT)} is missing)")
def test_bundled_checkpoint_end_to_end_behind_the_env_port_and_a_login(tmp_path):
    """The app as people start it, on the bundled weights, with the port from the environment
    and a login (one start-up for both: each costs seconds)."""
    import httpx

    port = free_port()
    with running_app(tmp_path, "--auth", "ada:lovelace",
                     env={"GRADIO_SERVER_PORT": str(port)}) as (_, url):
        assert url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/config").status_code == 401  # what a client reads first
        call = httpx.post(f"{url}/gradio_api/call/sample", json={"data": [0]})
        assert call.status_code == 401  # the API itself, not just the page
        wrong = httpx.post(f"{url}/login", data={"username": "ada", "password": "babbage"})
        assert wrong.status_code == 400 and not wrong.cookies  # Gradio's no to a wrong password
        client = Client(url, auth=("ada", "lovelace"), verbose=False)
        image, psnr, *_, recipe = client.predict(handle_file(BRICKS), api_name="/encode")
        assert recipe["weights"].startswith("artvae-textures#")
        assert psnr > flat_colour_psnr(BRICKS) + 1.0  # trained: beats its own mean colour
        frame, _ = client.predict(handle_file(BRICKS), handle_file(WOOD), 0.5, size=256,
                                  api_name="/blend")
        mixed, _ = client.predict([handle_file(BRICKS), handle_file(WOOD)], [1, 1],
                                  api_name="/mix")
        sample, _ = client.predict(1, size=256, tileable=True, api_name="/sample")
        for path in (image, frame, mixed, sample):
            assert Image.open(path).size == (256, 256)


# ---- morph exports (what the Blend tab's export button writes) --------------------------------

def test_morph_exports_gif_mp4_and_a_zip_of_frames_with_recipes(tmp_path):
    import zipfile

    av = pytest.importorskip("av", reason="MP4 export needs PyAV (Python >= 3.11)")
    frames = [smooth((64, 48)).point(lambda v, i=i: (v + 40 * i) % 256) for i in range(4)]
    files = export_morph(frames, {"op": "morph", "steps": 3}, tmp_path, fps=12,
                         there_and_back=True)
    gif, mp4, frames_zip = files
    assert Image.open(gif).n_frames == 6  # 0 1 2 3 2 1
    with av.open(str(mp4)) as video:
        decoded = list(video.decode(video=0))
    assert len(decoded) == 6 and (decoded[0].width, decoded[0].height) == (64, 48)
    with zipfile.ZipFile(frames_zip) as archive:
        assert archive.namelist() == ["000.png", "001.png", "002.png", "003.png"]
        recipe = read_recipe(archive.read("002.png"))
    assert recipe["frame"] == 2 and recipe["t"] == pytest.approx(2 / 3)


def test_morph_refuses_more_work_than_one_request_may_ask():
    with pytest.raises(ValueError, match="fewer steps or a smaller size"):
        morph(None, BRICKS, WOOD, steps=60, size=2048)

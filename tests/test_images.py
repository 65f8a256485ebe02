"""The image loader and saver: every input is made here, in memory or in tmp_path."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from PIL.PngImagePlugin import PngInfo

from artvae.ops.images import (
    MAX_DECLARED_PIXELS,
    RECIPE_KEY,
    ImageError,
    image_digest,
    image_to_tensor,
    load_image,
    read_recipe,
    save_png,
    tensor_to_image,
)


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def noise(size=(64, 64), seed=0) -> Image.Image:
    """Random RGB: it does not compress, so cutting its file in half cuts the pixel data."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png_declaring(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose IHDR is patched to declare width x height (CRC fixed up)."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    # 8-byte signature, then IHDR: length (4), type (4) at 12, width and height at 16 and 20.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- files we refuse ---------------------------------------------------------------------------


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(path)


@pytest.mark.parametrize("format", ["PNG", "JPEG"])
def test_truncated_file_is_refused(tmp_path, format):
    data = encode(noise(), format)
    path = tmp_path / f"cut.{format.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not pixels at all\n")
    with pytest.raises(ImageError, match="not an image we can read"):
        load_image(path)


def test_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    """Refused before any pixel is decoded (or its 2.7 GB buffer allocated)."""
    def decode(image):
        pytest.fail(f"started decoding the pixels of a {image.size} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(30_000, 30_000))
    with pytest.raises(ImageError, match=r"900 MP.*64 MP"):
        load_image(path)


def test_image_just_over_the_cap_is_refused_not_warned_about():
    # 9000x9000 = 81 MP: above our cap, below twice it where Pillow itself only warns.
    with pytest.raises(ImageError, match="81 MP"):
        load_image(png_declaring(9_000, 9_000))


def test_pillow_global_cap_matches_ours():
    assert Image.MAX_IMAGE_PIXELS == MAX_DECLARED_PIXELS


def test_image_smaller_than_8x8_is_refused():
    with pytest.raises(ImageError, match="at least 8x8"):
        load_image(Image.new("RGB", (4, 4)))


def test_8x8_image_is_accepted():
    assert load_image(Image.new("RGB", (8, 8))).size == (8, 8)


@pytest.mark.parametrize("source", [None, 3, {"a": 1}, "no/such/file.png", 2.5, [1, 2]])
def test_things_that_are_not_images_raise_image_error(source):
    with pytest.raises(ImageError):
        load_image(source)


def test_no_image_says_so():
    with pytest.raises(ImageError, match="No image was given"):
        load_image(None)


def test_missing_path_names_the_path():
    with pytest.raises(ImageError, match=r"no/such/file\.png"):
        load_image("no/such/file.png")


# --- modes and formats --------------------------------------------------------------------------


def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    values = np.zeros((8, 8), dtype=np.uint16)
    values[0, :3] = [65535, 32768, 257]
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    out = np.asarray(load_image(path))
    assert out[0, :4, 0].tolist() == [255, 128, 1, 0]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_32bit_integer_image_is_read_as_16bit_range():
    values = np.full((8, 8), 65535, dtype=np.int32)
    assert load_image(Image.fromarray(values)).getpixel((0, 0)) == (255, 255, 255)


def test_float_image_in_0_255_is_scaled_not_clipped():
    values = np.full((8, 8), 127.5, dtype=np.float32)
    values[0, 0] = 255.0
    out = load_image(Image.fromarray(values))
    assert out.getpixel((1, 1)) == (128, 128, 128)


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    r, g, b = load_image(data).getpixel((8, 8))
    assert r > 240 and g < 15 and b < 15


def test_palette_png_transparency_becomes_mid_grey():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.paste(1, (0, 0, 4, 8))
    out = load_image(encode(image, "PNG", transparency=0))
    assert out.mode == "RGB"
    assert out.getpixel((1, 1)) == (255, 0, 0)
    assert out.getpixel((6, 1)) == (128, 128, 128)


def test_grayscale_becomes_equal_rgb():
    assert load_image(Image.new("L", (8, 8), 200)).getpixel((3, 3)) == (200, 200, 200)


@pytest.mark.parametrize("mode, opaque", [("RGBA", (10, 200, 30, 255)), ("LA", (90, 255))])
def test_transparent_pixels_become_mid_grey_and_opaque_ones_keep_their_colour(mode, opaque):
    image = Image.new(mode, (8, 8), opaque)
    image.putpixel((0, 0), (0,) * len(opaque))
    out = load_image(encode(image, "PNG"))
    assert out.getpixel((0, 0)) == (128, 128, 128)
    expected = opaque[:3] if mode == "RGBA" else (opaque[0],) * 3
    assert out.getpixel((5, 5)) == expected


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_image(data).getpixel((4, 4)) == (255, 0, 0)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (32, 16), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 16, 16))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    out = load_image(encode(image, "JPEG", exif=exif, quality=95))
    assert out.size == (16, 32)
    assert out.getpixel((8, 4))[0] > 200  # the left half is now on top
    assert out.getpixel((8, 28))[2] > 200


def test_bytes_file_object_and_path_give_the_same_image(tmp_path):
    path = tmp_path / "a.png"
    noise((16, 16)).save(path)
    from_path = load_image(path)
    assert load_image(str(path)).tobytes() == from_path.tobytes()
    assert load_image(path.read_bytes()).tobytes() == from_path.tobytes()
    with open(path, "rb") as f:
        assert load_image(f).tobytes() == from_path.tobytes()


def test_loaded_image_outlives_its_file(tmp_path):
    path = tmp_path / "a.png"
    noise((16, 16)).save(path)
    image = load_image(path)
    path.unlink()
    assert image.getpixel((0, 0)) == noise((16, 16)).getpixel((0, 0))


# --- size ---------------------------------------------------------------------------------------


def test_max_side_downscales_the_longer_side_keeping_aspect():
    assert load_image(noise((64, 32)), max_side=16).size == (16, 8)


def test_max_side_never_upscales():
    assert load_image(noise((12, 10)), max_side=16).size == (12, 10)


def test_max_side_on_a_large_jpeg_uses_draft_and_still_gives_the_exact_size():
    assert load_image(encode(noise((400, 200)), "JPEG"), max_side=48).size == (48, 24)


# --- numpy --------------------------------------------------------------------------------------


def test_numpy_uint8_uint16_and_float_arrays_give_the_same_image():
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # (8, 64)
    rgb = np.stack([ramp, ramp[:, ::-1], np.full_like(ramp, 7)], axis=-1)  # (8, 64, 3)
    expected = load_image(rgb).tobytes()
    assert load_image(rgb.astype(np.uint16) * 257).tobytes() == expected
    assert load_image(rgb / 255.0).tobytes() == expected
    assert load_image(rgb.astype(np.float32) / 255.0).tobytes() == expected


def test_numpy_grayscale_and_rgba_arrays_are_accepted():
    assert load_image(np.full((8, 8), 50, np.uint8)).getpixel((0, 0)) == (50, 50, 50)
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent
    assert load_image(rgba).getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize("array", [np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8), np.int64),
                                   np.zeros((2, 8, 8, 3), np.uint8)])
def test_numpy_array_of_wrong_shape_or_dtype_is_refused(array):
    with pytest.raises(ImageError, match="array"):
        load_image(array)


# --- tensors ------------------------------------------------------------------------------------


def test_image_to_tensor_shape_dtype_and_range():
    x = image_to_tensor(noise((16, 8)))
    assert x.shape == (1, 3, 8, 16) and x.dtype == torch.float32
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_tensor_round_trip_is_exact():
    image = noise((16, 8))
    assert tensor_to_image(image_to_tensor(image)).tobytes() == image.tobytes()
    assert tensor_to_image(image_to_tensor(image)[0]).tobytes() == image.tobytes()


def test_tensor_to_image_clamps_out_of_range_values():
    t = torch.tensor([-0.5, 0.5, 1.5]).view(3, 1, 1).expand(3, 8, 8)
    assert tensor_to_image(t).getpixel((0, 0)) == (0, 128, 255)


def test_tensor_to_image_refuses_a_batch():
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(2, 3, 8, 8))


# --- recipes ------------------------------------------------------------------------------------


def test_recipe_round_trips_through_save_png(tmp_path):
    recipe = {"seed": 3, "weights": [0.25, 0.75], "name": "Ünïcode ✓", "tileable": True}
    image = noise((16, 16))
    path = save_png(image, tmp_path / "out" / "mix.png", recipe)
    assert path == tmp_path / "out" / "mix.png"
    assert read_recipe(path) == recipe
    assert read_recipe(path.read_bytes()) == recipe
    assert read_recipe(Image.open(path)) == recipe
    assert load_image(path).tobytes() == image.tobytes()
    assert [p.name for p in path.parent.iterdir()] == ["mix.png"]  # no partial file left


def test_png_without_recipe_has_none(tmp_path):
    path = save_png(noise((8, 8)), tmp_path / "plain.png")
    assert read_recipe(path) is None


def test_malformed_recipe_reads_as_none():
    info = PngInfo()
    info.add_text(RECIPE_KEY, "{not json")
    assert read_recipe(encode(noise((8, 8)), "PNG", pnginfo=info)) is None


def test_jpeg_has_no_recipe():
    assert read_recipe(encode(noise((8, 8)), "JPEG")) is None


def test_read_recipe_of_something_not_an_image_raises():
    with pytest.raises(ImageError, match="not an image"):
        read_recipe(b"hello")


# --- digest -------------------------------------------------------------------------------------


def test_digest_is_short_stable_and_content_sensitive():
    image = noise((16, 16))
    digest = image_digest(image)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert image_digest(image.copy()) == digest
    changed = image.copy()
    changed.putpixel((0, 0), tuple(255 - v for v in image.getpixel((0, 0))))
    assert image_digest(changed) != digest


def test_digest_tells_apart_same_bytes_in_a_different_shape():
    assert image_digest(Image.new("RGB", (8, 16))) != image_digest(Image.new("RGB", (16, 8)))

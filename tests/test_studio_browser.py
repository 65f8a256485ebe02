"""The Paint and Palette tabs in a real headless browser (as tests/test_browser.py: Debian's
chromium via Playwright; skipped with the reason where either is missing, unless
ARTVAE_REQUIRE_BROWSER=1). Screenshots go to test-artifacts/paint.png and palette.png."""

import io
import shutil

import numpy as np
from PIL import Image
from test_browser import (  # noqa: F401 (browser, elsewhere: the fixtures, shared)
    ARTIFACTS,
    EXAMPLES,
    browser,
    elsewhere,
    upload,
    wait_for_new_image,
)
from test_browser import open_page as open_app

from artvae.ops import paint


def open_page(browser, app_url, elsewhere):  # noqa: F811
    page = open_app(browser, app_url, elsewhere, viewport={"width": 1280, "height": 1400})
    page.get_by_role("tab", name="Encode").wait_for()
    return page


def test_paint_a_brush_stroke_changes_the_painting(browser, app_url, elsewhere):  # noqa: F811
    page = open_page(browser, app_url, elsewhere)
    page.get_by_role("tab", name="Paint").click()
    upload(page, "paint-texture-1", EXAMPLES / "bricks.png")
    upload(page, "paint-texture-2", EXAMPLES / "cells.png")
    page.locator("#paint-button").click()
    before = wait_for_new_image(page, "paint-result")
    page.locator("#paint-canvas button[aria-label=Brush]").click()  # red, texture 1
    canvas = page.locator("#paint-canvas canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.55, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=2)  # across the green half (each
    # step redraws the editor's canvas: ~0.8 s in headless chromium)
    page.mouse.up()
    page.locator("#paint-button").click()
    assert wait_for_new_image(page, "paint-result", before) != before
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "paint.png", full_page=True)
    page.close()


def test_palette_cell_click_opens_it_in_mix_with_its_weights(browser, app_url, elsewhere):  # noqa: F811
    page = open_page(browser, app_url, elsewhere)
    page.get_by_role("tab", name="Palette").click()
    for i, name in enumerate(("bricks", "cells", "marble", "wood")):
        upload(page, f"palette-corner-{i + 1}", EXAMPLES / f"{name}.png")
    page.locator("#palette-button").click()
    page.wait_for_function("() => document.querySelectorAll('#palette-gallery img').length"
                           " == 25")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "palette.png", full_page=True)
    cell = page.locator("#palette-gallery img").nth(1)  # top row: 75% top-left, 25% top-right
    cell.scroll_into_view_if_needed()
    cell.click()
    page.get_by_role("tab", name="Mix", selected=True).wait_for()
    wait_for_new_image(page, "mix-result")
    weights = [float(page.locator(f"#mix-weight-{i} input[type=number]").input_value())
               for i in range(1, 5)]
    assert weights == [1.0, 0.3333, 0.0, 0.0]  # 0.75 : 0.25, scaled to the sliders' 0..1
    page.close()


def restore(page, made, tmp_path) -> None:
    """Drop a PNG made here (copied out of the app's files, as a download is) on Restore."""
    upload(page, "restore", shutil.copy(made, tmp_path / "made-here.png"))


def test_restore_a_paint_png_opens_paint_with_its_mask_and_settings(
        browser, app_url, client, tmp_path, elsewhere):  # noqa: F811
    from gradio_client import handle_file

    mask = tmp_path / "mask.png"
    paint.example_mask("disc", 512, 2).save(mask)
    made, _ = client.predict(handle_file(mask), [handle_file(EXAMPLES / "marble.png"),
                                                 handle_file(EXAMPLES / "woven.png")],
                             softness=0.45, size=320, tileable=True, api_name="/paint")
    page = open_page(browser, app_url, elsewhere)
    page.get_by_role("tab", name="Paint").click()
    first = wait_for_new_image(page, "paint-result")  # the first page's painting
    restore(page, made, tmp_path)
    page.get_by_role("tab", name="Paint", selected=True).wait_for()
    painted = wait_for_new_image(page, "paint-result", first)  # re-made from the recipe
    assert page.get_by_text("Restored the settings of a paint").is_visible()
    assert page.locator("#paint-softness input[type=number]").input_value() == "0.45"
    assert all(page.locator(f"#paint-texture-{i} img").count() == 1 for i in (1, 2))
    assert page.locator("#paint-texture-3 img").count() == 0
    again = Image.open(io.BytesIO(page.request.get(painted).body())).convert("RGB")
    assert again.size == (320, 320)
    difference = np.abs(np.asarray(again, np.int16) - np.asarray(Image.open(made), np.int16))
    assert difference.mean() < 1.0  # the same painting (the canvas may resample the mask)
    page.close()


def test_restore_a_palette_png_opens_palette_with_its_corners_and_grid(
        browser, app_url, client, tmp_path, elsewhere):  # noqa: F811
    from gradio_client import handle_file

    corners = [handle_file(EXAMPLES / f"{n}.png") for n in ("wood", "stripes", "cells", "marble")]
    sheet, _, _ = client.predict(corners, rows=3, cols=2, cell=64, api_name="/palette")
    page = open_page(browser, app_url, elsewhere)
    restore(page, sheet, tmp_path)
    page.get_by_role("tab", name="Palette", selected=True).wait_for()
    page.wait_for_function("() => document.querySelectorAll('#palette-gallery img').length"
                           " == 6")  # re-made: 3 rows of 2
    assert all(page.locator(f"#palette-corner-{i} img").count() == 1 for i in range(1, 5))
    assert page.get_by_text("Restored the settings of a palette").is_visible()
    page.close()


def test_restore_a_paint_png_without_its_mask_asks_for_the_mask(
        browser, app_url, client, tmp_path, elsewhere):  # noqa: F811
    from gradio_client import handle_file

    from artvae.ops.images import read_recipe, save_png

    mask = tmp_path / "mask.png"
    paint.example_mask("halves", 64, 2).save(mask)
    made, _ = client.predict(handle_file(mask), [handle_file(EXAMPLES / "bricks.png"),
                                                 handle_file(EXAMPLES / "cells.png")],
                             size=256, api_name="/paint")
    recipe = read_recipe(made)
    del recipe["mask"]  # as painted before masks were kept
    page = open_page(browser, app_url, elsewhere)
    restore(page, save_png(Image.open(made), tmp_path / "old.png", recipe), tmp_path)
    page.get_by_role("tab", name="Paint", selected=True).wait_for()
    page.get_by_text("Paint a mask first").first.wait_for()  # nothing painted over a guess
    assert page.get_by_text("Its mask is not in the PNG").is_visible()
    assert page.locator("#paint-texture-2 img").count() == 1
    assert page.locator("#paint-result img").count() == 0
    page.close()

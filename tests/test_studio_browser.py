"""The Paint and Palette tabs in a real headless browser (as tests/test_browser.py: Debian's
chromium via Playwright; skipped with the reason where either is missing, unless
ARTVAE_REQUIRE_BROWSER=1). Screenshots go to test-artifacts/paint.png and palette.png."""

from test_browser import (  # noqa: F401 (browser: the fixture, shared)
    ARTIFACTS,
    EXAMPLES,
    WAIT_MS,
    browser,
    upload,
    wait_for_new_image,
)


def open_page(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(WAIT_MS)
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Encode").wait_for()
    return page


def test_paint_a_brush_stroke_changes_the_painting(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
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
    page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=10)  # across the green half
    page.mouse.up()
    page.locator("#paint-button").click()
    assert wait_for_new_image(page, "paint-result", before) != before
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "paint.png", full_page=True)
    page.close()


def test_palette_cell_click_opens_it_in_mix_with_its_weights(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
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

"""The app in a real headless browser (Debian's chromium driven by Playwright): each tab is used
as a person would, and a screenshot of it is saved in test-artifacts/ (a phone-width one too).
Result views carry their settings in data attributes (`artvae.serve.live.view`): the tests wait for
the settings they expect rather than for any change.

Skipped, with the reason, where chromium or playwright is missing, unless
ARTVAE_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure.
"""

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from conftest import ROOT

from artvae.ops.images import image_digest, load_image, read_recipe

CHROMIUM = "/usr/bin/chromium"
# Nothing beyond 127.0.0.1: every other address goes to a proxy that is not there (loopback
# stays direct), and the tests fail on any request the pages make elsewhere (`open_page`).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--proxy-server=http://127.0.0.1:9", "--disable-domain-reliability"]
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "examples"
WAIT_MS = 30_000  # generous: the CPU may be busy with other work


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium; never `playwright install`)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("ARTVAE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ARTVAE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_page(browser, app_url: str, elsewhere: list[str], **options):
    """A new page on the app; the URLs it asks for beyond loopback are added to `elsewhere`."""
    page = browser.new_page(**options)
    page.on("request", lambda r: None if urlsplit(r.url).scheme in ("data", "blob")
            or urlsplit(r.url).hostname in LOOPBACK else elsewhere.append(r.url))
    page.set_default_timeout(WAIT_MS)
    page.goto(app_url, wait_until="load")
    return page


@pytest.fixture
def elsewhere():
    """The requests a test's pages made beyond loopback: none, or the test fails."""
    urls: list[str] = []
    yield urls
    assert not urls, f"the page asked for addresses beyond 127.0.0.1: {urls}"


@pytest.fixture
def page(browser, app_url, request, elsewhere):
    """A fresh page on the app; its screenshot is saved as test-artifacts/<tab>.png."""
    page = open_page(browser, app_url, elsewhere, viewport={"width": 1280, "height": 1400})
    page.get_by_role("tab", name="Encode").wait_for()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{request.node.name.split('_')[1]}.png", full_page=True)
    page.close()


def src(page, elem_id: str) -> str | None:
    """The URL of the image an output shows (None while it shows none)."""
    image = page.locator(f"#{elem_id} img")
    return image.first.get_attribute("src") if image.count() else None


def wait_for_new_image(page, elem_id: str, old: str | None = None) -> str:
    page.wait_for_function(
        "([id, old]) => { const img = document.querySelector(`#${id} img`);"
        " return img && img.getAttribute('src') && img.getAttribute('src') !== old; }",
        arg=[elem_id, old])
    return src(page, elem_id)


def wait_for_result(page, elem_id: str, check: str = "true", final: bool = True) -> dict:
    """Wait until a result view shows an image whose settings `s` pass the JavaScript `check`
    (settled, or a frame made while a slider moves); returns those settings."""
    view = f"#{elem_id} .artvae-view[data-final='{int(final)}']"
    found = page.wait_for_function(
        f"() => {{ const v = document.querySelector(`{view}`);"
        f" if (!v || !v.querySelector('img')) return false;"
        f" const s = JSON.parse(v.dataset.settings); return ({check}) && v.dataset.settings; }}")
    return json.loads(found.json_value())


def fetched(page, app_url: str, selector: str, attribute: str, old: str | None = None) -> bytes:
    """The file an element's `attribute` (an <img> src, a download's href) names, once it names
    one other than `old`."""
    found = page.wait_for_function(
        "([sel, attr, old]) => { const e = document.querySelector(sel);"
        " const url = e && e.getAttribute(attr); return url && url !== old && url; }",
        arg=[selector, attribute, old])
    return httpx.get(urljoin(app_url + "/", found.json_value()), timeout=30).content


def upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def steady_box(page, locator) -> dict:
    """An element's bounding box once the page has stopped moving it (results arriving above a
    slider push it down; a drag aimed at where it was misses it on a busy machine)."""
    box = locator.bounding_box()
    for _ in range(30):
        page.wait_for_timeout(100)
        again = locator.bounding_box()
        if again == box:
            return box
        box = again
    return box


def start_drag(page, elem_id: str, to: float) -> None:
    """Press a slider's handle at its middle and move it to `to` (0..1 of its track), still
    held, as a person does."""
    track = page.locator(f"#{elem_id} input[type=range]")
    track.scroll_into_view_if_needed()
    box = steady_box(page, track)
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * to, y, steps=5)


def drag_slider(page, elem_id: str, to: float) -> None:
    """Drag a slider's handle from its middle to `to` and let go; once more if the slider did
    not move (the page moved under the pointer)."""
    track = page.locator(f"#{elem_id} input[type=range]")
    for _ in range(2):
        before = track.input_value()
        start_drag(page, elem_id, to)
        page.mouse.up()
        if track.input_value() != before:
            return


def open_tab(page, name: str) -> None:
    """Click a tab, through Gradio's "More tabs" menu where a narrow page folds it away."""
    page.get_by_role("tab").first.wait_for()  # the tab bar is drawn
    tab = page.get_by_role("tab", name=name)
    if tab.is_visible():
        tab.click()
        return
    page.get_by_role("button", name="More tabs").click()
    page.locator(".overflow-dropdown button", has_text=name).click()


def test_every_tab_shows_a_computed_result_on_first_load(page):
    for tab, elem_id in (("Encode", "encode-result"), ("Mix", "mix-result"),
                         ("Blend", "blend-result"), ("Explore", "explore-result")):
        open_tab(page, tab)
        settings = wait_for_result(page, elem_id)
        assert src(page, elem_id).startswith("data:image/jpeg;base64,")
        assert page.locator(f"#{elem_id} .artvae-tiles").is_visible()  # drawn by the browser
        assert settings["op"] == {"Explore": "sample"}.get(tab, tab.lower())
        assert page.locator(f"#{elem_id}-download a").count() == 1  # the PNG to download
    assert page.locator("#explore-gallery img").count() == 8
    open_tab(page, "Paint")  # bricks and cells painted into the halves mask
    page.locator("#paint-result img").wait_for()
    assert page.locator("#paint-result-tiles img").count() == 1
    open_tab(page, "Palette")  # a 5 x 5 grid of the first four examples
    page.locator("#palette-gallery img").nth(24).wait_for()
    assert page.locator("#palette-sheet a").count() == 1


def test_encode_an_example_shows_reconstruction_and_code(page):
    wait_for_result(page, "encode-result")  # the first example, made at start-up
    before = [src(page, e) for e in ("encode-result", "encode-structure", "encode-style")]
    page.locator(".gallery-item").nth(1).click()  # the second example texture
    for elem_id, old in zip(("encode-result", "encode-structure", "encode-style"), before,
                            strict=True):
        wait_for_new_image(page, elem_id, old)
    assert page.get_by_text("PSNR").is_visible()


def test_encode_refine_switch_remakes_the_reconstruction(page):
    """The switch re-encodes with refined codes (closer on real weights: test_bundled; these
    tiny random weights have no "closer" to check)."""
    wait_for_result(page, "encode-result", "!s.refine")
    before = src(page, "encode-result")
    page.locator("#encode-refine input").check()
    settings = wait_for_result(page, "encode-result", "s.refine === 10")
    assert settings["op"] == "encode"
    wait_for_new_image(page, "encode-result", before)
    assert page.get_by_text(re.compile(r"PSNR [\d.]+ dB")).is_visible()


def test_encode_more_like_this_and_expand(page):
    page.locator("#encode-more").click()
    page.wait_for_function("() => document.querySelectorAll('#encode-variations img')"
                           ".length === 4")
    page.locator("#encode-expand").click()
    settings = wait_for_result(page, "encode-expanded")
    assert settings["op"] == "expand" and settings["size"] == 1024 and settings["tileable"]


def test_mix_weight_slider_changes_the_mix(page):
    open_tab(page, "Mix")
    upload(page, "mix-texture-1", EXAMPLES / "marble.png")
    upload(page, "mix-texture-2", EXAMPLES / "stripes.png")
    wait_for_result(page, "mix-result", "s.mix_weights.length === 2")
    drag_slider(page, "mix-weight-2", 0.1)
    settings = wait_for_result(page, "mix-result", "s.mix_weights[1] < 0.5")
    assert settings["mix_weights"][0] == 1.0


def test_blend_follows_the_t_slider_while_it_is_dragged(page):
    open_tab(page, "Blend")
    upload(page, "blend-a", EXAMPLES / "bricks.png")
    upload(page, "blend-b", EXAMPLES / "wood.png")
    wait_for_result(page, "blend-result")
    start_drag(page, "blend-t", 0.9)
    moving = wait_for_result(page, "blend-result", "s.t > 0.5", final=False)  # still held
    page.mouse.up()
    settled = wait_for_result(page, "blend-result", "s.t > 0.7")
    assert moving["t"] > 0.5 and settled["t"] == float(
        page.locator("#blend-t input[type=number]").input_value())


def test_explore_gallery_has_eight_samples_and_clicking_one_picks_it(page):
    open_tab(page, "Explore")
    assert wait_for_result(page, "explore-result")["seed"] == 0
    assert page.locator("#explore-gallery img").count() == 8
    page.locator("#explore-gallery img").nth(3).click()
    assert wait_for_result(page, "explore-result", "s.seed === 3")["op"] == "sample"
    page.locator("#explore-surprise").click()
    wait_for_result(page, "explore-result", "s.seed !== 3")


def test_explore_temperature_remakes_the_pick_and_then_the_gallery(page):
    open_tab(page, "Explore")
    page.locator("#explore-gallery img").nth(1).click()
    wait_for_result(page, "explore-result", "s.seed === 1")
    first = src(page, "explore-gallery")
    drag_slider(page, "explore-temperature", 0.9)
    settings = wait_for_result(page, "explore-result", "s.temperature > 1.5")
    assert settings["seed"] == 1  # the pick stays picked
    wait_for_new_image(page, "explore-gallery", first)


def test_explore_sends_the_picked_sample_to_blend(page, app_url):
    """B becomes the picked sample (its PNG, recipe and all) and the blend is made again from
    it: the blend's download names A's and that sample's pixels as its inputs."""
    open_tab(page, "Blend")
    wait_for_result(page, "blend-result")  # bricks -> wood, made at start-up
    old_view, old_b = src(page, "blend-result"), src(page, "blend-b")
    old_download = page.locator("#blend-result-download a").first.get_attribute("href")
    open_tab(page, "Explore")
    page.locator("#explore-gallery img").nth(2).click()
    wait_for_result(page, "explore-result", "s.seed === 2")
    page.get_by_role("button", name="Use as Blend B").click()
    page.get_by_role("tab", name="Blend", selected=True).wait_for()
    b = fetched(page, app_url, "#blend-b img", "src", old_b)
    assert read_recipe(b)["op"] == "sample" and read_recipe(b)["seed"] == 2
    wait_for_new_image(page, "blend-result", old_view)
    assert wait_for_result(page, "blend-result")["t"] == 0.5
    recipe = read_recipe(fetched(page, app_url, "#blend-result-download a", "href",
                                 old_download))
    assert recipe["op"] == "blend" and recipe["inputs"] == [
        image_digest(load_image(EXAMPLES / "bricks.png")), image_digest(load_image(b))]


def test_phone_width_needs_no_sideways_scrolling(browser, app_url, elsewhere):
    page = open_page(browser, app_url, elsewhere, viewport={"width": 390, "height": 844},
                     is_mobile=True, has_touch=True)
    ARTIFACTS.mkdir(exist_ok=True)
    for tab, elem_id in (("Encode", "encode-result"), ("Mix", "mix-result"),
                         ("Blend", "blend-result"), ("Explore", "explore-result")):
        open_tab(page, tab)
        wait_for_result(page, elem_id)
        page.screenshot(path=ARTIFACTS / f"phone-{tab.lower()}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, tab
        assert page.locator(f"#{elem_id} img").bounding_box()["width"] <= 390
    page.close()


def test_restore_a_png_made_here_brings_its_settings_back(page, client, tmp_path):
    from gradio_client import handle_file

    frame, _ = client.predict(handle_file(EXAMPLES / "bricks.png"),
                              handle_file(EXAMPLES / "wood.png"), 0.3, mode="spatial",
                              ramp="radial", size=320, tileable=True, api_name="/blend")
    made = shutil.copy(frame, tmp_path / "made-here.png")
    upload(page, "restore", made)
    # restored, switched to Blend, and re-made
    wait_for_result(page, "blend-result", "s.t === 0.3 && s.size === 320 && s.tileable")
    assert page.get_by_role("tab", name="Blend", selected=True).is_visible()
    assert page.locator("#blend-t input[type=number]").input_value() == "0.3"
    assert page.get_by_text("Restored the settings of a blend").is_visible()


def test_restore_a_png_without_a_recipe_says_so_and_changes_nothing(page, tmp_path):
    wait_for_result(page, "encode-result")  # the first example, made at start-up
    before = src(page, "encode-result")
    upload(page, "restore", shutil.copy(EXAMPLES / "wood.png", tmp_path / "not-made-here.png"))
    page.get_by_text("That PNG carries no ArtVAE recipe").first.wait_for()
    assert page.get_by_role("tab", name="Encode", selected=True).is_visible()
    assert src(page, "encode-result") == before


def test_restore_an_explore_png_picks_its_sample_and_style(page, client, tmp_path):
    image, _ = client.predict(5, size=256, offsets=[0.5], api_name="/sample")
    made = shutil.copy(image, tmp_path / "sample-made-here.png")
    upload(page, "restore", made)
    settings = wait_for_result(page, "explore-result", "s.seed === 5 && s.size === 256")
    assert settings["offsets"][0] == 0.5
    page.wait_for_function("() => document.querySelector('#explore-gallery img')")
    assert page.locator("#explore-gallery img").count() == 8

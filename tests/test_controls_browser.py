"""The named controls and the Restyle tab in a real headless browser (see test_browser.py):
Encode's and Explore's look follows a named slider while it is dragged and settles on release;
Restyle makes a set of uploads into a gallery, a contact sheet and a zip. Screenshots at desktop
and phone width go to test-artifacts/."""

from test_browser import (  # noqa: F401 (browser, elsewhere and page: the fixtures, shared)
    ARTIFACTS,
    EXAMPLES,
    WAIT_MS,
    browser,
    elsewhere,
    open_tab,
    page,
    start_drag,
    wait_for_result,
)

FOLLOWS = "s.controls && s.controls.{name} > 1"


def follows_the_slider(page, tab: str, name: str) -> None:  # noqa: F811
    elem_id = f"{tab}-result"
    wait_for_result(page, elem_id)
    start_drag(page, f"{tab}-{name}", 0.9)  # held: the view follows with moving frames
    moving = wait_for_result(page, elem_id, FOLLOWS.format(name=name), final=False)
    page.mouse.up()
    settled = wait_for_result(page, elem_id, FOLLOWS.format(name=name))
    assert moving["controls"][name] > 1
    assert settled["controls"][name] == float(
        page.locator(f"#{tab}-{name} input[type=number]").input_value())


def test_encode_named_control_follows_the_slider(page):  # noqa: F811
    follows_the_slider(page, "encode", "brightness")
    assert page.get_by_text("the edited look against the upload").is_visible()


def test_explore_named_control_follows_the_slider(page):  # noqa: F811
    open_tab(page, "Explore")
    follows_the_slider(page, "explore", "warmth")
    assert not page.locator("#explore-direction-1").is_visible()  # under "More directions"
    page.get_by_text("More directions").click()
    page.locator("#explore-direction-1").wait_for()


def test_restyle_a_set_of_uploads(page):  # noqa: F811
    open_tab(page, "Restyle")
    page.locator("#restyle-files input[type=file]").set_input_files(
        [str(EXAMPLES / "bricks.png"), str(EXAMPLES / "wood.png")])
    page.locator("#restyle-files").get_by_text("wood").wait_for()  # shown as stem and .png
    page.locator("#restyle-run").click()
    page.wait_for_function("() => document.querySelectorAll('#restyle-gallery img')"
                           ".length === 2")
    page.get_by_text("2 restyled.").wait_for()
    assert page.locator("#restyle-zip a").count() == 1
    page.locator("#restyle-sheet img").wait_for()


def test_phone_width_named_controls_and_restyle(browser, app_url):  # noqa: F811
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                             has_touch=True)
    phone.set_default_timeout(WAIT_MS)
    phone.goto(app_url, wait_until="load")
    ARTIFACTS.mkdir(exist_ok=True)
    for tab in ("Encode", "Explore", "Restyle"):
        open_tab(phone, tab)
        if tab != "Restyle":
            wait_for_result(phone, f"{tab.lower()}-result")
        phone.locator(f"#{tab.lower()}-saturation").scroll_into_view_if_needed()
        phone.screenshot(path=ARTIFACTS / f"phone-controls-{tab.lower()}.png", full_page=True)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, tab
    phone.close()


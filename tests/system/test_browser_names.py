"""Class names made to look like markup, on every page of a real `streamlit run app.py` in headless
Chromium: shown as typed, never as links, images or bold text. (Tabs used at once on one server
are tests/system/test_load.py's thirty protocol clients; the main flow is tests/system/test_browser.py.)"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from catdog_core import runs
from conftest import jpeg_bytes
from support.browser import CHROMIUM, CHROMIUM_ARGS, wait_idle
from support.servers import streamlit_server

pytestmark = pytest.mark.browser



def _missing(why: str):
    if os.environ.get("CATDOG_REQUIRE_SHARED"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
def playwright_api():
    if not Path(CHROMIUM).is_file():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        _missing("playwright is not installed")
    sync_api.expect.set_options(timeout=20_000)  # reruns wait for the CPU while a training runs
    return sync_api


def no_exception(tab, name: str) -> None:
    boxes = tab.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{name}: " + boxes.first.inner_text()


HOSTILE = ("<b>bold<img src=x onerror=alert(1)>", "[click](http:evil.example) **loud**")


def _no_markup_from_names(tab, where: str) -> None:
    """Nothing on the page was made from a class name: no link to it, no image, no bold element,
    not in Streamlit's Markdown nor in Plotly's SVG text."""
    links = tab.locator('a[href*="evil"]:not([href^="#"])')  # a heading's own anchor is "#<its text>"
    assert links.count() == 0, (where, links.first.evaluate("a => a.parentElement.parentElement.outerHTML"))
    assert tab.locator('img[src="x"]').count() == 0, where
    assert tab.locator("b", has_text="bold").count() == 0, where
    # The page's own bold may wrap a whole name; the name's **loud** must not become bold itself.
    assert tab.locator("strong", has_text=re.compile(r"^loud$")).count() == 0, where
    assert tab.locator('svg tspan[style*="bold"]', has_text="bold").count() == 0, where
    no_exception(tab, where)


def test_hostile_class_names_show_as_text_on_every_page(tmp_path, isolated_home, shared_weights,
                                                         trained_transfer, playwright_api):
    """Class folders named like Markdown and HTML, trained on and browsed in Chromium: Dataset,
    Augmentation, Classify (an upload, its label and probability chart) and Evaluate show the
    names as typed and make no link, image or bold text of them."""
    import dataclasses

    from catdog_core import dataset
    from conftest import make_dataset

    # The synthetic pictures under hostile class names; the model trained on them, renamed to match
    # (its class 0, the bright disc, is the first name in order, as the loader numbers classes).
    root = make_dataset(tmp_path / "hostile", classes=tuple(sorted(HOSTILE)), n_train=12, n_val=6)
    data = dataset.load_dataset(root)
    assert data.class_names == tuple(sorted(HOSTILE))
    _, trained = trained_transfer
    runs.save_run(dataclasses.replace(trained, class_names=data.class_names), data.describe())
    picture = tmp_path / "upload.jpg"
    picture.write_bytes(jpeg_bytes(0, 7, size=200, quality=92))
    expect = playwright_api.expect
    with streamlit_server(tmp_path, CATDOG_DATA_DIR=str(root), CATDOG_BASE_WEIGHTS=shared_weights,
                          CATDOG_HOME=str(isolated_home)) as url, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.set_default_timeout(60_000)
            for page in ("dataset", "augmentation", "evaluate", "classify"):
                tab.goto(f"{url}/{page}")
                expect(tab.get_by_test_id("stApp")).to_be_visible()
                wait_idle(tab)
                if page == "classify":
                    tab.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(picture))
                    expect(tab.get_by_text("where it looked", exact=False).first).to_be_visible()
                    wait_idle(tab)
                text = tab.get_by_test_id("stMain").inner_text()
                assert any(name in text for name in HOSTILE), f"{page}: no class name shown as typed"
                _no_markup_from_names(tab, page)
        finally:
            browser.close()

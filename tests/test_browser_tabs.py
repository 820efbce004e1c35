"""Several browser tabs on one `streamlit run app.py` at once, in headless Chromium.

Two tabs start trainings on the Training page (the second waits in the queue
while the first runs), while other tabs browse the Dataset page, move a slider
on the Augmentation page and classify an upload on the Classify page. Every tab
stays live (its websocket open) the whole time. No tab may show an exception,
both trainings must finish and be saved, and the upload must get its label.
Runs on the small synthetic dataset and the shared MobileNetV2 weights.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from catdog_core import runs
from catdog_core.models import RECIPES
from conftest import jpeg_bytes
from test_browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_idle

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


@pytest.fixture
def server(tmp_path, isolated_home, synthetic_data, shared_weights, trained_transfer):
    """`streamlit run app.py` on a free port with one saved transfer run; stopped at the end."""
    data, result = trained_transfer
    runs.save_run(result, data.describe())  # into isolated_home, the CATDOG_HOME given to the server
    with streamlit_server(tmp_path, CATDOG_DATA_DIR=str(synthetic_data), CATDOG_BASE_WEIGHTS=shared_weights,
                          CATDOG_HOME=str(isolated_home)) as url:
        yield url


@pytest.fixture
def cat_picture(tmp_path) -> Path:
    """A synthetic 'cats' image (warm background, bright disc), as the trained model knows them."""
    path = tmp_path / "my cat.jpg"
    path.write_bytes(jpeg_bytes(0, 99, size=200, quality=92))
    return path


def no_exception(tab, name: str) -> None:
    boxes = tab.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{name}: " + boxes.first.inner_text()


PATHS = {"train A": "training", "train B": "training", "dataset": "dataset",
         "augment": "augmentation", "classify": "classify"}


def open_tabs(context, server: str, names, expect) -> dict:
    """Open the tabs at once (each request sent before any page has loaded); all stay open."""
    tabs = {name: context.new_page() for name in names}
    for name, tab in tabs.items():
        tab.goto(f"{server}/{PATHS[name]}", wait_until="commit")
    for name, tab in tabs.items():
        expect(tab.get_by_test_id("stApp")).to_be_visible(timeout=60_000)
        wait_idle(tab)
    return tabs


def test_tabs_at_once(server, playwright_api, cat_picture):
    expect = playwright_api.expect
    started = time.monotonic()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(30_000)
            # One tab first; thirty sessions arriving together right after the start: tests/test_load.py.
            tabs = open_tabs(context, server, ["train A"], expect)
            tabs.update(open_tabs(context, server, [n for n in PATHS if n != "train A"], expect))
            for name, tab in tabs.items():
                no_exception(tab, name)

            # Tab A: the quick transfer preset; tab B right after: the baseline for 1 epoch, so it queues.
            a, b = tabs["train A"], tabs["train B"]
            a.get_by_role("button", name="Quick transfer").click()
            b.get_by_test_id("stRadioGroup").get_by_text(RECIPES["baseline"].title, exact=True).click()
            b.get_by_role("button", name="1 epoch", exact=True).click()
            b.get_by_role("button", name="Start").click()
            queued = b.get_by_text(re.compile(r"Waiting in the queue at position 1"))
            try:
                expect(queued).to_be_visible(timeout=20_000)
                saw_queue = True
            except AssertionError:
                saw_queue = False  # A finished before B's panel drew: checked below by both runs
            expect(a.get_by_text(re.compile(r"^Job \d+: quick transfer"))).to_be_visible()

            # Meanwhile the other tabs are used.
            d = tabs["dataset"]
            expect(d.get_by_test_id("stImage")).to_have_count(6)
            pictures = d.get_by_test_id("stImage").locator("img")

            def shown():
                return [pictures.nth(k).get_attribute("src") for k in range(pictures.count())]

            before = shown()
            d.get_by_role("button", name="Show other examples").click()
            # Each class's three are drawn anew (and shown sorted, so one picture may stay where it was).
            deadline = time.monotonic() + 30
            while shown() == before and time.monotonic() < deadline:
                d.wait_for_timeout(300)
            assert shown() != before, "Show other examples changed no picture"
            no_exception(d, "dataset")

            g = tabs["augment"]
            expect(g.get_by_text("0.2 = up to ±72°")).to_be_visible()
            g.get_by_role("slider").first.focus()
            g.keyboard.press("ArrowRight")
            expect(g.get_by_text("0.21 = up to ±76°")).to_be_visible()
            wait_idle(g)
            expect(g.get_by_test_id("stImage")).to_have_count(10)
            no_exception(g, "augment")

            c = tabs["classify"]
            c.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(cat_picture))
            expect(c.get_by_role("heading", name="cats")).to_be_visible(timeout=60_000)
            expect(c.get_by_role("heading", name="dogs")).to_have_count(0)
            no_exception(c, "classify")

            # Both trainings finish, each in its own tab.
            # A finishes (48 training images: 100 optimizer steps, more epochs than asked); B, now
            # running its 100 steps, is stopped from its own tab once an epoch is done and keeps it.
            expect(a.get_by_text(re.compile(r"Finished \d+ epochs"))).to_be_visible(timeout=150_000)
            expect(b.get_by_text(re.compile(r"^Epoch [2-9]\d* of"))).to_be_visible(timeout=120_000)
            b.get_by_role("button", name="Stop", exact=True).first.click()
            expect(b.get_by_text(re.compile(r"Stopped|Finished"))).to_be_visible(timeout=120_000)
            for name, tab in tabs.items():
                no_exception(tab, name)
            listing = runs.list_runs()
            recipes = sorted(r.recipe for r in listing.runs)
            assert recipes == ["baseline", "transfer", "transfer"], recipes
            b.reload()
            expect(b.get_by_test_id("stSidebar").get_by_text("Trained runs: 3")).to_be_visible(timeout=60_000)
            no_exception(b, "train B after reload")
        finally:
            browser.close()
    print(f"\n[tabs] 5 tabs, queue position seen: {saw_queue}, {time.monotonic() - started:.0f} s in the browser")


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

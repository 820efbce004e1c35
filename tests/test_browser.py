"""The real app in headless Chromium: `streamlit run app.py` on the real dataset zip.

Opens every page, checks that none shows an exception or an unexpected error,
trains the quick transfer model from the Classify page, classifies a real cat
photo from the validation split, and saves a full-page screenshot of each page
to test-output/screenshots/ and docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "test-output" / "screenshots"
DOCS_SHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, shared_zip, shared_weights):
    """`streamlit run app.py` on a free port; stopped at the end, also on failure."""
    with streamlit_server(tmp_path, CATDOG_DATA_DIR=str(shared_zip), CATDOG_BASE_WEIGHTS=shared_weights,
                          CATDOG_HOME=str(tmp_path / "catdog_home")) as url:
        yield url


@contextlib.contextmanager
def streamlit_server(tmp_path: Path, **settings: str):
    """`streamlit run app.py` on a free port with these env settings; yields its URL, always stops it."""
    port = free_port()
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"), TF_CPP_MIN_LOG_LEVEL="2", **settings)
    log_path = tmp_path / "streamlit.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],  # the rest: config.toml
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise AssertionError("streamlit did not start:\n" + log_path.read_text())
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@pytest.fixture
def cat_photo(tmp_path, shared_zip) -> Path:
    with zipfile.ZipFile(shared_zip) as archive:
        name = sorted(n for n in archive.namelist()
                      if "/validation/cats/" in n and n.endswith(".jpg"))[0]
        target = tmp_path / Path(name).name
        target.write_bytes(archive.read(name))
    return target


def wait_idle(page, timeout: float = 120.0) -> None:
    """Until the script has finished and stayed finished for a moment (live panels rerun every second)."""
    app = page.get_by_test_id("stApp")
    deadline = time.time() + timeout
    calm = 0
    while time.time() < deadline:
        calm = calm + 1 if app.get_attribute("data-test-script-state") == "notRunning" else 0
        if calm >= 3:
            return
        page.wait_for_timeout(200)
    raise AssertionError("the page kept running")


def assert_clean(page, errors_expected: int = 0) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()
    assert page.get_by_test_id("stAlertContentError").count() == errors_expected


def open_page(page, title: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=title, exact=True).click()
    page.wait_for_timeout(300)
    wait_idle(page)


def shoot(page, name: str) -> None:
    """A full-page screenshot: Streamlit scrolls inside its main section, so the window grows to fit it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover toolbars over the charts
    size = page.viewport_size
    height = page.evaluate("""() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section')]
                                             .map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 6000)})
    page.wait_for_timeout(800)  # let charts redraw at the new size
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)
    shutil.copyfile(SHOTS / f"{name}.png", DOCS_SHOTS / f"{name}.png")


def test_every_page_in_chromium(server, cat_photo):
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CATDOG_REQUIRE_SHARED"):  # CI must run it, not skip it
            pytest.fail(f"{CHROMIUM} is not installed (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    expect, sync_playwright = playwright.expect, playwright.sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(30_000)
            # A bookmarked page as the first request after the server starts still runs inside app.py.
            page.goto(f"{server}/dataset")
            expect(page.get_by_role("heading", name="The dataset")).to_be_visible(timeout=60_000)
            wait_idle(page)
            # The app's own menu, from the first page a bookmark opens (not Streamlit's file list).
            nav = page.get_by_test_id("stSidebar").get_by_role("link")
            expect(nav).to_have_count(6)
            assert [t.strip().split("\n")[-1] for t in nav.all_inner_texts()] == [
                "Home", "Dataset", "Augmentation", "Training", "Evaluate", "Classify"]
            expect(page.get_by_test_id("stImage")).to_have_count(6)
            expect(page.get_by_test_id("stPlotlyChart")).to_have_count(1)
            expect(page.get_by_test_id("stSidebar").get_by_text("2000 train")).to_be_visible()
            assert_clean(page)
            shoot(page, "dataset")

            open_page(page, "Home")
            expect(page.get_by_role("heading", name="Cats vs dogs")).to_be_visible()
            expect(page.get_by_text("local zip cats_and_dogs.zip").first).to_be_visible()
            assert_clean(page)
            shoot(page, "home")

            open_page(page, "Augmentation")
            expect(page.get_by_test_id("stImage")).to_have_count(10)  # the original and nine copies
            expect(page.get_by_text("0.2 = up to ±72°")).to_be_visible()
            assert_clean(page)
            shoot(page, "augmentation")

            open_page(page, "Classify")
            page.get_by_role("button", name="Train a quick model now").click()
            uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
            expect(uploader).to_be_attached(timeout=240_000)  # about a minute when the CPU is free
            wait_idle(page)
            expect(page.get_by_text("Finished 10 epochs")).to_be_visible()
            uploader.set_input_files(str(cat_photo))
            expect(page.get_by_role("heading", name="cats")).to_be_visible(timeout=60_000)
            wait_idle(page)
            expect(page.get_by_text(cat_photo.name).first).to_be_visible()
            expect(page.get_by_text("where it looked for cats")).to_be_visible()  # the Grad-CAM overlay
            expect(page.get_by_test_id("stImage")).to_have_count(2)
            assert_clean(page)
            shoot(page, "classify")

            open_page(page, "Evaluate")
            expect(page.get_by_text("Test accuracy", exact=True)).to_be_visible(timeout=60_000)
            expect(page.get_by_text("What it got wrong")).to_be_visible()
            expect(page.get_by_test_id("stPlotlyChart")).to_have_count(1)
            wait_idle(page)
            assert_clean(page)
            shoot(page, "evaluate")

            open_page(page, "Training")
            expect(page.get_by_text("Finished 10 epochs")).to_be_visible()
            expect(page.get_by_test_id("stPlotlyChart")).to_have_count(4)
            assert_clean(page)
            shoot(page, "training")
        finally:
            browser.close()

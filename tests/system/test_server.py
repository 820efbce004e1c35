"""How the server is served: its defaults, the class password, no outbound connections,
an idle server that stays idle, and names that stay text."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from catdog_core import runs, uploads
from conftest import APP, REPO, TIMEOUT, jpeg_bytes, open_page, session_job_id, texts
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)


def test_the_served_defaults_keep_a_classroom_safe():
    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["address"] == "localhost"  # a LAN only when the teacher says so
    assert settings["server"]["fileWatcherType"] == "none"  # an idle server stays idle
    assert settings["client"]["showErrorDetails"] == "none"  # no tracebacks with server paths
    assert settings["client"]["showSidebarNavigation"] is False  # the app's own menu from the first paint
    assert settings["browser"]["gatherUsageStats"] is False
    assert settings["runner"]["postScriptGC"] is False  # no full collection of the heap per script run
    assert settings["server"]["maxUploadSize"] <= uploads.MAX_UPLOAD_ZIP_BYTES // 2**20


def test_the_class_password_gates_every_page(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    monkeypatch.setenv("CATDOG_CLASS_PASSWORD", "tabby-42")
    for page in (None, "training", "classify"):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        if page:
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert [t.value for t in at.title] == ["catdog · cats vs dogs"]
        assert not at.get("page_link") and not at.get("plotly_chart") and not at.get("file_uploader")
    at.text_input(key="class_password_input").input("tabby-41")
    at.button[0].click().run()
    assert any("not the class password" in e for e in texts(at.error))
    assert not at.get("file_uploader")
    at.text_input(key="class_password_input").input("tabby-42")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any(t.value == "Classify your own photos" for t in at.title)
    assert len(at.get("page_link")) >= 6  # the menu is back


def _hostile_zip() -> bytes:
    import io
    import zipfile

    rng = __import__("numpy").random.default_rng(3)
    out = io.BytesIO()
    names = ["[click me](https:evil.example)", "![x](https:evil.example?pixel.png)"]
    with zipfile.ZipFile(out, "w") as archive:
        for label, name in enumerate(names):
            for i in range(10):
                archive.writestr(f"{name}/{i}.jpg", jpeg_bytes(label, rng, size=64, quality=75))
    return out.getvalue()


def _unescaped_links(at) -> list[str]:
    """Markdown sources (raw, as Streamlit renders them) holding a live link or image."""
    bodies = [str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "success")
              for e in getattr(at, kind)] + [str(e.value) for e in at.sidebar.markdown]
    return [b for b in bodies if re.search(r"(?<!\\)\]\((?!\))", b) or re.search(r"(?<!\\)!\[", b)]


def test_class_names_are_shown_as_text_and_stay_in_their_session(synthetic_data, monkeypatch):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    at = open_page("dataset")
    at.file_uploader(key="own_classes_zip").set_value(("links.zip", _hostile_zip(), "application/zip")).run()
    [b for b in at.button if b.label == "Use these classes"][0].click().run()
    assert not at.exception and not at.error
    assert not _unescaped_links(at)
    assert any("click me" in m for m in texts(at.markdown))  # the names are there, as text
    at.switch_page("pages/training.py").run()
    [b for b in at.button if b.label == "Quick transfer"][0].click().run()
    from catdog_core import jobs

    job = jobs.get_queue().wait(session_job_id(at), timeout=300)
    assert job.state == jobs.DONE, job.error
    mine = runs.find_run(job.run_id)
    at.switch_page("pages/classify.py").run()
    assert not at.exception and not _unescaped_links(at)
    assert at.selectbox(key="classify_run").value == mine.run_id

    # Another student, on the default cats and dogs: that run is not their default model.
    other = open_page("classify")
    assert not other.exception
    chosen = other.selectbox(key="classify_run").value if other.selectbox else None
    assert chosen != mine.run_id
    assert not _unescaped_links(other)


@pytest.mark.browser
def test_the_server_contacts_nothing_outside_this_machine(tmp_path, shared_zip, shared_weights):
    """Started with every connection beyond loopback refused and logged (tests/support/netguard), then
    used: home, training, classify pages load. Nothing was even attempted."""
    from support.browser import CHROMIUM, CHROMIUM_ARGS, wait_idle
    from support.servers import streamlit_server

    if not Path(CHROMIUM).is_file():
        if os.environ.get("CATDOG_REQUIRE_SHARED"):
            pytest.fail(f"{CHROMIUM} is not installed")
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    log = tmp_path / "network.log"
    log.write_text("")
    with streamlit_server(tmp_path, CATDOG_DATA_DIR=str(shared_zip), CATDOG_BASE_WEIGHTS=shared_weights,
                          CATDOG_HOME=str(tmp_path / "home"), CATDOG_NET_LOG=str(log)) as url:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                for path in ("", "training", "classify"):
                    page.goto(f"{url}/{path}")
                    page.get_by_test_id("stApp").wait_for(timeout=60_000)
                    wait_idle(page)
            finally:
                browser.close()
    assert log.read_text() == "", log.read_text()


@pytest.mark.browser
def test_a_stopped_server_says_the_training_worker_keeps_running(tmp_path, synthetic_data, isolated_home):
    """Jobs outlive `streamlit run` by design: when it stops, its terminal says that the worker still
    runs and the command that stops it; with no worker alive it says nothing of the kind."""
    from catdog_core.jobs import worker
    from support.browser import CHROMIUM, CHROMIUM_ARGS, wait_idle
    from support.servers import streamlit_server

    if not Path(CHROMIUM).is_file():
        if os.environ.get("CATDOG_REQUIRE_SHARED"):
            pytest.fail(f"{CHROMIUM} is not installed")
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    home = isolated_home  # the server's and the worker's (CATDOG_HOME)
    for with_worker in (False, True):
        run = tmp_path / f"server-{with_worker}"
        run.mkdir()
        with streamlit_server(run, CATDOG_DATA_DIR=str(synthetic_data)) as url:
            if with_worker:
                assert worker.ensure_workers(home) == 1  # as the first job of a lesson starts it
            with playwright.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page()
                    page.goto(url)
                    page.get_by_test_id("stApp").wait_for(timeout=60_000)
                    wait_idle(page)
                finally:
                    browser.close()
        said = (run / "streamlit.log").read_text()
        assert ("training worker keeps running" in said) == with_worker, said[-2000:]
    assert f"CATDOG_HOME={home} catdog worker --stop" in said
    assert worker.worker_alive(home)  # still there: the server's stop did not end it
    worker.shutdown_workers(home)
    assert not worker.worker_alive(home)


@pytest.mark.browser  # a real `streamlit run` of its own, like the browser tests
def test_photos_given_to_your_classes_leave_the_servers_memory_once_added(shared_zip, shared_weights):
    """Issue 32's last row: a student's photos on Your classes are on disk, not in the web server.
    Streamlit's st.file_uploader kept every file it held until the session ended (30 phone photos: +366
    MB). The photo box hands them over once: sent again by the same upload ids after the class was
    emptied, they are not there to add (bench_photos measures the memory: +8 MB)."""
    import asyncio
    import json
    import sys

    from streamlit.proto.WidgetStates_pb2 import WidgetState

    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_server as bs
    from bench_door import GateClient

    def held(server) -> int:
        return sum(len(json.loads(index.read_text()).get("kitty", []))
                   for index in (server.home / "gathering").glob("*/classes.json"))

    async def student(server) -> list[int]:
        tab = GateClient(server, "student")
        await tab.connect()
        await tab.run_page("classes")
        await tab.submit("classes", "New class name", "kitty", "Add the class")
        await tab.run_page("classes")
        box = next(w for w in tab.uploader_ids if w.endswith("class_photos_kitty"))
        given = WidgetState(id=box)
        given.chat_input_value.data = ""  # what the browser sends with files and no words
        for i in range(6):
            info = await tab.upload(f"phone{i}.jpg", jpeg_bytes(i % 2, i, size=200))
            given.chat_input_value.file_uploader_state.uploaded_file_info.append(info)
        await tab.run_page("classes", widgets=[given])
        counts = [held(server)]
        await tab.run_page("classes", widgets=[WidgetState(id=tab.widget_ids["Remove class"], trigger_value=True)])
        await tab.submit("classes", "New class name", "kitty", "Add the class")
        counts.append(held(server))
        again = WidgetState(id=box)
        again.chat_input_value.CopyFrom(given.chat_input_value)
        await tab.run_page("classes", widgets=[again])  # the same upload ids: nothing left to add
        counts.append(held(server))
        assert not tab.exceptions, tab.exceptions
        await tab.close()
        return counts

    server = bs.Server(REPO, Path(shared_zip), Path(shared_weights), workers=0)
    server.env["CATDOG_WARM"] = "0"
    try:
        server.start()
        assert asyncio.run(student(server)) == [6, 0, 0]
    finally:
        server.stop()

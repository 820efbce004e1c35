"""`catdog classroom` for real: the command on 127.0.0.1 and a free port, its door tried with raw
clients (a stranger's websocket, upload and metrics; a hundred guessing clients; a forged widget
state), a pass kept across reconnects, SIGTERM, and the whole path in Chromium under a
non-localhost name: sign in, a camera snapshot classified, the Join page's QR code read back, the
same page over plain HTTP, and Ctrl-C."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog_core import board, classroom, door, runs
from conftest import REPO, draw_image

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_door import PASSWORD, TEACHER, ClassServer, DoorClient, GateClient, door_burst  # noqa: E402
from support.servers import start_classroom as start  # noqa: E402
from bench_server import processes_of_home  # noqa: E402

pytestmark = pytest.mark.browser  # real servers of their own, like the browser tests


@pytest.fixture(scope="module")
def class_server(tmp_path_factory, synthetic_data):
    root = tmp_path_factory.mktemp("class")
    server = start(root / "home", root / "tmp", CATDOG_DATA_DIR=str(synthetic_data))
    yield server
    server.stop(signal.SIGTERM)


def let_in(server: ClassServer, password: str, limit: float = 40.0) -> str:
    """The pass the password gets, trying again while the door limits guesses (another test's burst)."""
    deadline = time.time() + limit
    while True:
        token = server.login(password)
        if token is not None or time.time() > deadline:
            assert token is not None, "the right password was never let in"
            return token
        time.sleep(1.0)


def service_folders(temp: Path) -> list[Path]:
    """The model service's socket folders in a server's temp folder (TensorFlow leaves files of its own)."""
    return sorted(temp.glob("catdog-service-*"))


def server_log(server: ClassServer) -> str:
    return server.log.read_text(errors="replace")


def test_a_stranger_gets_no_session_no_upload_no_media_and_no_metrics(class_server):
    with pytest.raises(Exception, match="403"):
        asyncio.run(DoorClient(class_server, "stranger", None).connect())  # no websocket: no session id
    # Fifty megabytes to an upload URL: refused before Streamlit sees it (nothing stored, 0 bytes read).
    status, sent = class_server.put_unauthenticated(50)
    assert status == 403 and sent < 50 * 2**20
    for path in ("/media/0123456789abcdef.png", "/_stcore/health", "/_stcore/metrics", "/static/js/index.js"):
        assert _get(class_server, path)[0] == 403, path
    assert _get(class_server, "/training")[:2] == (303, "/login?next=%2Ftraining")
    for password in (PASSWORD, TEACHER):  # metrics are for no one, teacher included
        assert _get(class_server, "/_stcore/metrics", let_in(class_server, password))[0] == 403
    assert _get(class_server, "/training", let_in(class_server, PASSWORD))[0] == 200


def _get(server: ClassServer, path: str, token: str | None = None) -> tuple[int, str]:
    import http.client

    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(), timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": f"{classroom.PASS_COOKIE}={token}"} if token else {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("location") or ""
    finally:
        conn.close()


def test_a_hundred_guessing_clients_get_at_most_one_checked_guess_a_second(class_server):
    """A hundred new clients at once, each from a loopback address of its own (so the per-address
    limit cannot be what holds them): the server checks at most its burst and then one a second;
    the right password works again within 30 s of the burst; the log names no guess."""
    out = asyncio.run(door_burst(class_server, clients=100, seconds=8.0))
    assert out["other"] == 0, out
    assert out["limited"] > out["checked"] > 0, out
    assert out["checked"] <= door.SERVER_BURST + door.SERVER_RATE * out["seconds"] + 1, out
    assert out["right_status"] == 303 and out["right_after"] <= 30, out
    log = server_log(class_server)
    assert "wrong class password from 127.0." in log and "refused" in log
    assert not re.search(r"wrong-\d+-\d+", log)


def test_a_pass_is_the_session_identity_across_reconnects(class_server):
    """The name a student gives the board is kept under their pass's id: a new connection with the
    same pass (a reload, a reconnect) finds it; another student's pass does not."""
    token, other = let_in(class_server, PASSWORD), let_in(class_server, PASSWORD)

    async def visit(pass_token: str, name: str | None) -> str:
        tab = DoorClient(class_server, "student", pass_token)
        await tab.connect()
        await tab.run_page("board")
        if name is not None:
            await tab.submit("board", "Your name on the board", name, "Save the name")
        shown = tab.defaults.get("Your name on the board", "")
        await tab.close()
        return shown

    assert asyncio.run(visit(token, "Ada")) == ""
    assert asyncio.run(visit(token, None)) == "Ada"  # a new websocket session, the same student
    assert asyncio.run(visit(other, None)) == ""
    owner = classroom.read_pass(classroom.server_secret(class_server.home / "classroom"), token).owner
    assert board.names(class_server.home) == {owner: "Ada"}


def test_a_forged_widget_state_writes_no_traceback(class_server):
    """A student's own websocket sending a state no widget has (the in-app gate's flag, a role):
    before, every one wrote an ~80-line traceback to the server's log. Now the page says one
    sentence and the log stays clean; a reload (a new session) is the page again."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    token = let_in(class_server, PASSWORD)

    async def forge() -> tuple[list[str], list[str], list[str]]:
        tab = DoorClient(class_server, "forger", token)
        await tab.connect()
        await tab.run_page("board")
        seen = []
        for forged in (WidgetState(id="class_password_ok", bool_value=True),
                       WidgetState(id="_role", string_value="teacher")):
            await tab.run_page("board", widgets=[forged])
            seen.append(list(tab.markdown))
        await tab.close()
        fresh = DoorClient(class_server, "reloaded", token)
        await fresh.connect()
        await fresh.run_page("board")
        await fresh.close()
        return seen, list(fresh.markdown), tab.exceptions + fresh.exceptions

    seen, after, exceptions = asyncio.run(forge())
    assert exceptions == []
    assert all(m == ["This page got a message it could not read, so it was not drawn; reload the page."]
               for m in seen), seen
    assert any(m.startswith("Every model trained on the data") for m in after), after  # the board again
    assert "Traceback" not in server_log(class_server) and "KeyError" not in server_log(class_server)


def test_a_forged_widget_state_writes_no_traceback_behind_the_in_app_form_either(tmp_path):
    """Plain `streamlit run app.py` with CATDOG_CLASS_PASSWORD (one laptop, or the class before the
    door): a session that never gave the password forges the form's own flag."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    from support.servers import streamlit_server

    with streamlit_server(tmp_path, CATDOG_CLASS_PASSWORD=PASSWORD, CATDOG_HOME=str(tmp_path / "home")) as url:
        class Plain:  # what the protocol client needs of a server
            port = int(url.rsplit(":", 1)[1])

            def note_run(self):
                pass

        async def forge() -> tuple[list[str], list[str]]:
            tab = GateClient(Plain(), "forger")
            await tab.connect()
            await tab.run_page("board")
            await tab.run_page("board", widgets=[WidgetState(id="class_password_ok", bool_value=True)])
            seen = list(tab.markdown)
            await tab.close()
            return seen, tab.exceptions

        seen, exceptions = asyncio.run(forge())
    assert exceptions == [] and seen == ["This page got a message it could not read, so it was not drawn; reload "
                                         "the page."], (seen, exceptions)
    assert "Traceback" not in (tmp_path / "streamlit.log").read_text()


def test_sigterm_stops_everything_it_started_and_the_home_is_private(tmp_path, synthetic_data):
    home, temp = tmp_path / "home", tmp_path / "tmp"
    server = start(home, temp, CATDOG_DATA_DIR=str(synthetic_data))
    try:
        token = let_in(server, PASSWORD)

        async def visit_home() -> None:
            tab = DoorClient(server, "student", token)
            await tab.connect()
            await tab.run_page("home")  # loads the dataset through the model service
            await tab.close()

        asyncio.run(visit_home())
        assert len(service_folders(temp)) == 1, list(temp.iterdir())
        assert len(processes_of_home(home)) >= 3  # the command, the server, the service's lane
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0
    assert processes_of_home(home) == []
    assert service_folders(temp) == []
    loose = [f"{p.relative_to(home)} {p.stat().st_mode & 0o777:o}" for p in [home, *home.rglob("*")]
             if p.stat().st_mode & 0o077]
    assert loose == []


# ---------------------------------------------------------------- the whole path in Chromium


def fake_camera(target: Path) -> np.ndarray:
    """A drawn 'cats' picture (class 0: a warm background, a bright disc) as Chromium's fake camera;
    returns the frame it shows."""
    from support.browser import fake_camera_file

    photo = target.with_suffix(".png")
    Image.fromarray(draw_image(0, np.random.default_rng(7), size=240)).resize((320, 240)).save(photo)
    return fake_camera_file(photo, target)


def test_a_class_in_chromium_over_https_and_not_over_http(tmp_path, isolated_home, trained_transfer, synthetic_data):
    from support.browser import CHROMIUM, CHROMIUM_ARGS, FAKE_CAMERA_ARGS, assert_answer_drawn_live, shoot, wait_idle
    from support.servers import streamlit_server

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    zxingcpp = pytest.importorskip("zxingcpp")
    expect = playwright.expect
    expect.set_options(timeout=30_000)
    data, result = trained_transfer
    runs.save_run(result, data.describe())
    camera_frame = fake_camera(tmp_path / "cat.y4m")
    temp = tmp_path / "tmp"
    server = start(isolated_home, temp, CATDOG_DATA_DIR=str(synthetic_data))
    url = server.info["urls"][0]
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_CAMERA_ARGS + [
                "--host-resolver-rules=MAP classroom.test 127.0.0.1", "--ignore-certificate-errors",
                f"--use-file-for-fake-video-capture={tmp_path / 'cat.y4m'}"])
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.set_default_timeout(60_000)
                secure = f"https://classroom.test:{server.port}"
                page.goto(f"{secure}/classify")
                expect(page.get_by_role("button", name="Enter")).to_be_visible()
                assert page.url.startswith(f"{secure}/login")
                shoot(page, "classroom-login")
                page.get_by_label("Class password").fill(PASSWORD)
                page.get_by_role("button", name="Enter").click()
                expect(page.get_by_role("heading", name="Classify your own photos")).to_be_visible()
                assert page.url == f"{secure}/classify"
                (cookie,) = [c for c in context.cookies() if c["name"] == classroom.PASS_COOKIE]
                assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
                assert page.evaluate("() => window.isSecureContext && typeof navigator.mediaDevices")
                wait_idle(page)
                page.get_by_test_id("stRadio").get_by_text("snapshot", exact=True).click()
                page.get_by_role("button", name="Take Photo").click()
                expect(page.get_by_role("heading", name="cats")).to_be_visible(timeout=120_000)
                wait_idle(page)
                assert page.get_by_test_id("stException").count() == 0
                shoot(page, "classroom-classify-snapshot")
                # The live camera: streamlit-webrtc's frames come back with the answer drawn over them.
                page.get_by_test_id("stRadio").get_by_text("live", exact=True).click()
                wait_idle(page)
                page.frame_locator('iframe[title*="webrtc"]').get_by_role("button", name="START").click()
                assert_answer_drawn_live(page, camera_frame, "cats", ["cats", "dogs"])
                page.frame_locator('iframe[title*="webrtc"]').get_by_role("button", name="STOP").click()
                page.get_by_test_id("stRadio").get_by_text("off", exact=True).click()
                wait_idle(page)

                page.get_by_test_id("stSidebar").get_by_role("link", name="Join", exact=True).click()
                expect(page.get_by_role("heading", name="Join the class")).to_be_visible()
                wait_idle(page)
                body = page.get_by_test_id("stMain").inner_text()
                assert url in body and PASSWORD in body and TEACHER not in body
                assert "not private" in body
                code = Image.open(io.BytesIO(page.get_by_test_id("stImage").locator("img").first.screenshot()))
                assert [r.text for r in zxingcpp.read_barcodes(code)] == [url]
                for width in (1280, 1400):
                    page.set_viewport_size({"width": width, "height": 900})
                    shoot(page, f"classroom-join-{width}")
                page.get_by_test_id("stSidebar").get_by_text("Presenter mode").click()
                wait_idle(page)
                shoot(page, "classroom-join-presenter")

                # The same app over plain HTTP on a name that is not this machine: no camera, and why.
                with streamlit_server(tmp_path, CATDOG_HOME=str(isolated_home),
                                      CATDOG_DATA_DIR=str(synthetic_data)) as plain:
                    port = plain.rsplit(":", 1)[1]
                    other = browser.new_page(viewport={"width": 1280, "height": 900})
                    other.goto(f"http://classroom.test:{port}/classify")
                    expect(other.get_by_role("heading", name="Classify your own photos")).to_be_visible()
                    wait_idle(other)
                    sentence = other.get_by_text("Browsers give a camera only to pages served over https")
                    expect(sentence).to_be_visible()
                    assert url in sentence.inner_text()
                    assert other.get_by_test_id("stRadio").get_by_text("snapshot", exact=True).count() == 0
                    assert other.get_by_test_id("stCameraInput").count() == 0
                    shoot(other, "classroom-classify-http")
                    other.close()
            finally:
                browser.close()
    finally:
        code = server.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0
    deadline = time.time() + 30  # the plain server's model service ends when its server has gone
    while processes_of_home(isolated_home) and time.time() < deadline:
        time.sleep(0.2)
    assert processes_of_home(isolated_home) == []
    assert service_folders(temp) == []

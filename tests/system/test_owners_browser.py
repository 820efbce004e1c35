"""Issue 32 in Chromium: two students and the teacher in three browser contexts of one
`catdog classroom`. A student finds Stop, Rename and Delete on their own work only; the
teacher finds them on everyone's and stops the whole queue."""

from __future__ import annotations

import fcntl
import os
import re
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from catdog_core import classroom, jobs, runs
from catdog_core.augment import NO_AUGMENTATION
from support.servers import start_classroom as start

pytestmark = pytest.mark.browser


def sign_in(browser, server, password: str):
    """A new context (a student's own browser) past the door; returns (page, its owner string)."""
    from support.browser import wait_idle

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"https://127.0.0.1:{server.port}/training")
    page.get_by_label("Class password").fill(password)
    page.get_by_role("button", name="Enter").click()
    page.get_by_role("heading", name="Train a model").wait_for()
    wait_idle(page)
    (cookie,) = [c for c in context.cookies() if c["name"] == classroom.PASS_COOKIE]
    found = classroom.read_pass(classroom.server_secret(classroom.class_folder(server.home)), cookie["value"])
    return page, found.owner


def queue_stops(page):
    """The Stop buttons of the queue's rows (their text follows the icon's name), for expect()."""
    return page.get_by_test_id("stMain").get_by_role("button").filter(has_text=re.compile(r"^\s*stop_circle\s*Stop\s*$"))


def test_two_students_and_the_teacher_in_chromium(tmp_path, isolated_home, trained_transfer, synthetic_data):
    from bench_door import PASSWORD, TEACHER
    from support.browser import CHROMIUM, CHROMIUM_ARGS, shoot, wait_idle

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    expect = playwright.expect
    # This test holds the worker slot's lock, so the server starts no worker: the queue stays as made here.
    (isolated_home / "locks").mkdir(parents=True, exist_ok=True)
    lock = os.open(isolated_home / "locks" / "worker-0.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    server = start(isolated_home, tmp_path / "tmp", CATDOG_DATA_DIR=str(synthetic_data))
    data, result = trained_transfer
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + ["--ignore-certificate-errors"])
            try:
                ann, ann_owner = sign_in(browser, server, PASSWORD)
                bob, bob_owner = sign_in(browser, server, PASSWORD)
                queue = jobs.get_queue(isolated_home)
                spec = jobs.JobSpec("transfer", 3, NO_AUGMENTATION, str(synthetic_data), label="a long one")
                for who in (ann_owner, bob_owner):
                    queue.submit(replace(spec, label=f"{spec.label} {who[-4:]}"), who)
                    runs.save_run(result, data.describe(), {"owner": who, "name": f"run of {who[-4:]}"})
                for page, other in ((ann, bob_owner), (bob, ann_owner)):
                    page.reload()
                    page.get_by_text("Rename or delete a run").wait_for()
                    wait_idle(page)
                    expect(queue_stops(page)).to_have_count(1)  # their own job's, not the classmate's
                    assert page.get_by_text(f"a long one {other[-4:]}").count() == 1  # seen, not stoppable
                    page.get_by_text("Rename or delete a run").click()
                    page.get_by_label("Run", exact=True).click()
                    offered = page.get_by_role("option").all_inner_texts()
                    page.keyboard.press("Escape")
                    assert not any(other[-4:] in o for o in offered), offered
                shoot(ann, "owners-student-training")
                teacher, _ = sign_in(browser, server, TEACHER)
                teacher.get_by_text("Rename or delete a run").wait_for()
                wait_idle(teacher)
                expect(queue_stops(teacher)).to_have_count(2)
                teacher.get_by_role("button", name="Stop all…").click()
                teacher.get_by_role("button", name="Yes, stop them all").click()
                wait_idle(teacher)
                assert not queue.active()
                shoot(teacher, "owners-teacher-stopped-all")
            finally:
                browser.close()
    finally:
        server.stop(signal.SIGINT)
        os.close(lock)

"""Issue 32: each student's work is theirs. Every row of the issue's table, tried as the student who
presses every button would, through the library (where the checks live) and through the pages."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from catdog_core import board, gathering, jobs, names, owners, runs, uploads
from catdog_core.augment import NO_AUGMENTATION
from catdog_core.errors import CatdogError
from catdog_core.owners import Actor, NotYours
from conftest import APP, TIMEOUT, button, jpeg_bytes, texts

ANN, BOB = "session " + "a" * 32, "session " + "b" * 32
STUDENT_ANN, STUDENT_BOB, TEACHER = Actor(ANN), Actor(BOB), Actor("session " + "t" * 32, teacher=True)


def spec(epochs: int = 2, recipe: str = "transfer") -> jobs.JobSpec:
    return jobs.JobSpec(recipe, epochs, NO_AUGMENTATION, label=f"{recipe} {epochs}")


def test_a_student_stops_their_own_jobs_only_and_the_teacher_any():
    queue = jobs.get_queue()
    ann, bob = queue.submit(spec(1), ANN), queue.submit(spec(2), BOB)
    with pytest.raises(NotYours, match="another student's"):
        queue.stop(bob, STUDENT_ANN)
    assert queue.get(bob).state == jobs.QUEUED
    assert queue.stop_all(STUDENT_ANN) == 1  # "Stop all mine": Ann's job, not Bob's
    assert queue.get(ann).state == jobs.STOPPED and queue.get(bob).state == jobs.QUEUED
    cli = queue.submit(spec(3))  # queued from the terminal: the teacher's
    with pytest.raises(NotYours, match="the teacher's"):
        queue.stop(cli, STUDENT_BOB)
    assert queue.stop_all(TEACHER) == 2
    assert {queue.get(i).state for i in (bob, cli)} == {jobs.STOPPED}


def test_a_student_has_a_budget_of_jobs_and_epochs_the_teacher_has_none():
    queue, budget = jobs.get_queue(), owners.STUDENT_BUDGET
    for n in range(budget.active_jobs):
        queue.submit(spec(n + 1), ANN, budget=budget)
    with pytest.raises(CatdogError, match=f"a student may have {budget.active_jobs} at once"):
        queue.submit(spec(9), ANN, budget=budget)
    assert queue.submit(spec(1), ANN, budget=budget) == queue.jobs()[-1].job_id  # a double click: the same job
    with pytest.raises(CatdogError, match=f"may have {budget.queued_epochs} at once"):
        queue.submit(spec(budget.queued_epochs + 1), BOB, budget=budget)
    with pytest.raises(CatdogError):  # a group is queued whole or not at all
        queue.submit_many([spec(60), spec(61)], BOB, budget=budget)
    assert not [j for j in queue.active() if j.owner == BOB]
    curve = jobs.curve_spec("transfer")  # each point of a learning curve is a training: 10 epochs x 7
    assert owners.job_epochs(curve.epochs, 0, len(curve.sizes)) == 70
    for n in range(10):  # the teacher (no budget) is not bounded
        queue.submit(spec(50 + n), TEACHER.owner)


def test_150_presses_at_once_never_pass_the_budget():
    """One student pressed Start 150 times in 25 s: 149 active jobs, 11,324 epochs."""
    queue, budget = jobs.get_queue(), owners.STUDENT_BUDGET
    refused = []

    def press(n):
        try:
            queue.submit(spec(1 + n % 150), ANN, budget=budget)
        except CatdogError:
            refused.append(n)

    threads = [threading.Thread(target=press, args=(n,)) for n in range(150)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    mine = [j for j in queue.active() if j.owner == ANN]
    assert len(mine) <= budget.active_jobs and sum(j.spec.epochs for j in mine) <= budget.queued_epochs
    assert len(refused) == 150 - len(mine)


@pytest.fixture
def saved_runs(trained_transfer):
    data, result = trained_transfer
    made = {}
    for who in (ANN, BOB, ""):
        extra = {"owner": who} if who else {}
        made[who] = runs.save_run(replace(result), data.describe(), extra)
    return made


def test_runs_are_renamed_and_deleted_by_their_owner_or_the_teacher(saved_runs):
    with pytest.raises(NotYours):
        runs.rename_run(saved_runs[BOB], "Teacher's model", STUDENT_ANN)
    with pytest.raises(NotYours):
        runs.delete_run(saved_runs[BOB], STUDENT_ANN)
    with pytest.raises(NotYours, match="the teacher's"):
        runs.delete_run(saved_runs[""], STUDENT_ANN)  # a command-line run
    assert saved_runs[BOB].path.is_dir()
    assert runs.rename_run(saved_runs[ANN], "first try", STUDENT_ANN).short_name == "first try"
    runs.delete_run(saved_runs[BOB], TEACHER)
    assert not saved_runs[BOB].path.exists()


@pytest.mark.parametrize("spoof", ["Teacher's model \u202e(checked)\u202c", "zero\u200bwidth", "Ada (you)", "teacher",
                                   "  Command line ", "Bob (YOURS)"])
def test_run_and_board_names_refuse_what_would_pass_for_someone_else(saved_runs, spoof):
    with pytest.raises(names.InvalidName):
        runs.rename_run(saved_runs[ANN], spoof, STUDENT_ANN)
    with pytest.raises(names.InvalidName):
        board.set_name(ANN, spoof)


def test_line_breaks_in_a_run_name_become_spaces(saved_runs):
    for odd in ("two\u0085lines", "two\u2028lines", "two\nlines"):
        assert runs.rename_run(saved_runs[ANN], odd, STUDENT_ANN).short_name == "two lines"


def zip_of(tag: int) -> bytes:
    return uploads.zip_of_classes({name: [(f"{i}.jpg", jpeg_bytes(label, 1000 * tag + i, size=64)) for i in range(6)]
                                   for label, name in enumerate(("apples", "pears"))})


def test_the_same_photos_make_the_same_zip_at_any_time(monkeypatch):
    first = zip_of(1)
    later = __import__("time").time() + 3600
    monkeypatch.setattr("time.time", lambda: later)  # zipfile dates an entry by the clock unless told
    assert zip_of(1) == first


def test_uploads_are_seen_and_removed_by_their_owner_and_the_teacher():
    alice = uploads.import_zip(zip_of(1), "alice_selfies.zip", uploader=ANN)
    bob = uploads.import_zip(zip_of(2), "bob.zip", uploader=BOB)
    assert [s.path for s in uploads.list_sets(STUDENT_ANN)] == [alice]
    assert {s.path for s in uploads.list_sets(TEACHER)} == {alice, bob}
    with pytest.raises(NotYours):
        uploads.delete_set(alice, STUDENT_BOB)
    with pytest.raises(NotYours):
        uploads.share_set(bob, True, STUDENT_BOB)  # only the teacher shares
    uploads.share_set(bob, True, TEACHER)
    assert {s.path for s in uploads.list_sets(STUDENT_ANN)} == {alice, bob}
    with pytest.raises(NotYours):
        uploads.delete_set(bob, STUDENT_ANN)  # shared is not hers to remove
    same = uploads.import_zip(zip_of(1), "alice_selfies.zip", uploader=BOB)  # the same file: Bob's as well
    assert same == alice and alice in {s.path for s in uploads.list_sets(STUDENT_BOB)}
    uploads.delete_set(alice, STUDENT_BOB)  # removed for Bob; Ann keeps hers
    assert alice.is_file() and alice not in {s.path for s in uploads.list_sets(STUDENT_BOB)}
    uploads.delete_set(alice, STUDENT_ANN)
    assert not alice.exists()


def test_a_student_has_a_share_of_the_upload_space(monkeypatch):
    first = uploads.import_zip(zip_of(3), "first.zip", uploader=ANN)
    monkeypatch.setattr(uploads, "STUDENT_SHARE_BYTES", uploads._set_bytes(first) + 1000)
    with pytest.raises(CatdogError, match="each student may keep"):
        uploads.import_zip(zip_of(4), "second.zip", uploader=ANN)
    uploads.import_zip(zip_of(4), "second.zip", uploader=BOB)  # a classmate's set is not refused for it
    assert len(uploads.list_sets(TEACHER)) == 2


def test_photos_being_gathered_are_on_disk_bounded_and_back_after_a_reload(monkeypatch):
    monkeypatch.setattr(gathering, "MAX_BYTES", 3 * len(jpeg_bytes(0, 1, size=200)))
    mine = gathering.Gathering(ANN)
    mine.add_class("sunny")
    problems = mine.add_photos("sunny", [(f"{i}.jpg", jpeg_bytes(0, i, size=200)) for i in range(5)])
    assert len(mine.classes()["sunny"]) == 3 and any("MB on this server" in p for p in problems)
    again = gathering.Gathering(ANN)  # a reload: a new page, the same pass
    assert [p.shown for p in again.classes()["sunny"]] == ["0.jpg", "1.jpg", "2.jpg"]
    assert gathering.Gathering(BOB).classes() == {}
    again.remove_photo("sunny", again.classes()["sunny"][0].file)
    assert len(list(again.folder.glob("*.jpg"))) == 2  # its file goes with it


def student_page(monkeypatch, who: str, page: str) -> AppTest:
    """A class member's session of the in-app gate, past it as a student."""
    monkeypatch.setenv("CATDOG_CLASS_PASSWORD", "tabby-41")
    monkeypatch.setattr(jobs, "ensure_workers", lambda *a, **k: 1)  # the queue stays as these tests made it
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["owner"] = who
    at.run()
    at.text_input(key="class_password_input").input("tabby-41")
    button(at, "Enter").click().run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_the_queue_shows_a_student_stop_buttons_for_their_own_jobs_only(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    queue = jobs.get_queue()
    ann, bob = queue.submit(spec(1), ANN), queue.submit(spec(2), BOB)
    at = student_page(monkeypatch, ANN, "training")
    stops = {b.key for b in at.button if str(b.key).startswith("queue_stop_")}
    assert stops == {f"queue_stop_{ann}"}
    assert not [b for b in at.button if b.key == "stop_all"]  # one job of hers: no "Stop all mine"
    assert "you" in texts(at.markdown) and any("session bbbb" == m for m in texts(at.markdown))
    queue.submit(spec(3), ANN)
    at.run()
    assert button(at, "Stop all mine…")
    button(at, "Stop all mine…").click().run()
    button(at, "Yes, stop them all").click().run()
    assert queue.get(bob).state == jobs.QUEUED and queue.get(ann).state == jobs.STOPPED


def test_a_student_is_offered_their_own_runs_to_rename_or_delete(monkeypatch, synthetic_data, saved_runs):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    at = student_page(monkeypatch, ANN, "training")
    offered = at.selectbox(key="manage_run").options
    assert len(offered) == 1 and saved_runs[ANN].run_id in offered[0]
    at.text_input(key="manage_name").input("Ada (you)")
    button(at, "Rename").click().run()
    assert any("the app writes that itself" in e for e in texts(at.error)) and not at.exception


def test_a_student_exports_their_own_runs_and_the_command_lines_not_a_classmates(monkeypatch, synthetic_data,
                                                                                   saved_runs):
    assert owners.Actor(ANN).may_copy("") and not owners.Actor(ANN).may_copy(BOB) and TEACHER.may_copy(BOB)
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    at = student_page(monkeypatch, ANN, "training")
    offered = " ".join(at.selectbox(key="export_run").options)
    assert saved_runs[ANN].run_id in offered and saved_runs[""].run_id in offered
    assert saved_runs[BOB].run_id not in offered


def test_a_student_past_the_budget_reads_one_sentence(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    for n in range(owners.STUDENT_BUDGET.active_jobs):
        jobs.get_queue().submit(spec(n + 1), ANN)
    at = student_page(monkeypatch, ANN, "training")
    button(at, "Quick transfer").click().run()
    assert any("a student may have 4 at once" in e for e in texts(at.error)) and not at.exception


def test_gathered_photos_nobody_can_reach_any_more_are_swept(tmp_path):
    """A session finds its gathered photos through its pass; once no pass can be that old, they go."""
    import os
    import time

    from catdog_core import classroom

    assert gathering.KEPT_DAYS * 86400 > max(classroom.PASS_SECONDS.values())
    old, new = gathering.Gathering(ANN, tmp_path), gathering.Gathering(BOB, tmp_path)
    for each in (old, new):
        each.add_class("sunny")
        each.add_photos("sunny", [("a.jpg", jpeg_bytes(0, 1))])
    then = time.time() - (gathering.KEPT_DAYS + 1) * 86400
    for path in [old.folder, *old.folder.iterdir()]:
        os.utime(path, (then, then))
    assert gathering.sweep(tmp_path) == [old.folder]
    assert not old.folder.exists() and new.classes()["sunny"]


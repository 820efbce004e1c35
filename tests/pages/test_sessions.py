"""Many sessions at once: six AppTest sessions in threads browse, preview and
classify while two of them start training. Both trainings queue (then are
stopped), no page sees an exception, every prediction matches the model's own
answer, and memory comes back near where it started once the queue is empty.
"""

from __future__ import annotations

import gc
import threading

import pytest

from streamlit.testing.v1 import AppTest

from catdog_core import jobs, predict, runs
from catdog_core.augment import NO_AUGMENTATION
from conftest import APP, TIMEOUT, photo_bytes, rss_mb, session_job_id, texts
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)

SESSIONS = 6
TRAINERS = (2, 5)  # these sessions also start a training


RUN_LOCK = threading.Lock()


def step(at: AppTest, change=None) -> AppTest:
    """Apply a change (a widget value, a page switch) and run the script, one run at a time:
    AppTest keeps per-run state in process globals, so two of its script runs cannot overlap.
    The sessions still interleave run by run, share every cache, and run beside the workers."""
    with RUN_LOCK:
        if change is not None:
            change()
        return at.run()


def one_session(i: int, outcome: dict) -> None:
    """A student's walk through the app; records exceptions, predictions and jobs."""
    problems = outcome.setdefault("problems", [])
    try:
        at = step(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
        problems += [e.value for e in at.exception]
        step(at, lambda: at.switch_page("pages/dataset.py"))
        step(at, lambda: at.switch_page("pages/augmentation.py"))
        step(at, lambda: at.slider(key="aug_rotation").set_value(0.05 * (i % 8)))
        problems += [e.value for e in at.exception]
        if i in TRAINERS:
            step(at, lambda: at.switch_page("pages/training.py"))
            at.session_state["augment_settings"] = NO_AUGMENTATION
            at.radio(key="recipe").set_value("baseline")  # baseline keeps the latest transfer run the same
            at.number_input(key="epochs").set_value(3)
            step(at, lambda: [b for b in at.button if b.label == "Start"][0].click())
            outcome.setdefault("jobs", []).append(session_job_id(at))
            problems += [e.value for e in at.exception]
        step(at, lambda: at.switch_page("pages/classify.py"))
        data = photo_bytes(i % 2, 100 + i)
        step(at, lambda: at.file_uploader(key="classify_files").set_value([(f"photo{i}.jpg", data, "image/jpeg")]))
        problems += [e.value for e in at.exception] + [e.value for e in at.error]
        shown = [m[4:].split()[0] for m in texts(at.markdown) if m.startswith("### ")]
        outcome.setdefault("predictions", []).append((data, shown))
    except Exception as exc:  # an AppTest failure is a finding too
        problems.append(f"session {i}: {type(exc).__name__}: {exc}")


@pytest.mark.long  # 120 s in the suite; the class itself is measured on the real server (tests/system/test_load.py, bench_class)
def test_six_sessions_at_once(monkeypatch, synthetic_data, trained_transfer):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    warm: dict = {}
    one_session(0, warm)  # the first walk fills the process-wide caches
    assert not warm["problems"], warm["problems"]
    gc.collect()
    before = rss_mb()

    outcome: dict = {}
    lock = threading.Lock()

    def guarded(i):
        mine: dict = {}
        one_session(i, mine)
        with lock:
            for key, values in mine.items():
                outcome.setdefault(key, []).extend(values)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert not outcome.get("problems"), outcome.get("problems")

    # Every page showed what the model itself says about that photo.
    model = runs.load_model(run)
    assert len(outcome["predictions"]) == SESSIONS
    for data_bytes, shown in outcome["predictions"]:
        _, expected = predict.classify_bytes(model, data_bytes, run.class_names)
        assert shown == [expected.label]

    # The two trainings were queued, one behind the other (their order and the worker's one-at-a-time
    # rule are tested in test_jobs.py); they are stopped here rather than waited for.
    queue = jobs.get_queue()
    assert len(outcome["jobs"]) == 2 and len({queue.get(j).job_id for j in outcome["jobs"]}) == 2
    queue.stop_all()
    ended = [queue.wait(job_id, timeout=300) for job_id in outcome["jobs"]]
    assert all(not j.active for j in ended), [j.state for j in ended]

    gc.collect()
    after = rss_mb()
    print(f"\n{SESSIONS} sessions: memory {before:.0f} MB before, {after:.0f} MB after the queue emptied "
          f"({after - before:+.0f} MB)")
    assert after - before < 400, f"memory grew by {after - before:.0f} MB"

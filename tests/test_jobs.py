"""Tests for catdog_core.jobs: one training job at a time in a background worker."""

from __future__ import annotations

import time

import pytest

from catdog_core import jobs, runs, training
from catdog_core.augment import NO_AUGMENTATION
from catdog_core.jobs import DONE, FAILED, QUEUED, RUNNING, STOPPED, JobSpec, JobState, TrainingQueue

TIMEOUT = 120


def wait_until(predicate, timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def queue():
    q = TrainingQueue()
    yield q
    # Leave no job running into the next test (each test has its own CATDOG_HOME).
    for job in q.jobs():
        q.stop(job.job_id)
    for job in q.jobs():
        q.wait(job.job_id, timeout=TIMEOUT)


def spec(data, recipe="baseline", epochs=1, **kw) -> JobSpec:
    return JobSpec(recipe, epochs, NO_AUGMENTATION, str(data), min_steps=0, **kw)


def test_jobs_run_one_at_a_time_in_order(queue, synthetic_data):
    first = queue.submit(spec(synthetic_data, label="first"))
    second = queue.submit(spec(synthetic_data, label="second"))
    third = queue.submit(spec(synthetic_data, label="third"))
    assert queue.get(second).queue_position in (1, 2) and queue.get(third).state == QUEUED

    wait_until(lambda: queue.get(first).state == RUNNING, what="the first job to start")
    running = queue.get(second)
    assert running.state == QUEUED and running.queue_position == 1
    assert queue.get(third).queue_position == 2
    assert queue.current().job_id == first

    states = [queue.wait(j, timeout=TIMEOUT) for j in (first, second, third)]
    assert [s.state for s in states] == [DONE, DONE, DONE]
    # Strictly one after another, in the order submitted.
    for earlier, later in zip(states, states[1:]):
        assert earlier.finished <= later.started
    assert all(s.queue_position == 0 and len(s.history) == 1 and s.run_id for s in states)
    saved = {r.run_id: r for r in runs.list_runs().runs}
    assert [saved[s.run_id].extra["label"] for s in states] == ["first", "second", "third"]
    assert queue.current() is None


def test_stopping_a_queued_job_cancels_it(queue, synthetic_data):
    first = queue.submit(spec(synthetic_data))
    second = queue.submit(spec(synthetic_data))
    third = queue.submit(spec(synthetic_data))
    wait_until(lambda: queue.get(first).state == RUNNING, what="the first job to start")
    assert queue.get(third).queue_position == 2
    queue.stop(second)
    cancelled = queue.get(second)
    assert cancelled.state == STOPPED and cancelled.started is None and not cancelled.active
    assert "Cancelled" in cancelled.phase
    assert queue.get(third).queue_position == 1  # moved up
    queue.stop(first)  # the running one ends after its current batch; then the worker moves on
    assert queue.wait(first, timeout=TIMEOUT).state == STOPPED
    assert queue.wait(third, timeout=TIMEOUT).state == DONE
    after = queue.get(second)
    assert after.state == STOPPED and after.started is None and after.history == [] and after.run_id is None
    queue.stop(second)  # stopping a finished job again is harmless
    assert queue.get(second).state == STOPPED


def test_stopping_a_running_job_keeps_finished_epochs_and_saves(queue, synthetic_data):
    job_id = queue.submit(spec(synthetic_data, epochs=30))
    wait_until(lambda: len(queue.get(job_id).history) >= 1, what="the first epoch")
    queue.stop(job_id)
    job = queue.wait(job_id, timeout=TIMEOUT)
    assert job.state == STOPPED and job.error is None
    assert 1 <= len(job.history) < 30
    assert job.phase == f"Stopped after {len(job.history)} epochs"
    run = runs.find_run(job.run_id)
    assert run.stopped and run.epochs == len(job.history) and run.epochs_requested == 30
    assert [h["epoch"] for h in run.history] == list(range(1, len(job.history) + 1))


def test_stopping_before_the_first_epoch_saves_nothing(queue, synthetic_data):
    job_id = queue.submit(spec(synthetic_data, epochs=30))
    wait_until(lambda: queue.get(job_id).state == RUNNING, what="the job to start")
    queue.stop(job_id)
    job = queue.wait(job_id, timeout=TIMEOUT)
    assert job.state == STOPPED and job.history == [] and job.run_id is None
    assert "nothing was saved" in job.phase
    assert runs.list_runs().runs == []


def test_a_failing_job_does_not_stop_the_worker(queue, synthetic_data, tmp_path):
    bad = queue.submit(JobSpec("baseline", 1, NO_AUGMENTATION, str(tmp_path / "no-such-folder"), min_steps=0))
    good = queue.submit(spec(synthetic_data))
    failed = queue.wait(bad, timeout=TIMEOUT)
    assert failed.state == FAILED and failed.phase == "Failed"
    assert failed.error.startswith("The dataset path") and "does not exist" in failed.error
    assert "Traceback" not in failed.error
    assert queue.wait(good, timeout=TIMEOUT).state == DONE


def test_an_unexpected_error_is_caught_too(queue, synthetic_data, monkeypatch):
    from catdog_core import training

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(training, "train", boom)
    job = queue.wait(queue.submit(spec(synthetic_data)), timeout=TIMEOUT)
    assert job.state == FAILED
    assert job.error == "Training failed unexpectedly (RuntimeError: out of memory)."


def test_job_reports_progress_while_running(queue, synthetic_data):
    job_id = queue.submit(spec(synthetic_data, epochs=2))
    seen = set()

    def progressed():
        job = queue.get(job_id)
        if job.state == RUNNING and job.step:
            seen.add((job.epoch, job.step, job.steps))
        return job.state in jobs.FINISHED

    wait_until(progressed, what="the job to finish")
    job = queue.get(job_id)
    assert job.state == DONE and [h["epoch"] for h in job.history] == [1, 2]
    assert seen and all(steps == 2 and 1 <= step <= 2 for _, step, steps in seen)
    assert job.test_accuracy is not None and job.phase == "Finished"


def test_eta_counts_down_within_an_epoch_and_keeps_stages_apart():
    job = JobState(1, JobSpec("transfer", 5, fine_tune_epochs=2))
    assert job.eta() is None  # queued
    job.state = RUNNING
    assert job.eta() is None  # no batch timed yet
    # Epoch 1 of 5 frozen ones, 10 steps, 4 done in 2 s: 0.5 s a step.
    job.stage, job.epochs_total, job.epoch, job.step, job.steps, job.epoch_seconds = "frozen", 7, 1, 4, 10, 2.0
    first = job.eta()
    assert first.seconds == pytest.approx(6 * 0.5 + 4 * 5.0) and not first.whole  # fine-tuning not timed yet
    job.step, job.epoch_seconds = 8, 4.0
    assert job.eta().seconds < first.seconds  # it counts down as batches finish
    # Two frozen epochs took 4 s each: the third is half done.
    job.history = [{"stage": "frozen", "seconds": 4.0}] * 2
    job.epoch, job.step, job.epoch_seconds = 3, 5, 2.0
    assert job.eta().seconds == pytest.approx(2.0 + 2 * 4.0)
    # Fine-tuning: 20 s an epoch is measured on its own batches, not on the fast frozen epochs.
    job.history += [{"stage": "frozen", "seconds": 4.0}] * 3
    job.stage, job.epoch, job.step, job.epoch_seconds = "fine-tune", 6, 2, 4.0
    fine = job.eta()
    assert fine.whole and fine.seconds == pytest.approx(8 * 2.0 + 1 * 20.0)
    job.state = DONE
    assert job.eta() is None


def test_quick_spec_is_the_quick_preset():
    from catdog_core.training import QUICK

    quick = training.quick_spec("/data")
    assert quick.recipe == "transfer" and quick.epochs == QUICK.epochs and quick.data == "/data"
    assert quick.settings.is_identity and quick.use_cache and quick.learning_rate == QUICK.learning_rate

"""Tests for catdog_core.progress: the one progress shape, (done, total, message), end to end."""

from __future__ import annotations

import numpy as np

from catdog_core import features, progress
from catdog_core.lessons import suspects


class _Extractor:
    key = "test-extractor"

    def __call__(self, images):
        return np.asarray(images, np.float32).reshape(len(images), -1)[:, :4]


def test_an_observer_is_a_progress_and_say_fixes_its_words():
    heard = []

    class Heard(progress.Observer):
        def progress(self, done, total, message=""):
            heard.append((message, done, total))

    observer = Heard()
    observer.progress(3, 10, "Decoding")
    progress.say(observer.progress, "Fixed words")(4, 10, "the step's own words")
    observer.phase("Saving")
    assert heard == [("Decoding", 3, 10), ("Fixed words", 4, 10), ("Saving", 0, 0)]
    assert progress.say(None, "nobody listens") is None


def test_library_steps_report_done_total_and_their_words(fresh_cache):
    heard = []
    images = np.zeros((features.FEATURE_CHUNK + 5, 2, 2, 3), np.uint8)
    features.cached_features(_Extractor(), "progress-test", "train", images,
                             lambda done, total, message: heard.append((done, total, message)))
    assert heard == [(features.FEATURE_CHUNK, len(images), "Computing MobileNetV2 features (train)"),
                     (len(images), len(images), "Computing MobileNetV2 features (train)")]
    heard.clear()
    rng = np.random.default_rng(0)
    suspects.out_of_fold(rng.normal(size=(40, 4)), np.arange(40) % 2, 2, folds=4,
                         progress=lambda done, total, message: heard.append((done, total, message)))
    assert heard == [(k, 4, "Training a head per fold") for k in range(1, 5)]


def test_where_a_job_is_reads_the_same_for_every_view():
    """JobState.now(): the batch while batches train (step 0 is only the plan: the phase before it
    shows), else the phase with its count; the job panel and the command line both draw it."""
    from catdog_core.jobs import BatchReport, JobSpec, JobState

    job = JobState(1, JobSpec("transfer", 10), state="running", phase="Decoding photos", phase_done=30, phase_total=120)
    assert (job.now().done, job.now().total, job.now().batch, job.now().fraction) == (30, 120, None, 0.25)
    plan = BatchReport(epoch=1, step=0, steps=63, loss=float("nan"), accuracy=float("nan"), epochs=10)
    job = JobState(1, JobSpec("transfer", 10), state="running", phase="Training", batch=plan)
    assert job.now().batch is None and job.now().total == 0 and job.now().fraction == 0.0
    batch = BatchReport(epoch=2, step=21, steps=63, loss=0.3, accuracy=0.9, epochs=10)
    job = JobState(1, JobSpec("transfer", 10), state="running", phase="Training", batch=batch, phase_done=5, phase_total=9)
    assert job.now().batch is batch and (job.now().done, job.now().total) == (21, 63)


def test_one_throttle_writes_edges_at_once_and_the_rest_every_quarter_second(monkeypatch):
    """The queue's, Ray's and the warm-up's writers share progress.Throttle: a phase without a
    count, its first and last step, and forced writes go at once; steps between wait WRITE_EVERY."""
    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    throttle = progress.Throttle()
    assert throttle.due(count=(0, 10))  # a phase begins
    assert not throttle.due(count=(3, 10))  # too soon
    assert throttle.due(count=(10, 10)) and throttle.due(count=(0, 0)) and throttle.due(force=True)
    clock[0] += progress.WRITE_EVERY
    assert throttle.due(count=(4, 10)) and not throttle.due()


def test_a_job_gives_its_records_back_typed():
    """The queue stores each record as a dict; JobState hands a training job's back as
    EpochReports and a learning curve's as CurvePoints, each kind ignoring the other's."""
    from catdog_core.jobs import JobSpec, JobState

    epoch = progress.EpochReport(1, 2, 0.5, 0.8, 0.4, 0.85, 1.5, "frozen").to_dict()
    point = {**progress.CurvePoint("transfer", 40, 0.9, 0.8, 0.95, 1000, 2.0).to_dict(), "epoch": 1}
    job = JobState(1, JobSpec("transfer", 2), history=[epoch, point])
    assert [e.val_accuracy for e in job.epochs] == [0.85]
    assert [(p.size, p.accuracy) for p in job.points] == [(40, 0.9)]
    assert job.phase == progress.Phase.QUEUED == "Waiting in the queue"

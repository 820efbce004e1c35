"""Tests for catdog_core.progress: the one progress shape, (done, total, message), end to end."""

from __future__ import annotations

import numpy as np

from catdog_core import features, progress
from catdog_core.lessons import suspects


class _Extractor:
    key = "test-extractor"

    def __call__(self, images):
        return np.asarray(images, np.float32).reshape(len(images), -1)[:, :4]


def test_phases_and_say_carry_the_one_shape():
    heard = []
    to_phase = progress.phases(lambda message, done, total: heard.append((message, done, total)))
    to_phase(3, 10, "Decoding")
    progress.say(to_phase, "Fixed words")(4, 10, "the step's own words")
    assert heard == [("Decoding", 3, 10), ("Fixed words", 4, 10)]
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

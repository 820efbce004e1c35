"""A claimed job inside the process that trains it: its progress written to the queue, how it
ended recorded there, what Evaluate shows of its run measured; and the jobs whose process died,
saved from their last checkpoint."""

from __future__ import annotations

import gc
import os
import shutil
import threading
from pathlib import Path

from ..words import count
from ..errors import CatdogError
from .queue import DONE, FAILED, STOPPED, Queue
from ..progress import JobState, Observer, Phase, Throttle
from ..jobspec import AUGCHECK_KIND, CURVE_KIND, SHORTCUT_KIND
from .slots import lock_file, slot_alive, try_lock

ANSWER_KINDS = (CURVE_KIND, AUGCHECK_KIND, SHORTCUT_KIND)  # jobs whose records are answers, not a run


def checkpoint_dir(home: Path, job_id: int) -> Path:
    return home / "jobs" / str(job_id)


class _DbObserver(Observer):
    """training.Observer writing to the queue, throttled (progress.Throttle): every finished
    epoch at once; a stop asked for in the queue sets the stop event."""

    def __init__(self, queue: Queue, job_id: int, stop: threading.Event):
        self.queue, self.job_id, self.stop = queue, job_id, stop
        self.throttle = Throttle()
        self.batch: dict = {}

    def _write(self, force: bool = False, count: tuple[int, int] | None = None, **phase) -> None:
        if self.throttle.due(force, count) and self.queue.update(self.job_id, progress=self.batch, **phase):
            self.stop.set()

    def progress(self, done, total, message=""):
        self._write(count=(done, total), phase=message, done=done, total=total)

    def on_plan(self, r):
        self.batch = r.to_dict()  # the epochs planned; the phase stays what it is
        self._write(force=True)

    def on_batch(self, r):
        self.batch = r.to_dict()
        self._write(force=r.step == r.steps, phase=Phase.TRAINING)

    def on_epoch(self, r):
        self.queue.add_epoch(self.job_id, r.to_dict())
        self._write(force=True)


def _outcome(run) -> tuple[str, str]:
    if run is None:
        return STOPPED, "Stopped before the first epoch finished: nothing was saved"
    if run.stopped:
        return STOPPED, f"Stopped after {count(run.epochs, 'epoch')}"
    return DONE, "Finished"


def measure_saved(run, spec) -> None:
    """What the Evaluate page (and Classify's "none of the above") shows of a run, measured once, here at the worker's low priority right
    after the job ended (its data and base are still in this process): pages then read it from disk
    instead of asking the model service, thirty students at once. A failure only leaves it to the
    service, on the first visit."""
    from .. import dataset as datasets
    from .. import evaluate, novelty, runs

    try:
        data = datasets.load_dataset(spec.data)
        for split in ("test", "validation"):  # validation: the temperature of calibration.py
            if evaluate.remembered(run, data.key, split) is None:  # a frozen-base run's came with it (run_job)
                evaluate.measure_saved(run, runs.load_model(run), data, split)
        novelty.reference_for(novelty.base_extractor(), data)  # "none of the above" on Classify (kept: at once)
    except Exception:  # never the job's outcome: it is recorded already
        pass


def _run_shortcut(spec, observer, stop: threading.Event, report) -> tuple[str, str]:
    """A planted shortcut (kind shortcut, catdog_core.lessons.shortcut): its answer is the job's one record."""
    from .. import dataset as datasets
    from ..lessons.shortcut import Stamp, run_shortcut

    observer.phase(Phase.LOADING)
    data = datasets.load_dataset(spec.data, progress=observer.progress)
    if stop.is_set():
        return STOPPED, "Stopped before it began"
    result = run_shortcut(data, Stamp(**dict(spec.stamp)), weights=spec.weights,
                          progress=observer.progress)
    report(1, result.to_dict())
    return DONE, result.sentence()


def _answer(queue: Queue, job: JobState, observer: _DbObserver, stop: threading.Event) -> None:
    """A job of answers (a learning curve, an augmentation check, a shortcut): each point is an
    epoch row of the queue."""
    if job.spec.kind == CURVE_KIND:
        from ..lessons.learningcurve import run_curve_job as run_points
    elif job.spec.kind == AUGCHECK_KIND:
        from ..lessons.augcheck import run_check_job as run_points
    else:
        run_points = _run_shortcut
    state, phase = run_points(job.spec, observer, stop,
                              lambda number, point: queue.add_epoch(job.job_id, {**point, "epoch": number}))
    queue.finish(job.job_id, state, phase)


def _train(queue: Queue, job: JobState, observer: _DbObserver, stop: threading.Event, ckpt: Path) -> None:
    """A training job: its run saved, the job finished with it, then the run measured for Evaluate."""
    from .run import run_job  # looked up at each job (a test replaces it)

    run = run_job(job.spec, observer, stop, extra={"label": job.spec.label, "owner": job.owner,
                                                   "job": job.job_id}, checkpoint=ckpt)
    state, phase = _outcome(run)
    queue.finish(job.job_id, state, phase, run.run_id if run else None, run.test_accuracy if run else None)
    if run is not None:
        measure_saved(run, job.spec)


def run_one(queue: Queue, job: JobState, stop: threading.Event) -> None:
    """Train one claimed job to its end and record how it ended; never raises."""
    observer = _DbObserver(queue, job.job_id, stop)
    ckpt = checkpoint_dir(queue.home, job.job_id)
    try:
        if job.spec.kind in ANSWER_KINDS:
            _answer(queue, job, observer, stop)
        else:
            _train(queue, job, observer, stop, ckpt)
    except CatdogError as exc:
        queue.finish(job.job_id, FAILED, Phase.FAILED, error=str(exc))
    except Exception as exc:  # one job's failure never takes the worker down
        queue.finish(job.job_id, FAILED, Phase.FAILED,
                     error=f"Training failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}).")
    finally:
        shutil.rmtree(ckpt, ignore_errors=True)
        # Free the finished job's models; not Keras' clear_session, which would also drop the shared
        # frozen base (models.shared_base) the next job reuses.
        gc.collect()


def train_here(queue: Queue, job_id: int) -> threading.Thread | None:
    """Claim a queued job for this process and train it in a thread (the command line, when no
    worker is alive: no second process has to start TensorFlow, and none stays behind holding
    memory). The job is in the queue like any other, so the app shows it and a stop asked for
    there stops it; this process holds a lock file of its own while it trains, so workers know
    it is alive (and save its finished epochs if it is killed). None if the job was taken."""
    slot = f"here-{os.getpid()}"
    fd = try_lock(lock_file(queue.home, slot))
    if fd is None:
        return None
    job = queue.claim(f"{slot}:{os.getpid()}", job_id)
    if job is None:
        os.close(fd)
        return None

    def work():
        try:
            run_one(queue, job, threading.Event())
        finally:
            os.close(fd)
            lock_file(queue.home, slot).unlink(missing_ok=True)

    thread = threading.Thread(target=work, name=f"catdog-job-{job_id}", daemon=True)
    thread.start()
    return thread


def _finish_salvaged(queue: Queue, job: JobState, run, reason: str) -> None:
    """A dead worker's job, finished with what its checkpoint gave (or failed, saying so)."""
    if run is None:
        queue.finish(job.job_id, FAILED, Phase.FAILED,
                     error="The training worker stopped (it was killed or crashed) before an epoch finished"
                           f"{reason}; nothing was saved.")
    else:
        queue.finish(job.job_id, STOPPED, f"The worker stopped during epoch {run.epochs + 1}; "
                                          f"the {run.epochs} finished epochs were saved",
                     run.run_id, run.test_accuracy)


def recover_dead(queue: Queue, me: str) -> None:
    """Jobs left 'running' by a worker that no longer lives: their finished epochs become a run."""
    from .run import salvage

    my_slot = me.split(":", 1)[0]
    for job in queue.running_on(""):
        slot = job.worker.split(":", 1)[0]
        if job.worker == me or (slot != my_slot and slot_alive(queue.home, slot)):
            continue  # its worker lives (this slot's lock is mine: another pid on it has died)
        ckpt = checkpoint_dir(queue.home, job.job_id)
        reason = ""
        try:
            run = salvage(job.spec, ckpt, extra={"label": job.spec.label, "owner": job.owner,
                                                 "job": job.job_id})
        except Exception as exc:  # a checkpoint that cannot be read: the job failed
            run, reason = None, f" ({type(exc).__name__})"
        _finish_salvaged(queue, job, run, reason)
        shutil.rmtree(ckpt, ignore_errors=True)

"""The training queue: one job at a time in a background worker thread.

Pages only submit jobs and read their state, so a rerun, a click, a page switch
or a closed tab never stops or restarts training. State is copied out under a
lock; the worker is the only writer.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

from .errors import CatdogError
from .training import REPRODUCE_LABEL, JobSpec, post_specs, quick_spec  # noqa: F401  (the queue's vocabulary)

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
FINISHED = (DONE, STOPPED, FAILED)


@dataclass
class JobState:
    job_id: int
    spec: JobSpec
    state: str = QUEUED
    phase: str = "Waiting in the queue"
    phase_done: int = 0
    phase_total: int = 0
    epoch: int = 0
    step: int = 0
    steps: int = 0
    batch_loss: float | None = None
    batch_accuracy: float | None = None
    history: list[dict] = field(default_factory=list)
    run_id: str | None = None
    test_accuracy: float | None = None
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    queue_position: int = 0  # 0 when running or finished
    stage: str = ""
    epochs_total: int = 0
    epoch_seconds: float = 0.0  # since the running epoch began

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    def eta(self) -> "Estimate | None":
        """Time left, stage by stage; None while nothing has been timed yet."""
        if self.state != RUNNING or not self.steps:
            return None
        return estimate_left(self.history, self.stage, self.epoch, self.step, self.steps, self.epoch_seconds,
                             self.epochs_total or self.spec.epochs + self.spec.fine_tune_epochs,
                             self.spec.fine_tune_epochs)

    def eta_seconds(self) -> float | None:
        estimate = self.eta()
        return estimate.seconds if estimate is not None else None


@dataclass(frozen=True)
class Estimate:
    seconds: float  # until the end of the job, or of the current stage when `whole` is False
    whole: bool  # False while frozen epochs run and fine-tune epochs (not yet timed) follow


def estimate_left(history: list[dict], stage: str, epoch: int, step: int, steps: int, epoch_seconds: float,
                  epochs_total: int, fine_tune_epochs: int) -> Estimate | None:
    """Seconds left, computed per stage: a fine-tune epoch runs the whole MobileNetV2 and costs
    many frozen ones, so frozen epochs never predict it. Within the running epoch the estimate
    follows the batches, so it counts down smoothly instead of jumping at each epoch's end."""
    if not steps or step <= 0:
        return None
    timed = [h["seconds"] for h in history if h.get("stage") == stage]
    per_step = epoch_seconds / step
    per_epoch = sum(timed) / len(timed) if timed else per_step * steps
    this_epoch = max(per_epoch - epoch_seconds, 0.0) if timed else per_step * (steps - step)
    stage_end = epochs_total - fine_tune_epochs if stage == "frozen" else epochs_total
    seconds = this_epoch + max(stage_end - epoch, 0) * per_epoch
    return Estimate(max(seconds, 0.0), whole=not (stage == "frozen" and fine_tune_epochs > 0))


class _JobObserver:
    def __init__(self, queue: "TrainingQueue", job_id: int):
        self.queue, self.job_id = queue, job_id

    def on_phase(self, message, done=0, total=0):
        self.queue._update(self.job_id, phase=message, phase_done=done, phase_total=total)

    def on_batch(self, r):
        self.queue._update(self.job_id, phase="Training", epoch=r.epoch, step=r.step, steps=r.steps,
                           batch_loss=r.loss, batch_accuracy=r.accuracy, stage=r.stage, epochs_total=r.epochs,
                           epoch_seconds=r.seconds)

    def on_epoch(self, r):
        self.queue._append_epoch(self.job_id, r.to_dict())


class TrainingQueue:
    """Jobs run one after another on a daemon thread started on first use."""

    def __init__(self, keep_finished: int = 50):
        self._lock = threading.Lock()
        self._jobs: dict[int, JobState] = {}
        self._stops: dict[int, threading.Event] = {}
        self._pending: deque[int] = deque()
        self._ids = itertools.count(1)
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._keep = keep_finished

    # ---- what pages call
    def submit(self, spec: JobSpec) -> int:
        with self._lock:
            job_id = next(self._ids)
            self._jobs[job_id] = JobState(job_id, spec)
            self._stops[job_id] = threading.Event()
            self._pending.append(job_id)
            self._renumber()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run_forever, name="catdog-training", daemon=True)
                self._worker.start()
            self._wake.notify()
            return job_id

    def get(self, job_id: int) -> JobState | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return replace(job, history=list(job.history)) if job else None

    def jobs(self) -> list[JobState]:
        with self._lock:
            return [replace(j, history=list(j.history)) for j in self._jobs.values()]

    def current(self) -> JobState | None:
        return next((j for j in self.jobs() if j.state == RUNNING), None)

    def stop(self, job_id: int) -> None:
        """A queued job is cancelled; a running one stops after its current batch."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state in FINISHED:
                return
            self._stops[job_id].set()
            if job.state == QUEUED:
                self._pending.remove(job_id)
                job.state, job.phase, job.finished = STOPPED, "Cancelled before it started", time.time()
                self._renumber()

    def wait(self, job_id: int, timeout: float | None = None) -> JobState | None:
        deadline = None if timeout is None else time.time() + timeout
        while True:
            job = self.get(job_id)
            if job is None or job.state in FINISHED or (deadline and time.time() > deadline):
                return job
            time.sleep(0.05)

    # ---- the worker
    def _update(self, job_id: int, **changes) -> None:
        with self._lock:
            job = self._jobs[job_id]
            for k, v in changes.items():
                setattr(job, k, v)

    def _append_epoch(self, job_id: int, epoch: dict) -> None:
        with self._lock:
            self._jobs[job_id].history.append(epoch)

    def _renumber(self) -> None:
        for position, job_id in enumerate(self._pending, start=1):
            self._jobs[job_id].queue_position = position

    def _run_forever(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
                job_id = self._pending.popleft()
                job = self._jobs[job_id]
                job.state, job.started, job.queue_position = RUNNING, time.time(), 0
                job.phase = "Loading the dataset"
                self._renumber()
            self._run_one(job_id, job.spec, self._stops[job_id])
            self._forget_old()

    def _run_one(self, job_id: int, spec: JobSpec, stop: threading.Event) -> None:
        from . import training

        observer = _JobObserver(self, job_id)
        try:
            run = training.run_job(spec, observer, stop)
            stopped = run is None or run.stopped
            final = STOPPED if stopped else DONE
            phase = ("Stopped before the first epoch finished: nothing was saved" if run is None else
                     f"Stopped after {run.epochs} epochs" if stopped else "Finished")
            self._update(job_id, state=final, phase=phase, run_id=run.run_id if run else None,
                         test_accuracy=run.test_accuracy if run else None, finished=time.time())
        except CatdogError as exc:
            self._update(job_id, state=FAILED, error=str(exc), phase="Failed", finished=time.time())
        except Exception as exc:  # never let one job kill the worker
            self._update(job_id, state=FAILED, phase="Failed", finished=time.time(),
                         error=f"Training failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}).")

    def _forget_old(self) -> None:
        with self._lock:
            done = [j for j in self._jobs.values() if j.state in FINISHED]
            for job in sorted(done, key=lambda j: j.finished or 0)[:-self._keep]:
                self._jobs.pop(job.job_id, None)
                self._stops.pop(job.job_id, None)


_queue: TrainingQueue | None = None
_queue_lock = threading.Lock()


def get_queue() -> TrainingQueue:
    """The process-wide queue every session shares."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = TrainingQueue()
        return _queue

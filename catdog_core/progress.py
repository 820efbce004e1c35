"""Progress: every shape a long step of the library reports in, and the job that carries them.

    Progress = progress(done, total, message)   the one callback; total is 0 while a step has no count
    Phase                                       the named phases a job goes through (text, as shown)
    BatchReport, EpochReport                    a running job's batch; a finished epoch
    CurvePoint                                  one measured point of a learning curve
    Observer                                    what a training run tells as it goes: progress, each
                                                batch and each epoch
    Throttle                                    at most one write every WRITE_EVERY s, for the three
                                                places a job's progress is written (the queue, Ray's
                                                progress actor, a worker's warm-up file)
    JobState, Now, Estimate                     a job as the queue reports it, where it is, its time left

The queue stores the records as their to_dict(); JobState gives them back typed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Callable

from .words import count

Progress = Callable[[int, int, str], None]
WRITE_EVERY = 0.25  # seconds between progress writes (a phase's start and end, and epochs, go at once)
QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"  # a job's state


class Phase(StrEnum):
    """The phases every job kind shares, as the pages show them (a step may also say more)."""

    QUEUED = "Waiting in the queue"
    LOADING = "Loading the dataset"
    BUILDING = "Building the model"
    BASE = "Building MobileNetV2"
    TRAINING = "Training"
    TESTING = "Measuring the test split"
    SAVING = "Saving the run"
    FAILED = "Failed"


def say(progress: Progress | None, message: str) -> Progress | None:
    """`progress` with its message fixed (the step's own words are replaced); None stays None."""
    fixed = message
    return None if progress is None else (lambda done, total, message="": progress(done, total, fixed))


def quiet(done: int, total: int, message: str = "") -> None:
    """A Progress that tells no one."""


class Throttle:
    """Whether a write is due: forced ones always, others at most every `every` seconds."""

    def __init__(self, every: float = WRITE_EVERY):
        self.every, self.last = every, 0.0

    def due(self, force: bool = False, count: tuple[int, int] | None = None) -> bool:
        """Whether to write now. `count` is a phase's (done, total): one without a count, its start
        and its end are written at once, like a forced write."""
        now = time.monotonic()
        edge = count is not None and (not count[1] or count[0] in (0, count[1]))
        if not (force or edge) and now - self.last < self.every:
            return False
        self.last = now
        return True


@dataclass(frozen=True)
class BatchReport:
    """Where a running job is: the one progress record, from the training callback to the queue
    (or Ray's progress actor) to the pages and the command line."""

    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps: int
    loss: float
    accuracy: float
    epochs: int = 0  # epochs planned in all (more than asked on a small dataset)
    stage: str = "train"
    seconds: float = 0.0  # since this epoch began
    at: float = 0.0  # wall-clock time of the report (time.time()); 0 when not known

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "BatchReport | None":
        """The record stored by to_dict, or None for anything else (a queue written by an older version)."""
        try:
            return cls(**values)
        except TypeError:
            return None


def _typed(cls, values: dict):
    """A record from its to_dict() (fields it does not know are ignored), or None if it is not one."""
    try:
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})
    except TypeError:
        return None


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    stage: str = "train"  # "frozen" / "fine-tune" for the transfer recipe

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "EpochReport | None":
        return _typed(cls, values)


@dataclass(frozen=True)
class CurvePoint:
    recipe: str
    size: int  # photos the model trained on (size asked for, rounded down to a multiple of the classes)
    accuracy: float  # on the whole validation split
    low: float  # its 95 % (Wilson) interval
    high: float
    count: int  # validation photos
    seconds: float  # to train and measure this point (when it was computed)
    steps: int = 0  # optimizer steps it trained
    cached: bool = False  # read from the cache now, not trained
    classes: int = 0  # of the dataset (0: not recorded): a guess is right 1 / classes of the time

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "CurvePoint | None":
        return _typed(cls, values)


class Observer:
    """Override what you need; every method is called from the training thread. `progress` is a
    Progress, so an observer's is what a step that takes one is given."""

    def progress(self, done: int, total: int, message: str = "") -> None: ...

    def phase(self, message: str) -> None:
        """A phase begins that has no count."""
        self.progress(0, 0, message)

    def on_plan(self, report: BatchReport) -> None:
        """Before the model is built: the epochs planned (report.epochs) and the steps of one, as a
        report of step 0 (no batch has run, so its loss and accuracy are NaN)."""

    def on_batch(self, report: BatchReport) -> None: ...

    def on_epoch(self, report: EpochReport) -> None: ...


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


@dataclass(frozen=True)
class Now:
    """What a running job is doing, as every view shows it (the job panel, the command line): the
    batch of an epoch while training, else the phase before it; done of total (total 0: no count)."""

    done: int
    total: int
    phase: str
    batch: BatchReport | None = None  # set while batches train

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0


@dataclass
class JobState:
    """A job as the queue reports it: its spec, state and phase, its last batch, and its records
    (`history`, as stored: a training job's epochs, a learning curve's points, a lesson's answers)."""

    job_id: int
    spec: object  # its jobspec.JobSpec (jobspec sits above this module, so it is not imported here)
    state: str = QUEUED
    phase: str = Phase.QUEUED
    phase_done: int = 0
    phase_total: int = 0
    batch: BatchReport | None = None  # the last batch of a running job
    history: list[dict] = field(default_factory=list)
    run_id: str | None = None
    test_accuracy: float | None = None
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    queue_position: int = 0  # 0 when running or finished
    owner: str = ""
    group: str = ""
    stop_requested: bool = False
    worker: str = ""

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    @property
    def title(self) -> str:
        spec = self.spec
        return spec.label or f"{spec.recipe}, {count(spec.epochs + spec.fine_tune_epochs, 'epoch')}"

    @property
    def epochs(self) -> list[EpochReport]:
        """A training job's finished epochs, typed (none for the other kinds)."""
        return [r for r in map(EpochReport.from_dict, self.history) if r is not None]

    @property
    def points(self) -> list[CurvePoint]:
        """A learning curve's measured points, typed (none for the other kinds)."""
        return [p for p in map(CurvePoint.from_dict, self.history) if p is not None]

    def now(self) -> Now:
        """Where this job is: its batch (step 0 is only the plan: the phase before it still shows)."""
        batch = self.batch
        if self.phase == Phase.TRAINING and batch is not None and batch.step:
            return Now(batch.step, batch.steps, self.phase, batch)
        return Now(self.phase_done, self.phase_total, self.phase)

    def eta(self, now: float | None = None) -> Estimate | None:
        """Time left, stage by stage; None while nothing has been timed yet. The one figure every
        view shows (job panel, queue, command line): computed from the last batch report and
        counted down by the time since that report, so views drawn at different moments agree."""
        batch = self.batch
        if self.state != RUNNING or batch is None or not batch.steps:
            return None
        estimate = estimate_left(self.history, batch.stage, batch.epoch, batch.step, batch.steps, batch.seconds,
                                 self.epochs_total, self.spec.fine_tune_epochs)
        if estimate is None or not batch.at:
            return estimate
        since = max((time.time() if now is None else now) - batch.at, 0.0)
        return Estimate(max(estimate.seconds - since, 0.0), estimate.whole)

    @property
    def epochs_total(self) -> int:
        """Epochs planned in all: the batches say (a small dataset gets more), else the spec."""
        return (self.batch.epochs if self.batch is not None else 0) or self.spec.epochs + self.spec.fine_tune_epochs

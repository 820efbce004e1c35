"""Progress: the shapes every long step of the library reports in, all here.

    progress(done, total, message)    a callback (Progress); total is 0 while the step has no count
    BatchReport                       where a running job is: epoch, step, loss, accuracy
    EpochReport                       a finished epoch with its validation numbers
    CurvePoint                        one measured point of a learning curve
    Observer                          what a training run tells as it goes (each of the above)

An Observer hears a Progress's three things as `on_phase(message, done, total)`, and each batch
and epoch besides; `phases(on_phase)` lets a step that takes a Progress report to one. The queue
stores these records as their to_dict(); a job's row (jobs.JobState) carries them to the pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

Progress = Callable[[int, int, str], None]


def phases(on_phase: Callable[..., None]) -> Progress:
    """A Progress that tells on_phase(message, done, total): an observer's, a job's."""
    return lambda done, total, message: on_phase(message, done, total)


def say(progress: Progress | None, message: str) -> Progress | None:
    """`progress` with its message fixed (the step's own words are replaced); None stays None."""
    fixed = message
    return None if progress is None else (lambda done, total, message="": progress(done, total, fixed))


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


class Observer:
    """Override what you need; every method is called from the training thread."""

    def on_phase(self, message: str, done: int = 0, total: int = 0) -> None: ...

    def on_plan(self, report: BatchReport) -> None:
        """Before the model is built: the epochs planned (report.epochs) and the steps of one, as a
        report of step 0 (no batch has run, so its loss and accuracy are NaN)."""

    def on_batch(self, report: BatchReport) -> None: ...

    def on_epoch(self, report: EpochReport) -> None: ...


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
        try:
            return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})
        except TypeError:
            return None

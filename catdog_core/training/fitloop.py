"""One stage of training through Keras' own `fit`, with the callback that feeds the observer
every batch and epoch, stops after the current batch when asked (the learner then goes back to
the weights of the last finished epoch and the partial epoch is dropped), checkpoints every
finished epoch, and ends a small dataset's extra epochs when their time is up."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .batches import FeatureBatches
from .checkpoint import write_checkpoint
from ..jobspec import BatchReport
from .result import EpochReport, Observer, TrainResult


@dataclass(frozen=True)
class Stage:
    """One call of fit: what learns, on which batches, for which epochs, and when it may end early."""
    name: str  # "train", "frozen" or "fine-tune", as each EpochReport says
    learner: object  # the Keras model that trains: the whole model or the head on features
    batches: object  # batches.shuffled_batches or batches.FeatureBatches
    val: object  # the validation data fit measures after every epoch
    epochs: range  # the 1-based numbers of this stage's epochs
    total: int  # the run's epochs, all stages together
    min_epochs: int = 0  # a small dataset's time budget can end it only after these
    budget_end: float | None = None  # time.perf_counter() when its extra epochs must end


@dataclass(frozen=True)
class Run:
    """The run a stage belongs to: the result it fills, the observer it tells, the stop it obeys,
    the folder its checkpoint goes to."""
    result: TrainResult
    observer: Observer
    stop: threading.Event
    checkpoint: Path | None = None


def fit(stage: Stage, run: Run) -> None:
    """Train one stage; its finished epochs go to run.result.history, and a stop marks it stopped."""
    steps = len(stage.batches)
    reporter = _reporter(stage, run, steps)
    if run.stop.is_set():
        run.result.stopped = True
        return
    batches, per_epoch = stage.batches, None
    if isinstance(batches, FeatureBatches):  # every epoch's batches in one dataset: say where an epoch ends
        batches, per_epoch = batches.dataset(stage.epochs), steps
    stage.learner.fit(batches, epochs=stage.epochs.stop - 1, initial_epoch=stage.epochs.start - 1,
                      validation_data=stage.val, callbacks=[reporter], verbose=0, shuffle=False,
                      steps_per_epoch=per_epoch)


def _reporter(stage: Stage, run: Run, steps: int):
    """The keras.callbacks.Callback that feeds the observer and stops fit cleanly."""
    import keras

    reporter = type("Reporter", (_Reporting, keras.callbacks.Callback), {})
    return reporter(stage, run, steps)


class _Reporting:
    """The methods of _reporter's callback, mixed into keras.callbacks.Callback when Keras is loaded."""

    def __init__(self, stage: Stage, run: Run, steps: int):
        super().__init__()
        self.stage, self.run, self.steps = stage, run, steps
        self.snapshot = self._weights()
        self.partial = False

    def _weights(self) -> list:
        return [v.numpy() for v in self.stage.learner.trainable_variables]

    @property
    def epoch_number(self) -> int:
        return len(self.run.result.history) + 1

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.run.observer.on_batch(BatchReport(
            self.epoch_number, batch + 1, self.steps, float(logs.get("loss", math.nan)),
            float(logs.get("accuracy", math.nan)), self.stage.total, self.stage.name,
            time.perf_counter() - self.started, time.time()))
        if self.run.stop.is_set():
            self.partial = batch + 1 < self.steps  # a finished epoch is kept and reported
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.run.stop.is_set():
            self.run.result.stopped = True
        if self.partial:  # stopped mid-epoch: back to the last finished epoch, nothing reported
            self._back_to_last_epoch()
            return
        report = self._epoch_report(logs or {})
        self.run.result.history.append(report)
        self.snapshot = self._weights()
        if self.run.checkpoint is not None:
            write_checkpoint(self.run.checkpoint, self.stage.learner, self.run.result, self.stage.name)
        self.run.observer.on_epoch(report)
        if self._out_of_time(report):
            self.model.stop_training = True  # a small dataset's extra epochs ran out of time

    def _back_to_last_epoch(self) -> None:
        for var, value in zip(self.stage.learner.trainable_variables, self.snapshot):
            var.assign(value)
        self.run.result.stopped = True

    def _epoch_report(self, logs: dict) -> EpochReport:
        return EpochReport(self.epoch_number, self.stage.total, float(logs["loss"]), float(logs["accuracy"]),
                           float(logs["val_loss"]), float(logs["val_accuracy"]),
                           time.perf_counter() - self.started, self.stage.name)

    def _out_of_time(self, report: EpochReport) -> bool:
        end = self.stage.budget_end
        return end is not None and report.epoch >= self.stage.min_epochs and time.perf_counter() > end

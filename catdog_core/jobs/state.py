"""A job as the queue reports it (JobState), and the one estimate of its time left that every view
shows (Estimate, estimate_left)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..words import count
from ..jobspec import QUEUED, RUNNING, BatchReport, JobSpec


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
    job_id: int
    spec: JobSpec
    state: str = QUEUED
    phase: str = "Waiting in the queue"
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

    def now(self) -> Now:
        """Where this job is: its batch (step 0 is only the plan: the phase before it still shows)."""
        batch = self.batch
        if self.phase == "Training" and batch is not None and batch.step:
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


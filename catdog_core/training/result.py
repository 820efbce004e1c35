"""What one training run reports as it goes and gives back: an EpochReport after every finished
epoch, the Observer that hears them (and each batch's jobspec.BatchReport), and the TrainResult."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..augment import AugmentSettings
from ..jobspec import BatchReport


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


@dataclass
class TrainResult:
    recipe: str
    model: object  # the inference model (no random layers): what a run saves
    class_names: tuple[str, ...]
    settings: AugmentSettings
    epochs_requested: int
    history: list[EpochReport] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_count: int = 0
    test_logits: object = None  # np.ndarray of the test split, when measured from cached features
    validation_logits: object = None  # likewise of the validation split
    stopped: bool = False
    fine_tune_from_epoch: int | None = None  # fine-tuning began after this epoch
    cached: bool = False
    engine: str = "TensorFlow"
    seconds: float = 0.0
    setup_seconds: float = 0.0
    steps_per_epoch: int = 0
    notes: list[str] = field(default_factory=list)  # what a student should know about this run

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1].val_accuracy if self.history else None

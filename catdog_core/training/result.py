"""What one training run gives back: the TrainResult (its EpochReports and the Observer that hears
them as it goes are progress's, named here too)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..augment import AugmentSettings
from ..progress import BatchReport, EpochReport, Observer

__all__ = ["BatchReport", "EpochReport", "Observer", "TrainResult"]


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

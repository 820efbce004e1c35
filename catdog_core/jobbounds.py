"""The numbers a training job may be given: Bound and BOUNDS, the one place each setting's bounds
are written (the trainer, the command line, a saved run's check and the Training page's widgets
all read them), and the epochs a run takes so that a small dataset still gets MIN_STEPS steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_EPOCHS = 200
FINE_TUNE_AT = 100  # as in TensorFlow's transfer-learning tutorial: the top ~55 of 154 layers train
MIN_STEPS = 100  # optimizer steps every run takes at least, whatever the size of its data
BASE_LAYERS = 154  # MobileNetV2's layers without its top: fine-tuning starts at one of 0-153


@dataclass(frozen=True)
class Bound:
    """The values one setting of a job may take: the one place each bound is written (BOUNDS). The
    trainer, the command line, a saved run's check and the Training page's widgets all read it."""

    what: str  # as a sentence starts: "Epochs"
    low: float
    high: float
    whole: bool = True

    def holds(self, value) -> bool:
        if isinstance(value, bool):
            return False
        kinds = (int,) if self.whole else (int, float)
        return isinstance(value, kinds) and math.isfinite(value) and self.low <= value <= self.high

    def check(self, value):
        """The value, or InvalidSettings with the sentence every caller shows."""
        if not self.holds(value):
            from .errors import InvalidSettings

            kind = "a whole number" if self.whole else "a number"
            raise InvalidSettings(f"{self.what} must be {kind} from {self.low:g} to {self.high:g}, not {value!r}.")
        return value


BOUNDS = {  # a JobSpec field's bounds
    "epochs": Bound("Epochs", 1, MAX_EPOCHS),
    "fine_tune_epochs": Bound("Fine-tune epochs", 0, MAX_EPOCHS),
    "fine_tune_at": Bound("The layer fine-tuning starts from", 0, BASE_LAYERS - 1),
    "variants": Bound("Variants", 0, MAX_EPOCHS),
    "min_steps": Bound("Minimum steps", 0, 100_000),
    "learning_rate": Bound("The learning rate", 1e-9, 10.0, whole=False),
    "seed": Bound("The seed", 0, 2**31 - 1),
    # An augmentation check's own counts (catdog_core.lessons.augcheck): copies of each photo, heads per side.
    "augcheck_variants": Bound("Variants", 1, 8),
    "augcheck_seeds": Bound("Seeds", 2, 10),
}


SMALL_DATA_IMAGES = 1000  # training splits smaller than this get at least MIN_STEPS steps


def epochs_for_steps(epochs: int, train_images: int, batch_size: int, min_steps: int = MIN_STEPS) -> int:
    """The epochs a run takes: those asked for, or, on a small training split, more when they
    make fewer than `min_steps` steps. The post's 2000 images always train the epochs asked for."""
    steps = max(1, math.ceil(train_images / batch_size))
    if train_images >= SMALL_DATA_IMAGES:
        return epochs
    return min(MAX_EPOCHS, max(epochs, math.ceil(min_steps / steps)))

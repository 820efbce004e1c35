"""Evaluating a trained model on one split: accuracy overall and per class, the
confusion matrix, and the wrongly classified images ordered by loss.

The mistakes are fastai's "top losses": the images the model was most
confidently wrong about come first (loss = -log p(true class)), which is where
a student finds mislabelled files, odd photos and what the model confuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .errors import CatdogError

BATCH = 128  # images per forward pass: bounded memory, still one graph call per batch
SMALL_SPLIT = 30  # below this many images an accuracy says little: shown as "too few to judge"



def confusion_matrix(true_labels, predicted, classes: int) -> np.ndarray:
    """(classes, classes) counts: rows = true class, columns = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_labels, int), np.asarray(predicted, int)), 1)
    return matrix

def interval(accuracy: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % (Wilson score) interval of an accuracy measured on `count` images.

    Wilson's interval stays inside 0..1 and is honest for small counts and for
    0 % or 100 %: 2 of 2 right gives 34 %..100 %, 190 of 200 gives 91 %..97 %.
    """
    if count <= 0:
        return 0.0, 1.0
    p = min(max(accuracy, 0.0), 1.0)
    denominator = 1 + z * z / count
    centre = (p + z * z / (2 * count)) / denominator
    half = z * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def verdict(accuracy: float | None, count: int | None) -> str:
    """An accuracy as a student should read it: the value, its 95 % interval and the image count."""
    if accuracy is None:
        return "not measured"
    if not count:
        return f"{accuracy:.1%}"
    low, high = interval(accuracy, count)
    images = f"{count} image{'s' if count != 1 else ''}"
    if count < SMALL_SPLIT:
        return f"{accuracy:.1%} on {images}: too few to judge (95 % interval {low:.0%}-{high:.0%})"
    return f"{accuracy:.1%} (95 % interval {low:.0%}-{high:.0%}, {images})"


@dataclass(frozen=True)
class Mistake:
    index: int  # position in the split, so the image is split.images[index]
    file: str
    true_label: str
    predicted_label: str
    loss: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Evaluation:
    split: str
    class_names: tuple[str, ...]
    accuracy: float
    loss: float  # mean cross-entropy over the split, as Keras reports it
    per_class: dict[str, float | None]  # None for a class with no images in the split
    confusion: np.ndarray  # int, rows = true class, columns = predicted class
    mistakes: list[Mistake] = field(default_factory=list)

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    @property
    def interval(self) -> tuple[float, float]:
        return interval(self.accuracy, self.count)

    @property
    def too_few(self) -> bool:
        return self.count < SMALL_SPLIT

    def to_dict(self) -> dict:
        """A JSON-able summary (mistakes without their images)."""
        return {
            "split": self.split, "classes": list(self.class_names), "count": self.count,
            "accuracy": self.accuracy, "interval": list(self.interval), "too_few": self.too_few,
            "loss": self.loss, "per_class": dict(self.per_class),
            "confusion": self.confusion.tolist(),
            "mistakes": [{"index": m.index, "file": m.file, "true": m.true_label, "predicted": m.predicted_label,
                          "loss": m.loss, "probabilities": m.probabilities} for m in self.mistakes],
        }


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def logits_of(model, images: np.ndarray, progress: Callable[[int, int, str], None] | None = None) -> np.ndarray:
    """(N, 160, 160, 3) uint8 -> (N, classes) float64 logits, in batches."""
    from .predict import logits  # the same compiled graph the Classify page uses

    out = []
    for start in range(0, len(images), BATCH):
        out.append(logits(model, images[start:start + BATCH]))
        if progress:
            progress(min(start + BATCH, len(images)), len(images), "Classifying the images")
    return np.concatenate(out)


def evaluate_run(model, dataset, class_names: Sequence[str], split: str = "test", *,
                 progress: Callable[[int, int, str], None] | None = None) -> Evaluation:
    """Classify every image of `split` and compare with its label."""
    class_names = tuple(str(n) for n in class_names)
    if class_names != tuple(dataset.class_names):
        raise CatdogError(f"This model knows the classes {', '.join(class_names)} but the dataset has "
                          f"{', '.join(dataset.class_names)}; evaluate it on the data it was trained on.")
    part = dataset.split(split)
    if len(part) == 0:
        raise CatdogError(f"The {split} split has no images, so there is nothing to evaluate; "
                          "add more validation images or pick another split.")
    logits = logits_of(model, part.images, progress)
    if logits.shape[-1] != len(class_names):
        raise CatdogError(f"The model gives {logits.shape[-1]} scores but the run names {len(class_names)} "
                          "classes; its files do not belong together.")
    log_probs = _log_softmax(logits)
    probs = np.exp(log_probs)
    labels = part.labels.astype(int)
    predicted = log_probs.argmax(axis=-1)
    losses = -log_probs[np.arange(len(labels)), labels]

    confusion = confusion_matrix(labels, predicted, len(class_names))
    row_totals = confusion.sum(axis=1)
    per_class = {name: (float(confusion[i, i] / row_totals[i]) if row_totals[i] else None)
                 for i, name in enumerate(class_names)}

    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-losses[wrong], kind="stable")]
    mistakes = [Mistake(int(i), part.files[i], class_names[labels[i]], class_names[predicted[i]], float(losses[i]),
                        {n: float(p) for n, p in zip(class_names, probs[i])}) for i in wrong]
    return Evaluation(split, class_names, float(np.mean(predicted == labels)), float(losses.mean()),
                      per_class, confusion, mistakes)

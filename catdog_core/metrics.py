"""Numbers about predictions, in plain numpy and nothing else: the confusion matrix, an
accuracy's 95 % interval and how a student should read it, and the softmax."""

from __future__ import annotations

import math

import numpy as np

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
    """An accuracy as a student should read it: the value, its 95 % interval and the image count;
    on fewer than SMALL_SPLIT images no value at all (one photo would read "0.0 %" or "100.0 %")."""
    if accuracy is None:
        return "not measured"
    if not count:
        return f"{accuracy:.1%}"
    images = f"{count} image{'s' if count != 1 else ''}"
    if count < SMALL_SPLIT:
        return f"too few to judge (only {images})"
    low, high = interval(accuracy, count)
    return f"{accuracy:.1%} (95 % interval {low:.0%}-{high:.0%}, {images})"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits along the last axis (shifted first, so large logits do not overflow)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

"""What the pages show about a dataset: the majority baseline, a few examples per class, a clear example."""

from __future__ import annotations

import numpy as np

from .record import Dataset, Split


def majority_classes(dataset: Dataset) -> list[str]:
    """The most common classes of the training split (several when they tie)."""
    counts = np.bincount(dataset.train.labels, minlength=len(dataset.class_names))
    return [dataset.class_names[i] for i in np.flatnonzero(counts == counts.max())]


def majority_baseline(dataset: Dataset, split: str = "validation") -> float:
    """Accuracy of always guessing the most common class of the training set.

    When several classes tie for most common, it is the mean over them: what
    guessing one of them at random scores (50 % for the post's 1000 / 1000).
    """
    labels = dataset.split(split).labels
    if not len(labels):
        return 0.0
    tied = [dataset.class_names.index(name) for name in majority_classes(dataset)]
    return float(np.mean([np.mean(labels == label) for label in tied]))


def pick_examples(dataset: Dataset, n_per_class: int = 3, seed: int = 0,
                  split: str = "train", with_files: bool = False) -> list[tuple]:
    """For each class, n images drawn with the seed: [(class_name, (n, H, W, 3) uint8)], or
    [(class_name, images, file names)] with_files."""
    part = dataset.split(split)
    rng = np.random.default_rng(seed)
    rows = []
    for label, name in enumerate(dataset.class_names):
        idx = np.flatnonzero(part.labels == label)
        chosen = np.sort(rng.choice(idx, size=min(n_per_class, len(idx)), replace=False)) if len(idx) else idx
        images = part.images[chosen]
        rows.append((name, images, [part.files[i] for i in chosen]) if with_files else (name, images))
    return rows


# A photo bright, contrasted and sharp enough to show what augmentation does (the post's first
# training cat is dim and blurred): mean grey level, its spread, and the variance of its Laplacian.
CLEAR_BRIGHTNESS = (90.0, 200.0)
CLEAR_CONTRAST = 45.0
CLEAR_SHARPNESS = 400.0
CLEAR_LOOKS = 200  # images looked at, at most: the first that passes is taken


def clear_example(part: Split, label: int = 0) -> int:
    """The index of the first image of class `label` in `part` that is well lit and sharp (the
    thresholds above), else of the sharpest of those looked at; 0 for an empty split. Deterministic."""
    candidates = np.flatnonzero(part.labels == label)[:CLEAR_LOOKS]
    if not len(candidates):
        candidates = np.arange(min(len(part), CLEAR_LOOKS))
    best, best_sharpness = 0, -1.0
    for index in candidates:
        grey = np.asarray(part.images[index], np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
        sharpness = float(laplacian.var())
        if (CLEAR_BRIGHTNESS[0] <= grey.mean() <= CLEAR_BRIGHTNESS[1] and grey.std() >= CLEAR_CONTRAST
                and sharpness >= CLEAR_SHARPNESS):
            return int(index)
        if sharpness > best_sharpness:
            best, best_sharpness = int(index), sharpness
    return best

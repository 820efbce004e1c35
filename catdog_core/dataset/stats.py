"""What the Dataset page shows about a dataset: the majority baseline and a few examples per class."""

from __future__ import annotations

import numpy as np

from .record import Dataset


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

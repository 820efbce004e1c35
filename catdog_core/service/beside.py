"""What an answer carries beside its class: whether a photo is one of the run's own dataset (its
fingerprints), and how unlike the run's training photos it is ("none of the above")."""

from __future__ import annotations

import numpy as np

from .. import dataset, novelty
from ..errors import CatdogError


def seen_in_dataset(run, model_inputs: list[np.ndarray]) -> list[dataset.SeenPhoto | None]:
    """Which of these photos are photos of the run's own dataset (its fingerprints, dataset.py); a
    training photo the run was trained without (Label check) does not count."""
    if not model_inputs:
        return []
    found = dataset.seen_photos(run.dataset_key, np.stack(model_inputs))
    left_out = set(run.excluded)
    return [None if s is not None and s.split == "train" and s.file in left_out else s for s in found]


def unlike_training(run, model_inputs: list[np.ndarray]) -> list["novelty.Verdict | None"]:
    """How unlike the run's training photos each photo is (novelty.py); Nones when the run's data is not
    known here any more (a deleted folder) or the base cannot be built. Never fails the answer."""
    try:
        found = novelty.judge(run, np.stack(model_inputs)) if model_inputs else None
    except (CatdogError, OSError, ValueError):
        found = None
    return found if found is not None else [None] * len(model_inputs)

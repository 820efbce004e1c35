"""A run's JSON checked one field at a time, to the leaf: texts, whole numbers and numbers within
their bounds, tables, a job setting within jobspec.BOUNDS, the history, the photos left out, the
dataset's summary and the augmentation settings; Bad is the sentence for whatever is wrong."""

from __future__ import annotations

import math

from ..augment import AugmentSettings
from ..errors import CatdogError
from .record import MAX_CLASSES, MAX_EXCLUDED, MAX_NAME


class Bad(CatdogError):
    """Why a run folder cannot be used, as the end of a sentence."""


def text(value, what: str, limit: int = MAX_NAME, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise Bad(f"its {what} is not a text of up to {limit} characters")
    return value


def integer(value, what: str, low: int = 0, high: int = 100_000, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Bad(f"its {what} is not a whole number from {low} to {high}")
    return value


def number(value, what: str, low: float = -math.inf, high: float = math.inf, none: bool = True) -> float | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise Bad(f"its {what} is not a number from {low:g} to {high:g}")
    return float(value)


def bounded(value, name: str, what: str, none: bool = False):
    """A job setting of a saved run within its bounds (jobspec.BOUNDS, the trainer's own)."""
    from ..jobspec import BOUNDS

    bound = BOUNDS[name]
    if value is None and none:
        return None
    if not bound.holds(value):
        raise Bad(f"its {what} is not {'a whole number' if bound.whole else 'a number'} "
                  f"from {bound.low:g} to {bound.high:g}")
    return value if bound.whole else float(value)


def table(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Bad(f"its {what} is not a table of settings")
    return value


_HISTORY_FIELDS = {"epoch": (1, 100_000), "epochs": (1, 100_000)}
_HISTORY_NUMBERS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def checked_history(history) -> list[dict]:
    if not isinstance(history, list) or len(history) > 10_000:
        raise Bad("its history is not a list of epochs")
    out = []
    for item in history:
        if not isinstance(item, dict):
            raise Bad("its history is not a list of epochs")
        row = {name: integer(item.get(name), f"history {name}", *bounds) for name, bounds in _HISTORY_FIELDS.items()}
        for name in _HISTORY_NUMBERS:
            low, high = (0.0, 1.0) if name.endswith("accuracy") else (0.0, math.inf)
            row[name] = number(item.get(name), f"history {name}", low, high, none=False)
        row["stage"] = text(item.get("stage", "train"), "history stage", 20)
        out.append(row)
    return out


def checked_paths(value, what: str) -> list[str]:
    """Photo paths a run left out of training: a list of at most MAX_EXCLUDED texts."""
    if not isinstance(value, list) or len(value) > MAX_EXCLUDED:
        raise Bad(f"its {what} is not a list of up to {MAX_EXCLUDED} paths")
    return [text(v, what, 4096) for v in value]


_DATASET_TEXTS = ("source", "location", "key", "kind")


def checked_dataset(value) -> dict:
    """The saved summary of the data a run was trained on, to the leaf: the texts pages show, the
    {split: {class: count}} table they add up, the class list, the skipped count."""
    dataset = table(value, "dataset")
    checked: dict = {}
    for key in _DATASET_TEXTS:
        if key in dataset:
            checked[key] = text(dataset[key], f"dataset {key}", 4096, empty=True)
    if "classes" in dataset:
        classes = dataset["classes"]
        if not isinstance(classes, list) or len(classes) > MAX_CLASSES:
            raise Bad("its dataset classes are not a list of names")
        checked["classes"] = [text(c, "dataset class name") for c in classes]
    if "counts" in dataset:
        counts = table(dataset["counts"], "dataset counts")
        if len(counts) > 8:
            raise Bad("its dataset counts name too many splits")
        checked["counts"] = {}
        for split, per_class in counts.items():
            per_class = table(per_class, "dataset counts of a split")
            if len(per_class) > MAX_CLASSES:
                raise Bad("its dataset counts name too many classes")
            checked["counts"][text(split, "split name", 32)] = {
                text(name, "class name"): integer(n, "image count", 0, 10**9) for name, n in per_class.items()}
    if "skipped" in dataset:
        checked["skipped"] = integer(dataset["skipped"], "skipped count", 0, 10**9)
    if "auto_split" in dataset:
        checked["auto_split"] = dataset["auto_split"] is True
    return checked


def checked_settings(value) -> dict:
    settings = table(value, "settings")
    if not settings:
        return {}
    try:
        return AugmentSettings.from_dict(settings).to_dict()
    except (CatdogError, TypeError, ValueError):
        raise Bad("its augmentation settings are unusable") from None

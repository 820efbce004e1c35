"""Evaluating a trained model on one split: accuracy overall and per class, the
confusion matrix, and the wrongly classified images ordered by loss.

The mistakes are fastai's "top losses": the images the model was most
confidently wrong about come first (loss = -log p(true class)), which is where
a student finds mislabelled files, odd photos and what the model confuses.

The labelled batch check (photos whose class their name says) is labelcheck's (evaluate/labelcheck.py); its
names are named here too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import predict
from ..progress import Progress
from ..errors import CatdogError
from .labelcheck import (MAX_CHECK_FILES, Checked, LabelledCheck, check_labelled, images_in_zip,
                         label_from_name, labelled_items, shown_path)
from ..metrics import SMALL_SPLIT, confusion_matrix, interval, log_softmax

__all__ = ["BATCH", "KEPT_ON_DISK", "Evaluation", "Mistake", "evaluate_run", "from_logits", "logits_of",
           "measure_saved", "remember", "remembered",
           # the labelled batch check (evaluate.labelcheck)
           "MAX_CHECK_FILES", "Checked", "LabelledCheck", "check_labelled", "images_in_zip", "label_from_name",
           "labelled_items", "shown_path"]

BATCH = 128  # images per forward pass: bounded memory, still one graph call per batch


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
    logits: np.ndarray | None = None  # (count, classes) float32, in the split's order: calibration.py
    labels: np.ndarray | None = None  # (count,) int, the true class of each

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
            **({} if self.logits is None or self.labels is None else
               {"logits": np.round(np.asarray(self.logits, np.float64), 5).tolist(),
                "labels": np.asarray(self.labels, int).tolist()}),
        }

    @classmethod
    def from_dict(cls, values: dict) -> "Evaluation":
        """The inverse of to_dict (raises KeyError, TypeError or ValueError on anything else)."""
        names = tuple(str(n) for n in values["classes"])
        confusion = np.asarray(values["confusion"], np.int64).reshape(len(names), len(names))
        per_class = {str(k): (None if v is None else float(v)) for k, v in dict(values["per_class"]).items()}
        mistakes = [Mistake(int(m["index"]), str(m["file"]), str(m["true"]), str(m["predicted"]), float(m["loss"]),
                            {str(k): float(v) for k, v in dict(m["probabilities"]).items()})
                    for m in values["mistakes"]]
        logits = labels = None
        if "logits" in values and "labels" in values:  # kept since calibration: older files have none
            logits = np.asarray(values["logits"], np.float32).reshape(-1, len(names))
            labels = np.asarray(values["labels"], np.int64).reshape(-1)
            if len(labels) != len(logits) or len(labels) != int(confusion.sum()):
                logits = labels = None
        return cls(str(values["split"]), names, float(values["accuracy"]), float(values["loss"]), per_class,
                   confusion, mistakes, logits, labels)


# ---------------------------------------------------------------- kept on disk, once per run

KEPT_ON_DISK = 500  # evaluations kept in CATDOG_HOME/evaluations (the newest)


def _kept_path(run, data_key: str, split: str) -> Path:
    """Keyed by the run's model file as it is now (its id, size and time) and the data's content."""
    from .. import config

    st = run.model_path.stat()
    key = hashlib.sha1(f"{run.run_id}|{st.st_size}|{st.st_mtime_ns}|{data_key}|{split}".encode()).hexdigest()[:24]
    return config.catdog_home() / "evaluations" / f"{key}.json"


def remembered(run, data_key: str, split: str = "test") -> Evaluation | None:
    """A run's evaluation on a split of this data, if it was measured before (by the worker that
    saved it, or by the model service): read from disk, so a page needs no model for it."""
    try:
        path = _kept_path(run, data_key, split)
        if path.stat().st_size > 16 * 1024**2:
            return None
        found = Evaluation.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return found if found.split == split and found.class_names == tuple(run.class_names) else None


def remember(run, data_key: str, result: Evaluation) -> None:
    """Keep an evaluation for remembered(); the oldest beyond KEPT_ON_DISK go. Never raises for the disk."""
    from ..fileio import write_atomic

    try:
        path = _kept_path(run, data_key, result.split)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(result.to_dict()).encode("utf-8", "surrogatepass"))
        kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEPT_ON_DISK:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def measure_saved(run, model, dataset, split: str = "test") -> Evaluation | None:
    """Evaluate a just-saved run with its model in memory and keep the result (the worker does this
    after each job, at its low priority); None when the run does not fit this data."""
    if tuple(run.class_names) != tuple(dataset.class_names) or not len(dataset.split(split)):
        return None
    result = evaluate_run(model, dataset, run.class_names, split)
    remember(run, dataset.key, result)
    return result


def logits_of(model, images: np.ndarray, progress: Progress | None = None) -> np.ndarray:
    """(N, 160, 160, 3) uint8 -> (N, classes) float64 logits, in batches."""
    out = []
    for start in range(0, len(images), BATCH):  # the same compiled graph the Classify page uses
        out.append(predict.logits(model, images[start:start + BATCH]))
        if progress:
            progress(min(start + BATCH, len(images)), len(images), "Classifying the images")
    return np.concatenate(out)


def evaluate_run(model, dataset, class_names: Sequence[str], split: str = "test", *,
                 progress: Progress | None = None) -> Evaluation:
    """Classify every image of `split` and compare with its label."""
    class_names = tuple(str(n) for n in class_names)
    if class_names != tuple(dataset.class_names):
        raise CatdogError(f"This model knows the classes {', '.join(class_names)} but the dataset has "
                          f"{', '.join(dataset.class_names)}; evaluate it on the data it was trained on.")
    part = dataset.split(split)
    if len(part) == 0:
        raise CatdogError(f"The {split} split has no images, so there is nothing to evaluate; "
                          "add more validation images or pick another split.")
    return from_logits(logits_of(model, part.images, progress), part, class_names, split)


def from_logits(logits: np.ndarray, part, class_names: Sequence[str], split: str = "test") -> Evaluation:
    """The evaluation of a split (its labels and files) from the model's logits for its images."""
    class_names = tuple(str(n) for n in class_names)
    if logits.shape[-1] != len(class_names):
        raise CatdogError(f"The model gives {logits.shape[-1]} scores but the run names {len(class_names)} "
                          "classes; its files do not belong together.")
    log_probs = log_softmax(logits)
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
                      per_class, confusion, mistakes, np.asarray(logits, np.float32), labels.astype(np.int64))

"""Confidence you can check: does "99 % sure" come true 99 % of the time?

- A reliability diagram: the photos of a split in bins of the model's confidence (its top
  probability), each bin's mean confidence against the share it got right, with its count.
- The expected calibration error (ECE): those gaps, weighted by the bins' counts.
- Temperature scaling (Guo et al., 2017): one number T that divides every logit. T > 1 softens an
  over-sure model, T < 1 sharpens a timid one; the answers (the largest logit) never change, only
  how sure they are. T is fitted on the validation split (the lowest cross-entropy) and judged on
  the test split, which it never saw.

All of it from logits and labels in numpy: an evaluation already holds them (evaluate.Evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .metrics import log_softmax

BINS = 10
T_RANGE = (0.05, 20.0)  # searched in log space; beyond it a model is broken, not miscalibrated
MIN_PHOTOS = 30  # fewer and a bin's share right is mostly noise (metrics.SMALL_SPLIT's rule)


@dataclass(frozen=True)
class Reliability:
    edges: tuple[float, ...]  # BINS + 1 confidence edges, from 1 / classes to 1
    counts: tuple[int, ...]
    confidence: tuple[float | None, ...]  # mean top probability in each bin (None: empty)
    accuracy: tuple[float | None, ...]  # share right in each bin (None: empty)
    ece: float

    def sentence(self) -> str:
        """What the fullest of the sure bins says, in words a student can check against the diagram."""
        order = [i for i in range(len(self.counts)) if self.counts[i]]
        if not order:
            return "No photos to judge."
        top = max(order, key=lambda i: (self.edges[i], self.counts[i]))  # the surest bin with photos
        if self.counts[top] < 10:
            top = max(order, key=lambda i: self.counts[i])
        said, right = self.confidence[top], self.accuracy[top]
        return (f"When the model says {_pct(said)} (on average, {self.counts[top]} photos between "
                f"{_pct(self.edges[top])} and {_pct(self.edges[top + 1])}), it is right {_pct(right)} of the time.")

    def to_dict(self) -> dict:
        return {"edges": list(self.edges), "counts": list(self.counts), "confidence": list(self.confidence),
                "accuracy": list(self.accuracy), "ece": self.ece}


def _pct(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.1%}" if 0.99 < p < 1 else f"{p:.0%}"


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.exp(log_softmax(np.asarray(logits, np.float64) / temperature))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    """Equal-width bins of the top probability, from chance (1 / classes) to 1."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, int)
    top = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(1.0 / probs.shape[1], 1.0, bins + 1)
    where = np.clip(np.searchsorted(edges, top, side="right") - 1, 0, bins - 1)
    counts, confidence, accuracy = [], [], []
    ece = 0.0
    for b in range(bins):
        inside = where == b
        n = int(inside.sum())
        counts.append(n)
        if n:
            c, a = float(top[inside].mean()), float(right[inside].mean())
            confidence.append(c)
            accuracy.append(a)
            ece += n / len(top) * abs(c - a)
        else:
            confidence.append(None)
            accuracy.append(None)
    return Reliability(tuple(float(e) for e in edges), tuple(counts), tuple(confidence), tuple(accuracy),
                       float(ece))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    lp = log_softmax(np.asarray(logits, np.float64) / temperature)
    return float(-lp[np.arange(len(labels)), np.asarray(labels, int)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in T_RANGE with the lowest mean cross-entropy of softmax(logits / T): golden-section
    search on log T (the loss is convex in 1 / T)."""
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    for _ in range(60):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, labels, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, labels, math.exp(b))
    return float(math.exp((lo + hi) / 2))


@dataclass(frozen=True)
class Calibration:
    """A split's reliability before and after the temperature fitted on another split."""

    split: str
    count: int
    temperature: float
    fitted_on: int  # validation photos T was fitted on
    before: Reliability
    after: Reliability

    @property
    def too_few(self) -> bool:
        return self.count < MIN_PHOTOS or self.fitted_on < MIN_PHOTOS

    def summary(self) -> str:
        way = ("softens its over-sure answers" if self.temperature > 1.05 else
               "sharpens its timid answers" if self.temperature < 0.95 else "changes little")
        return (f"Expected calibration error on the {self.count} {self.split} photos: {self.before.ece:.1%} as it "
                f"is, {self.after.ece:.1%} with temperature T = {self.temperature:.2f} (fitted on "
                f"{self.fitted_on} validation photos; dividing every logit by T {way}, never its answer).")

    def to_dict(self) -> dict:
        return {"calibration_error": self.before.ece, "calibration_error_after": self.after.ece,
                "temperature": self.temperature, "calibration_split": self.split, "calibration_count": self.count}


def calibrate(test_logits: np.ndarray, test_labels: np.ndarray, validation_logits: np.ndarray,
              validation_labels: np.ndarray, split: str = "test") -> Calibration:
    temperature = fit_temperature(validation_logits, validation_labels)
    return Calibration(split, len(test_labels), temperature, len(validation_labels),
                       reliability(probabilities(test_logits), test_labels),
                       reliability(probabilities(test_logits, temperature), test_labels))


def of_evaluations(test, validation) -> Calibration | None:
    """From two evaluate.Evaluation (test, validation) that hold their logits; None when either lacks them."""
    if test is None or validation is None:
        return None
    if getattr(test, "logits", None) is None or getattr(validation, "logits", None) is None:
        return None
    if not len(test.labels) or not len(validation.labels):
        return None
    return calibrate(test.logits, test.labels, validation.logits, validation.labels, test.split)


def rescale(probabilities_by_class: dict[str, float], temperature: float) -> dict[str, float]:
    """A Prediction's probabilities as softmax(logits / T) would give them: p^(1/T), normalised
    (logits are log-probabilities up to a constant)."""
    names = list(probabilities_by_class)
    p = np.clip(np.array([probabilities_by_class[n] for n in names], np.float64), 1e-300, 1.0)
    scaled = np.exp(np.log(p) / temperature - np.max(np.log(p) / temperature))
    scaled /= scaled.sum()
    return {n: float(v) for n, v in zip(names, scaled)}


_fitted: dict[tuple, float | None] = {}  # (run id, model file size, time) -> temperature, for page reruns
FITTED_KEPT = 64


def temperature_of(run) -> float | None:
    """The temperature a run keeps (fitted when it was saved), else one fitted on its validation
    evaluation kept on disk (evaluate.remembered), once per model file; None when neither is known."""
    if run.temperature is not None:
        return run.temperature
    from . import evaluate

    try:
        stat = run.model_path.stat()
    except OSError:
        return None
    key = (run.run_id, stat.st_size, stat.st_mtime_ns)
    if key in _fitted:
        return _fitted[key]
    found = evaluate.remembered(run, run.dataset_key, "validation")
    fitted = (fit_temperature(found.logits, found.labels)
              if found is not None and found.logits is not None and len(found.labels) >= MIN_PHOTOS else None)
    if fitted is not None:  # an evaluation still to come is looked for again on the next run of the page
        if len(_fitted) >= FITTED_KEPT:
            _fitted.clear()
        _fitted[key] = fitted
    return fitted

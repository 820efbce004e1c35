"""Suspicious labels: the training photos whose given label a model, which never saw them,
most confidently contradicts; and the list of photos a user leaves out of training.

Out-of-fold predictions. The training split is cut into FOLDS stratified, seeded folds; for
each fold a softmax head learns from the other four on the cached MobileNetV2 features and
answers for the fold it did not see. Every photo thus gets an answer from a model that was not
trained on it, and a photo whose label the answer contradicts with high confidence is either
mislabelled, ambiguous (both animals, neither) or simply hard.

The head is the transfer recipe's Dense softmax layer trained as the quick preset trains it
(10 epochs of Adam at 3e-4 on shuffled batches of 32, from the cached features), written in
numpy rather than Keras: five of them take ~2 s on the post's data on 2 cores, where one Keras
fit of the quick head, with its model building and graph tracing, takes longer than all five
(benchmarks/bench_suspects.py). Out-of-fold accuracy there is 96.9 %, as the quick model's
validation accuracy (96.8 %), so the answers are the quick model's, not a weaker stand-in's.

Exclusions. The photos a user agrees are wrong are kept as a list beside the dataset, never by
deleting files (exclusions.py); a job carries them in JobSpec.exclude and training leaves them
out of the training split only.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import config
from ..errors import InvalidSettings
from ..exclusions import (EXCLUSION_FILES, check_exclusions, exclusions_path, kept_rows, load_exclusions,
                          save_exclusions)
from ..fileio import Recent, keep_newest, write_atomic
from ..progress import Phase, Progress

__all__ = ["BATCH_SIZE", "DISK_RESULTS", "EPOCHS", "FOLDS", "KEPT", "LEARNING_RATE", "MEMORY_RESULTS", "METHOD",
           "Suspect", "SuspectReport", "clear_memory", "find_suspects", "fit_softmax", "out_of_fold", "rank",
           "report_from", "result_name", "softmax", "stratified_folds", "train_features",
           # the list of photos left out of training (exclusions.py), as callers know it
           "EXCLUSION_FILES", "check_exclusions", "exclusions_path", "kept_rows", "load_exclusions",
           "save_exclusions"]

FOLDS = 5
EPOCHS = 10  # as the quick preset (jobs.QUICK): its epochs, batch size and learning rate
BATCH_SIZE = config.BATCH_SIZE
LEARNING_RATE = 3e-4
METHOD = f"oof-softmax-{FOLDS}fold-{EPOCHS}x{BATCH_SIZE}-{LEARNING_RATE}-v1"  # part of every cache key
KEPT = 100  # suspects kept per result, the most confident first
DISK_RESULTS = 16  # result files kept on disk
MEMORY_RESULTS = 8


@dataclass(frozen=True)
class Suspect:
    path: str  # relative to the dataset's folder, e.g. "train/cats/cat.12.jpg"
    given: str  # the label the dataset gives it
    predicted: str  # the class the out-of-fold model gives the highest probability
    confidence: float  # the probability of `predicted`
    given_probability: float  # the probability the model gives the given label

    @property
    def contradicts(self) -> bool:
        return self.predicted != self.given


@dataclass(frozen=True)
class SuspectReport:
    dataset_key: str
    class_names: tuple[str, ...]
    photos: int  # training photos examined
    accuracy: float  # out-of-fold accuracy over them
    disagreements: int  # photos whose out-of-fold answer is not their label
    suspects: list[Suspect] = field(default_factory=list)  # most confident contradiction first, at most KEPT
    folds: int = FOLDS
    method: str = METHOD
    seconds: float = 0.0  # to compute (features cached), as measured when it was computed

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SuspectReport":
        values = dict(values)
        values["class_names"] = tuple(values["class_names"])
        values["suspects"] = [Suspect(**s) for s in values["suspects"]]
        return cls(**values)


# ---------------------------------------------------------------- the computation (numpy only)


def stratified_folds(labels: np.ndarray, folds: int = FOLDS, seed: int = config.SEED) -> np.ndarray:
    """The fold (0..folds-1) of each photo: each class shuffled with the seed and dealt round-robin,
    so every fold holds about the same share of every class."""
    labels = np.asarray(labels)
    fold = np.zeros(len(labels), np.int64)
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        fold[rng.permutation(members)] = np.arange(len(members)) % folds
    return fold


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
                learning_rate: float = LEARNING_RATE, seed: int = config.SEED,
                variants: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A Dense softmax layer (weights, bias) fitted to features x and labels y as the quick model's
    head is: cross-entropy, Adam, shuffled mini-batches (seeded), from zeros.

    Mini-batches, not full-batch steps: on 1,280 features a pass over the data is memory-bound,
    and ten passes of small Adam steps learn what a full-batch optimizer needs ~100 passes for.

    variants: (K, N, D) features of K augmented copies of each photo; in each epoch every photo
    is one of its copies, drawn from the seed (as training's variant bank draws them). x is then unused.
    """
    n, d = (variants.shape[1], variants.shape[2]) if variants is not None else x.shape
    w, b = np.zeros((d, classes), np.float32), np.zeros(classes, np.float32)
    onehot = np.eye(classes, dtype=np.float32)[y]
    adam = _Adam(w, b, learning_rate)
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    for _ in range(epochs):
        order = rng.permutation(n)
        if variants is not None:
            x = variants[rng.integers(len(variants), size=n), rows]
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb = x[idx]
            delta = (softmax(xb @ w + b) - onehot[idx]) / len(idx)  # cross-entropy's gradient at the logits
            adam.step(w, b, xb.T @ delta, delta.sum(axis=0))
    return w, b


class _Adam:
    """Adam's moments of a Dense layer's weights and bias, with Keras' defaults (beta 0.9 and
    0.999, epsilon 1e-7); each step updates the arrays in place."""

    BETA1, BETA2, EPS = 0.9, 0.999, 1e-7

    def __init__(self, w: np.ndarray, b: np.ndarray, learning_rate: float):
        self.mw, self.vw, self.mb, self.vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
        self.learning_rate, self.t = learning_rate, 0

    def step(self, w: np.ndarray, b: np.ndarray, gw: np.ndarray, gb: np.ndarray) -> None:
        beta1, beta2, eps = self.BETA1, self.BETA2, self.EPS
        self.t += 1
        rate = self.learning_rate * np.sqrt(1 - beta2**self.t) / (1 - beta1**self.t)
        self.mw += (1 - beta1) * (gw - self.mw)
        self.vw += (1 - beta2) * (gw * gw - self.vw)
        self.mb += (1 - beta1) * (gb - self.mb)
        self.vb += (1 - beta2) * (gb * gb - self.vb)
        w -= rate * self.mw / (np.sqrt(self.vw) + eps)
        b -= rate * self.mb / (np.sqrt(self.vb) + eps)


def out_of_fold(features: np.ndarray, labels: np.ndarray, classes: int, folds: int = FOLDS,
                seed: int = config.SEED, progress: Progress | None = None) -> np.ndarray:
    """(N, classes) probabilities: each photo's from a head trained on the other folds only."""
    x = np.asarray(features, np.float32)
    y = np.asarray(labels, np.int64)
    fold = stratified_folds(y, folds, seed)
    probs = np.zeros((len(y), classes), np.float32)
    for k in range(folds):
        held = fold == k
        if held.any() and (~held).any():
            w, b = fit_softmax(x[~held], y[~held], classes, seed=seed + k)
            probs[held] = softmax(x[held] @ w + b)
        if progress:
            progress(k + 1, folds, "Training a head per fold")
    return probs


def rank(probs: np.ndarray, labels: np.ndarray, files, class_names, kept: int = KEPT) -> list[Suspect]:
    """The photos whose out-of-fold answer contradicts their label, the most confident first
    (by the probability given to classes other than the label), at most `kept`."""
    labels = np.asarray(labels)
    given_p = probs[np.arange(len(labels)), labels]
    predicted = probs.argmax(axis=1)
    order = [i for i in np.argsort(given_p, kind="stable") if predicted[i] != labels[i]][:kept]
    return [Suspect(str(files[i]), str(class_names[labels[i]]), str(class_names[predicted[i]]),
                    float(probs[i, predicted[i]]), float(given_p[i])) for i in order]


def report_from(features: np.ndarray, data, kept: int = KEPT,
                progress: Progress | None = None) -> SuspectReport:
    """The out-of-fold report of a dataset's training split, from its features."""
    started = time.perf_counter()
    labels = data.train.labels
    probs = out_of_fold(features, labels, len(data.class_names), progress=progress)
    predicted = probs.argmax(axis=1)
    right = int(np.sum(predicted == labels))
    return SuspectReport(data.key, tuple(data.class_names), len(labels), right / max(1, len(labels)),
                         len(labels) - right, rank(probs, labels, data.train.files, data.class_names, kept),
                         seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- with the frozen base, cached


_memory = Recent(MEMORY_RESULTS)  # name -> SuspectReport


def _result_path(name: str) -> Path:
    return config.cache_home() / "suspects" / f"{name}.json"


def result_name(dataset_key: str, weights: str) -> str:
    """The cache name of a report: the dataset's content, the base's weights (by bytes), the method."""
    from ..features import weights_digest

    ident = f"{dataset_key}|{weights_digest(weights)}|{METHOD}|{config.IMG_SIZE}"
    return f"{dataset_key}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}"


def _read(name: str) -> SuspectReport | None:
    path = _result_path(name)
    try:
        if path.stat().st_size > 4 * 1024**2:
            return None
        return SuspectReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def find_suspects(data, weights: str | None = None,
                  progress: Progress | None = None) -> SuspectReport:
    """The suspicious labels of a dataset's training split: MobileNetV2's features (cached per
    dataset, as training caches them), then out-of-fold softmax heads. Kept in memory and on
    disk by dataset content, weights and method, so a second ask is answered at once."""
    weights = weights or config.base_weights_setting()
    if len(data.train) < 2 * FOLDS:
        raise InvalidSettings(f"The training split has {len(data.train)} photos; the label check needs at "
                              f"least {2 * FOLDS}.")
    name = result_name(data.key, weights)
    hit = _memory.get(name)
    if hit is None:
        hit = _read(name)
    if hit is not None:
        return _memory.put(name, hit)
    train_x = train_features(data, weights, progress)
    report = report_from(train_x, data, progress=progress)  # its seconds: from cached features, as benchmarked
    path = _result_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(report.to_dict()).encode("utf-8", "surrogatepass"))
        keep_newest(path.parent, "*.json", DISK_RESULTS)
    except OSError:
        pass  # a read-only home only costs the next ask the computation
    return _memory.put(name, report)


def train_features(data, weights: str, progress: Progress | None = None) -> np.ndarray:
    """MobileNetV2's pooled features of the training split, from (or into) the cache training uses."""
    from .. import features
    from ..augment import NO_AUGMENTATION
    from ..models import build

    if progress:
        progress(0, 0, Phase.BASE)
    built = build("transfer", max(2, len(data.class_names)), NO_AUGMENTATION, weights=weights, share_base=True)
    extract = features.FeatureExtractor(built.features, weights)
    return features.cached_features(extract, data.key, "train", data.train.images, progress)


def clear_memory() -> None:
    _memory.clear()

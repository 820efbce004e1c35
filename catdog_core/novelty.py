""""None of the above": how far a photo lies from the photos a model learned from.

A cats-vs-dogs model answers "cat" or "dog" for anything, a coffee cup included, and often with
99 %. Its own confidence cannot tell (the softmax only compares the classes it knows), so the
question is asked of the frozen MobileNetV2's features instead, the same for every recipe:

- each photo's pooled features are scaled to length 1 (the direction, not the brightness);
- the training split gives one mean per class and one covariance shared by the classes, shrunk
  towards its average variance (1,280 features from ~2,000 photos cannot be inverted as they are);
- a photo's score is its Mahalanobis distance to the nearest class mean;
- the threshold is the score under which SHARE (95 %) of the validation photos fall, so about one
  real validation photo in twenty is flagged by construction, and the page says so.

Chosen by measurement (benchmarks/bench_novelty.py, 2026-12-07), on the post's data and 20 non-pet
images that scikit-image ships (coffee, rocket, astronaut, text, grass, ...): at the 95 % threshold
this score flagged 19 of 20 (it passed only the horse, a black silhouette of an animal); the
nearest training photos (cosine, k = 1 or 5) 18; the same distance without the length-1 scaling
14; the model's own max softmax and energy 11. Every score passed scikit-image's cat. The score
of a photo costs 0.18 ms once its features are known (its forward pass: 4 ms).

A reference depends only on the dataset's content and the base, so it is kept on disk by both
(a few MB, the newest KEPT_ON_DISK) and any run of that data shares it.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from . import config
from .errors import CatdogError
from .fileio import Recent

METHOD = "mahalanobis-unit-shrink0.1-v1"
SHARE = 0.95  # of the validation photos that pass as "like the training photos"
SHRINK = 0.1  # the covariance's weight moved to its average variance
MIN_VALIDATION = 20  # fewer validation photos cannot place a 95 % threshold: "too few to judge"
KEPT_ON_DISK = 8
KEPT_IN_MEMORY = 4


@dataclass(frozen=True)
class Verdict:
    """One photo's score against a reference: out_of_distribution is None when too few validation
    photos set no threshold."""

    score: float
    threshold: float | None
    share: float = SHARE

    @property
    def out_of_distribution(self) -> bool | None:
        return None if self.threshold is None else bool(self.score > self.threshold)

    def sentence(self, what: str = "the photos") -> str:
        if self.threshold is None:
            return (f"Too few validation photos to judge whether this looks like {what} the model learned from "
                    f"(at least {MIN_VALIDATION} are needed).")
        if self.out_of_distribution:
            return (f"This does not look like {what} the model learned from (score {self.score:.1f}; "
                    f"{self.share:.0%} of validation photos score under {self.threshold:.1f}). "
                    "The model must still pick one of its classes; its answer is shown greyed.")
        return (f"Looks like {what} the model learned from (score {self.score:.1f}, under {self.threshold:.1f}, "
                f"as {self.share:.0%} of validation photos are).")

    def to_dict(self) -> dict:
        return {"out_of_distribution": self.out_of_distribution, "ood_score": round(self.score, 3),
                "ood_threshold": None if self.threshold is None else round(self.threshold, 3)}


@dataclass(frozen=True)
class Reference:
    """What "like the training photos" means for one dataset and base."""

    dataset_key: str
    base_key: str
    means: np.ndarray  # (classes, features) of the unit-length training features, float32
    whiten: np.ndarray  # (features, features): L with L @ L.T the shrunk precision, float32
    threshold: float | None
    validation_count: int
    validation_flagged: float | None  # the share of validation photos over the threshold
    share: float = SHARE
    method: str = METHOD

    @cached_property
    def _centres(self) -> np.ndarray:
        return self.means.astype(np.float32) @ self.whiten.astype(np.float32)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, D) pooled features -> (N,) distances to the nearest class (float64). In float32: one
        (D, D) product a photo, ~0.3 ms; a float64 copy of the matrix cost more than the product."""
        x = _unit(np.asarray(features, np.float64)).astype(np.float32)
        z = x @ self.whiten
        d2 = ((z[:, None, :] - self._centres[None, :, :]) ** 2).sum(-1, dtype=np.float64)
        return np.sqrt(d2.min(axis=1))

    def verdicts(self, features: np.ndarray) -> list[Verdict]:
        return [Verdict(float(s), self.threshold, self.share) for s in self.scores(features)]

    def summary(self) -> str:
        if self.threshold is None:
            return f"{self.validation_count} validation photos: too few to set a threshold"
        return (f"threshold {self.threshold:.1f}: {self.share:.0%} of {self.validation_count} validation photos "
                f"score under it")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit(train_features: np.ndarray, train_labels: np.ndarray, validation_features: np.ndarray,
        classes: int, *, dataset_key: str = "", base_key: str = "", share: float = SHARE,
        shrink: float = SHRINK) -> Reference:
    """The reference of a training split (features and labels) with its threshold set on the
    validation split's features. Raises CatdogError for a split that cannot define one."""
    x = _unit(np.asarray(train_features, np.float64))
    y = np.asarray(train_labels, int)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise CatdogError("The reference needs the features and labels of at least two training photos.")
    present = [c for c in range(classes) if np.any(y == c)]
    if not present:
        raise CatdogError("No training photo has a class.")
    means = np.stack([x[y == c].mean(axis=0) if np.any(y == c) else np.full(x.shape[1], np.nan)
                      for c in range(classes)])
    centred = x - means[y]
    cov = centred.T @ centred / len(x)
    cov = (1 - shrink) * cov + shrink * (np.trace(cov) / cov.shape[0]) * np.eye(cov.shape[0])
    try:
        whiten = np.linalg.cholesky(np.linalg.inv(cov))
    except np.linalg.LinAlgError:
        raise CatdogError("The training photos' features are too alike to describe their spread.") from None
    kept = means[present]  # a class without training photos has no mean to be near
    reference = Reference(dataset_key, base_key, kept.astype(np.float32), whiten.astype(np.float32), None,
                          len(validation_features), None, share)
    if len(validation_features) < MIN_VALIDATION:
        return reference
    scores = reference.scores(validation_features)
    threshold = float(np.quantile(scores, share))
    return Reference(dataset_key, base_key, reference.means, reference.whiten, threshold,
                     len(validation_features), float(np.mean(scores > threshold)), share)


# ---------------------------------------------------------------- kept by content

_memory = Recent(KEPT_IN_MEMORY)  # name -> Reference


def _name(base_key: str, dataset_key: str) -> str:
    ident = f"{base_key}|{dataset_key}|{METHOD}|{SHARE}|{config.IMG_SIZE}"
    return f"{dataset_key}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}"


def _path(name: str) -> Path:
    return config.cache_home() / "novelty" / f"{name}.npz"


def _to_bytes(ref: Reference) -> bytes:
    out = io.BytesIO()
    np.savez(out, means=ref.means, whiten=ref.whiten,
             numbers=np.array([np.nan if ref.threshold is None else ref.threshold, ref.validation_count,
                               np.nan if ref.validation_flagged is None else ref.validation_flagged, ref.share]),
             keys=np.array([ref.dataset_key, ref.base_key, ref.method]))
    return out.getvalue()


def _from_file(path: Path) -> Reference | None:
    try:
        if path.stat().st_size > 64 * 1024**2:
            return None
        with np.load(path, allow_pickle=False) as z:
            threshold, count, flagged, share = (float(v) for v in z["numbers"])
            dataset_key, base_key, method = (str(v) for v in z["keys"])
            means, whiten = z["means"], z["whiten"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if method != METHOD or whiten.ndim != 2 or means.ndim != 2 or means.shape[1] != whiten.shape[0]:
        return None
    return Reference(dataset_key, base_key, means.astype(np.float32), whiten.astype(np.float32),
                     None if np.isnan(threshold) else threshold,
                     int(count), None if np.isnan(flagged) else flagged, share)


def kept(base_key: str, dataset_key: str) -> Reference | None:
    """The reference made before for this base and dataset (memory, then disk), or None."""
    name = _name(base_key, dataset_key)
    hit = _memory.get(name)
    if hit is None:
        hit = _from_file(_path(name))
        if hit is None or hit.dataset_key != dataset_key or hit.base_key != base_key:
            return None
        try:
            _path(name).touch()  # recently used: pruning drops the oldest first
        except OSError:
            pass
    return _memory.put(name, hit)


def reference_for(extractor, data, progress=None) -> Reference:
    """The reference of a loaded dataset (catdog_core.dataset.Dataset) for a base's feature extractor
    (features.FeatureExtractor): from the features training caches, made once and kept."""
    from . import features
    from .fileio import keep_newest, write_atomic

    found = kept(extractor.key, data.key)
    if found is not None:
        return found
    train_x = features.cached_features(extractor, data.key, "train", data.train.images, progress)
    val_x = features.cached_features(extractor, data.key, "validation", data.validation.images, progress)
    ref = fit(train_x, data.train.labels, val_x, len(data.class_names), dataset_key=data.key,
              base_key=extractor.key)
    name = _name(extractor.key, data.key)
    try:
        path = _path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, _to_bytes(ref))
        keep_newest(path.parent, "*.npz", KEPT_ON_DISK)
    except OSError:
        pass  # a read-only cache: made again next time
    return _memory.put(name, ref)


def clear_memory() -> None:
    _memory.clear()


# ---------------------------------------------------------------- the base's features of any photo

_extractors: dict[str, object] = {}
_extractors_lock = threading.Lock()


def base_extractor(weights: str | None = None):
    """The frozen MobileNetV2's feature extractor (TFLite where it can), one per weights per process."""
    from . import features
    from .augment import NO_AUGMENTATION
    from .models import build

    weights = weights or config.base_weights_setting()
    with _extractors_lock:
        found = _extractors.get(weights)
        if found is None:
            built = build("transfer", 2, NO_AUGMENTATION, weights=weights, share_base=True)
            found = _extractors[weights] = features.FeatureExtractor(built.features, weights)
        return found


def for_run(run, allow_compute: bool = True, weights: str | None = None) -> Reference | None:
    """The reference of the data a run learned from: kept, else made from that data when it is still
    where the run found it and unchanged (its content key); None when it cannot be made."""
    from . import dataset

    extractor = base_extractor(weights)
    found = kept(extractor.key, run.dataset_key)
    if found is not None or not allow_compute:
        return found
    location = str(run.dataset.get("location") or "")
    if not location:
        return None
    try:
        data = dataset.load_dataset(location, allow_download=False)
    except CatdogError:
        return None
    if data.key != run.dataset_key:
        return None  # the folder changed since: its photos are not what the run learned from
    return reference_for(extractor, data)


def judge(run, images: np.ndarray, allow_compute: bool = True) -> list[Verdict] | None:
    """(N, 160, 160, 3) model inputs -> a Verdict each against the run's data, or None without a reference."""
    ref = for_run(run, allow_compute)
    if ref is None or not len(images):
        return None
    return ref.verdicts(base_extractor()(np.asarray(images)))

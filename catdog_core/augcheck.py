"""Does this augmentation help? Measured in seconds on the transfer recipe's frozen MobileNetV2.

The frozen base never learns, so what augmentation changes for the transfer model is the set of
features its head trains on. The check makes K augmented copies of every training photo under the
settings, runs them through the base once (features kept on disk by the dataset's content, the
base, the settings and K), and trains the quick head S times with different seeds on each side:

- with: in every epoch each photo is one of its K augmented copies, drawn from the seed (as the
  training's variant bank does for an augmented transfer run);
- without: the photos as they are (their features are the quick model's, cached once).

Both sides are measured on the same validation split. The verdict compares the two means against
their seed spread (and one validation photo), so a difference inside the noise is called none.
The heads are suspects.fit_softmax: the quick head in numpy, ~0.1 s each.

A sweep repeats the "with" side for 4-6 values of one setting; "without" is measured once.
Every answer is kept on disk (small JSON, at most KEEP_RESULTS), so asking again is instant.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import config
from .features import FEATURE_CHUNK as CHUNK  # the base's batch, as for every other feature pass
from .augment import MAX_SWEEP, SWEEP_SETTINGS, AugmentSettings, sweep_values  # noqa: F401
from .errors import InvalidSettings
from .jobspec import BOUNDS
from .progress import Progress, phases, say

VARIANTS = 4  # augmented copies of each training photo (K)
SEEDS = 3  # heads trained on each side (S)
MAX_VARIANTS, MAX_SEEDS = int(BOUNDS["augcheck_variants"].high), int(BOUNDS["augcheck_seeds"].high)
VERSION = "2"  # part of every cache key (2: flip and rotation as augment_batch draws them)
KEEP_RESULTS = 500
KEEP_VARIANT_FILES = 12  # augmented feature files (the post's data: ~20 MB each, float16)


@dataclass(frozen=True)
class CheckResult:
    """One "does it help?" answer: validation accuracy of each seed's head, with and without."""

    settings: dict
    with_accuracies: tuple[float, ...]
    without_accuracies: tuple[float, ...]
    photos: int  # training photos
    variants: int  # augmented copies of each
    count: int  # validation photos measured on
    seconds: float  # to compute it (when it was computed)
    cached: bool = False

    @property
    def seeds(self) -> int:
        return len(self.with_accuracies)

    @property
    def with_mean(self) -> float:
        return float(np.mean(self.with_accuracies))

    @property
    def without_mean(self) -> float:
        return float(np.mean(self.without_accuracies))

    @property
    def with_spread(self) -> float:
        return spread(self.with_accuracies)

    @property
    def without_spread(self) -> float:
        return spread(self.without_accuracies)

    @property
    def difference(self) -> float:
        """with - without, in accuracy (0.009 is 0.9 points)."""
        return self.with_mean - self.without_mean

    @property
    def margin(self) -> float:
        """What a difference must exceed to count: twice the standard error of the difference of
        the two means over the seeds, and never less than one validation photo."""
        error = math.sqrt(self.with_spread ** 2 / self.seeds + self.without_spread ** 2 / len(self.without_accuracies))
        return max(2 * error, 1.0 / max(1, self.count))

    @property
    def verdict(self) -> str:
        return verdict(self)

    def to_dict(self) -> dict:
        values = asdict(self)
        values.pop("cached")
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "CheckResult":
        return cls(dict(values["settings"]), tuple(float(v) for v in values["with_accuracies"]),
                   tuple(float(v) for v in values["without_accuracies"]), int(values["photos"]),
                   int(values["variants"]), int(values["count"]), float(values["seconds"]))

    def summary(self) -> dict:
        """The figures the command line's --json carries."""
        return {"with_mean": round(self.with_mean, 4), "with_spread": round(self.with_spread, 4),
                "without_mean": round(self.without_mean, 4), "without_spread": round(self.without_spread, 4),
                "difference": round(self.difference, 4), "margin": round(self.margin, 4),
                "verdict": self.verdict, "seconds": round(self.seconds, 2), "photos": self.photos,
                "variants": self.variants, "seeds": self.seeds, "validation": self.count, "cached": self.cached}


def spread(values: Sequence[float]) -> float:
    """The seeds' sample standard deviation (0 for one seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _pct(value: float) -> str:
    return f"{value * 100:.1f}"


def verdict(result: CheckResult) -> str:
    """One sentence that takes the spread into account."""
    both = (f"{_pct(result.with_mean)} ± {_pct(result.with_spread)} % with, "
            f"{_pct(result.without_mean)} ± {_pct(result.without_spread)} % without")
    points = f"{abs(result.difference) * 100:.1f} ± {result.margin * 100:.1f} points"
    if abs(result.difference) <= result.margin:
        return f"No measurable difference: {both}."
    if result.difference > 0:
        return f"Helps by {points}: {both}."
    return f"Hurts by {points}: {both}."


def check_settings(variants: int, seeds: int) -> None:
    BOUNDS["augcheck_variants"].check(variants)
    BOUNDS["augcheck_seeds"].check(seeds)


# ---------------------------------------------------------------- caches


def _folder() -> Path:
    return config.cache_home() / "augment-check"


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def result_key(dataset_key: str, base_key: str, settings: AugmentSettings, variants: int, seeds: int) -> str:
    return _digest(VERSION, "result", dataset_key, base_key, settings.to_dict(), variants, seeds)


def cached_result(key: str) -> CheckResult | None:
    path = _folder() / f"{key}.json"
    try:
        if path.stat().st_size > 64 * 1024:
            return None
        found = CheckResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from dataclasses import replace

    return replace(found, cached=True)


def _prune(pattern: str, keep: int) -> None:
    from .fileio import keep_newest

    keep_newest(_folder(), pattern, keep)


def _store(key: str, result: CheckResult) -> None:
    from .fileio import write_atomic

    try:
        _folder().mkdir(parents=True, exist_ok=True)
        write_atomic(_folder() / f"{key}.json", json.dumps(result.to_dict()).encode())
        _prune("*.json", KEEP_RESULTS)
    except OSError:
        pass


class _Augmented:
    """K augmented copies of every image, made a chunk at a time on demand: row r is copy r // N of
    image r % N. Each chunk's draws are seeded from the settings' seed and the chunk's place, so the
    copies are the same whatever order the chunks are asked in."""

    def __init__(self, images: np.ndarray, settings: AugmentSettings, variants: int):
        self.images, self.settings, self.variants = images, settings, variants

    def __len__(self) -> int:
        return len(self.images) * self.variants

    def __getitem__(self, part: slice) -> np.ndarray:
        from .augment import augment_batch

        rows = np.arange(len(self))[part]
        if not len(rows):
            return np.zeros((0,) + self.images.shape[1:], np.uint8)
        seed = int(hashlib.sha256(f"{self.settings.seed}-{rows[0]}".encode()).hexdigest()[:7], 16)
        return augment_batch(self.images[rows % len(self.images)], self.settings, seed)


def variant_features(extract, dataset, settings: AugmentSettings, variants: int,
                     progress: Progress | None = None, stop: threading.Event | None = None) -> np.ndarray | None:
    """(K, N, 1280) features of K augmented copies of every training photo; on disk by content
    (float16: the head cannot tell), computed through the base in chunks. None when stopped."""
    from .fileio import write_atomic

    images = dataset.train.images
    n = len(images)
    path = _folder() / f"{_digest(VERSION, 'variants', dataset.key, extract.key, settings.to_dict(), variants)}.npy"
    try:
        kept = np.load(path)
        if kept.shape[:2] == (variants, n):
            path.touch()
            return kept.astype(np.float32)
    except (OSError, ValueError):
        pass
    source = _Augmented(images, settings, variants)
    out = []
    starts = range(0, len(source), CHUNK)
    # The next chunk is augmented (TensorFlow's affine kernel) while the base (TFLite) runs on this one.
    with ThreadPoolExecutor(1) as ahead:
        coming = ahead.submit(source.__getitem__, slice(0, CHUNK))
        for start in starts:
            batch = coming.result()
            if start + CHUNK < len(source):
                coming = ahead.submit(source.__getitem__, slice(start + CHUNK, start + 2 * CHUNK))
            if stop is not None and stop.is_set():
                coming.cancel()
                return None
            out.append(extract(batch))
            if progress:
                progress(min(start + CHUNK, len(source)), len(source), f"Augmenting {n} photos x{variants}")
    found = np.concatenate(out).astype(np.float32).reshape(variants, n, -1)
    try:
        _folder().mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.save(f, found.astype(np.float16)))
        _prune("*.npy", KEEP_VARIANT_FILES)
    except OSError:
        pass
    return found


# ---------------------------------------------------------------- the measurement


def _accuracy(w, b, x, y) -> float:
    return float(np.mean(np.argmax(x @ w + b, axis=1) == y)) if len(y) else 0.0


def _heads(train_x, train_y, val_x, val_y, classes: int, seeds: int, variants: np.ndarray | None = None) -> tuple:
    from .suspects import fit_softmax

    found = []
    for s in range(seeds):
        w, b = fit_softmax(train_x, train_y, classes, seed=config.SEED + s, variants=variants)
        found.append(_accuracy(w, b, val_x, val_y))
    return tuple(found)


class _Base:
    """The frozen base and the plain features of the training and validation splits (cached)."""

    def __init__(self, dataset, weights: str | None, on_phase):
        from . import features
        from .augment import NO_AUGMENTATION
        from .models import build

        on_phase("Building MobileNetV2", 0, 0)
        weights = weights or config.base_weights_setting()
        built = build("transfer", max(2, len(dataset.class_names)), NO_AUGMENTATION, weights=weights, share_base=True)
        self.extract = features.FeatureExtractor(built.features, weights)
        self.plain = {}
        for split in ("train", "validation"):
            self.plain[split] = features.cached_features(self.extract, dataset.key, split, dataset.split(split).images,
                                                         phases(on_phase))


def _checked_data(dataset) -> None:
    if len(dataset.class_names) < 2:
        raise InvalidSettings("Checking augmentation needs at least 2 classes.")
    if not len(dataset.validation) or not len(dataset.train):
        raise InvalidSettings("Checking augmentation needs training and validation photos.")


def check_many(dataset, settings_list: Sequence[AugmentSettings], *, variants: int = VARIANTS, seeds: int = SEEDS,
               weights: str | None = None, on_result: Callable[[int, CheckResult], None] | None = None,
               on_phase: Callable[[str, int, int], None] | None = None,
               stop: threading.Event | None = None) -> list[CheckResult]:
    """One CheckResult per settings, in order (cached ones at once), each reported to on_result(i, result)
    as it is ready. "Without" is measured once for all. A set `stop` ends it between steps."""
    from . import features

    check_settings(variants, seeds)
    _checked_data(dataset)
    stop = stop or threading.Event()
    on_phase = on_phase or (lambda message, done=0, total=0: None)
    weights = weights or config.base_weights_setting()
    base_id = features.weights_digest(weights)
    classes = len(dataset.class_names)
    train_y, val_y = dataset.train.labels, dataset.validation.labels
    base, without, results = None, None, []
    for i, settings in enumerate(settings_list):
        if stop.is_set():
            break
        key = result_key(dataset.key, base_id, settings, variants, seeds)
        result = cached_result(key)
        if result is None:
            started = time.perf_counter()
            if base is None:
                base = _Base(dataset, weights, on_phase)
            if without is None:
                on_phase("Training the heads without augmentation", 0, seeds)
                without = _heads(base.plain["train"], train_y, base.plain["validation"], val_y, classes, seeds)
            with_ = without  # a sweep's 0: no random layer, the photos as they are
            if not settings.is_identity:
                label = f"Augmenting {len(dataset.train)} photos x{variants}"
                if len(settings_list) > 1:
                    label += f" ({i + 1} of {len(settings_list)})"
                bank = variant_features(base.extract, dataset, settings, variants, say(phases(on_phase), label), stop)
                if bank is None:
                    break
                on_phase("Training the heads with augmentation", 0, seeds)
                with_ = _heads(None, train_y, base.plain["validation"], val_y, classes, seeds, variants=bank)
            result = CheckResult(settings.to_dict(), with_, without, len(train_y), variants, len(val_y),
                                 time.perf_counter() - started)
            _store(key, result)
        results.append(result)
        if on_result is not None:
            on_result(i, result)
    return results


def check(dataset, settings: AugmentSettings, **options) -> CheckResult | None:
    """Does `settings` help the transfer recipe's head on this data? None when stopped first."""
    found = check_many(dataset, [settings], **options)
    return found[0] if found else None


def known(dataset_key: str, settings: AugmentSettings, weights: str | None = None, variants: int = VARIANTS,
          seeds: int = SEEDS) -> CheckResult | None:
    """An answer kept on disk, without TensorFlow (the page asks this before it submits a job)."""
    from . import features

    try:
        base_id = features.weights_digest(weights or config.base_weights_setting())
    except Exception:
        return None
    return cached_result(result_key(dataset_key, base_id, settings, variants, seeds))


# ---------------------------------------------------------------- as a job of the queue


def run_check_job(spec, observer, stop: threading.Event, report: Callable[[int, dict], None]) -> tuple[str, str]:
    """A "does it help?" job (kind augment_check): spec.settings, or each value of spec.sweep_setting
    in spec.sweep_values; each answer goes to report(number, answer as a dict), 1-based."""
    from . import dataset as datasets
    from .jobspec import DONE, STOPPED

    observer.on_phase("Loading the dataset")
    data = datasets.load_dataset(spec.data, progress=phases(observer.on_phase))
    plan = (sweep_values(spec.settings, spec.sweep_setting, spec.sweep_values) if spec.sweep_setting
            else [spec.settings])

    def on_result(i: int, result: CheckResult) -> None:
        report(i + 1, {**result.summary(), "settings": result.settings,
                       "value": getattr(plan[i], spec.sweep_setting) if spec.sweep_setting else None})

    found = check_many(data, plan, variants=spec.variants or VARIANTS, seeds=SEEDS, weights=spec.weights,
                       on_result=on_result, on_phase=observer.on_phase, stop=stop)
    if len(found) < len(plan):
        return STOPPED, f"Stopped after {len(found)} of {len(plan)}"
    return DONE, found[-1].verdict if len(plan) == 1 else f"Finished: {len(plan)} values measured"

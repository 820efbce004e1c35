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
This module measures; an answer and its cache are augresult's, the augmented features augbank's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .. import config
from ..augment import MAX_SWEEP, SWEEP_SETTINGS, AugmentSettings, sweep_values
from .augbank import CHUNK, KEEP_VARIANT_FILES, variant_features
from .augresult import (KEEP_RESULTS, VERSION, CheckResult, cached_result, result_key, spread, store_result,
                        verdict)
from ..errors import InvalidSettings
from ..jobspec import BOUNDS
from ..progress import Phase, Progress, quiet, say

# One answer and its cache are augresult's, the augmented features augbank's, named here too: callers
# ask augcheck for all of it.
__all__ = ["CHUNK", "KEEP_RESULTS", "KEEP_VARIANT_FILES", "MAX_SEEDS", "MAX_SWEEP", "MAX_VARIANTS", "SEEDS",
           "SWEEP_SETTINGS", "VARIANTS", "VERSION", "CheckResult", "cached_result", "check", "check_many",
           "check_settings", "known", "result_key", "run_check_job", "spread", "sweep_values", "variant_features",
           "verdict"]

VARIANTS = 4  # augmented copies of each training photo (K)
SEEDS = 3  # heads trained on each side (S)
MAX_VARIANTS, MAX_SEEDS = int(BOUNDS["augcheck_variants"].high), int(BOUNDS["augcheck_seeds"].high)


def check_settings(variants: int, seeds: int) -> None:
    BOUNDS["augcheck_variants"].check(variants)
    BOUNDS["augcheck_seeds"].check(seeds)


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

    def __init__(self, dataset, weights: str | None, progress: Progress):
        from .. import features
        from ..augment import NO_AUGMENTATION
        from ..models import build

        progress(0, 0, Phase.BASE)
        weights = weights or config.base_weights_setting()
        built = build("transfer", max(2, len(dataset.class_names)), NO_AUGMENTATION, weights=weights, share_base=True)
        self.extract = features.FeatureExtractor(built.features, weights)
        self.plain = {}
        for split in ("train", "validation"):
            self.plain[split] = features.cached_features(self.extract, dataset.key, split, dataset.split(split).images,
                                                         progress)


def _checked_data(dataset) -> None:
    if len(dataset.class_names) < 2:
        raise InvalidSettings("Checking augmentation needs at least 2 classes.")
    if not len(dataset.validation) or not len(dataset.train):
        raise InvalidSettings("Checking augmentation needs training and validation photos.")


@dataclass
class _Sweep:
    """What one check_many's measurements share: the base and the heads without augmentation, each
    made when the first answer not on disk needs it."""

    dataset: object
    variants: int
    seeds: int
    weights: str
    progress: Progress
    stop: threading.Event
    count: int  # settings asked about (the progress label names "i of count")
    base: _Base | None = None
    without: tuple | None = None

    def measure(self, i: int, settings: AugmentSettings) -> CheckResult | None:
        """The i-th settings' answer, measured now; None when stopped while augmenting."""
        started = time.perf_counter()
        if self.base is None:
            self.base = _Base(self.dataset, self.weights, self.progress)
        train_y, val_y = self.dataset.train.labels, self.dataset.validation.labels
        if self.without is None:
            self.progress(0, self.seeds, "Training the heads without augmentation")
            self.without = _heads(self.base.plain["train"], train_y, self.base.plain["validation"], val_y,
                                  len(self.dataset.class_names), self.seeds)
        with_ = self.without  # a sweep's 0: no random layer, the photos as they are
        if not settings.is_identity:
            with_ = self._with(i, settings)
            if with_ is None:
                return None
        return CheckResult(settings.to_dict(), with_, self.without, len(train_y), self.variants, len(val_y),
                           time.perf_counter() - started)

    def _with(self, i: int, settings: AugmentSettings) -> tuple | None:
        """Each seed's head trained on the augmented copies' features; None when stopped."""
        label = f"Augmenting {len(self.dataset.train)} photos x{self.variants}"
        if self.count > 1:
            label += f" ({i + 1} of {self.count})"
        bank = variant_features(self.base.extract, self.dataset, settings, self.variants,
                                say(self.progress, label), self.stop)
        if bank is None:
            return None
        self.progress(0, self.seeds, "Training the heads with augmentation")
        return _heads(None, self.dataset.train.labels, self.base.plain["validation"], self.dataset.validation.labels,
                      len(self.dataset.class_names), self.seeds, variants=bank)


def check_many(dataset, settings_list: Sequence[AugmentSettings], *, variants: int = VARIANTS, seeds: int = SEEDS,
               weights: str | None = None, on_result: Callable[[int, CheckResult], None] | None = None,
               progress: Progress | None = None,
               stop: threading.Event | None = None) -> list[CheckResult]:
    """One CheckResult per settings, in order (cached ones at once), each reported to on_result(i, result)
    as it is ready. "Without" is measured once for all. A set `stop` ends it between steps."""
    from .. import features

    check_settings(variants, seeds)
    _checked_data(dataset)
    weights = weights or config.base_weights_setting()
    base_id = features.weights_digest(weights)
    sweep = _Sweep(dataset, variants, seeds, weights, progress or quiet,
                   stop or threading.Event(), len(settings_list))
    results = []
    for i, settings in enumerate(settings_list):
        if sweep.stop.is_set():
            break
        key = result_key(dataset.key, base_id, settings, variants, seeds)
        result = cached_result(key)
        if result is None:
            result = sweep.measure(i, settings)
            if result is None:
                break
            store_result(key, result)
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
    from .. import features

    try:
        base_id = features.weights_digest(weights or config.base_weights_setting())
    except Exception:
        return None
    return cached_result(result_key(dataset_key, base_id, settings, variants, seeds))


# ---------------------------------------------------------------- as a job of the queue


def run_check_job(spec, observer, stop: threading.Event, report: Callable[[int, dict], None]) -> tuple[str, str]:
    """A "does it help?" job (kind augment_check): spec.settings, or each value of spec.sweep_setting
    in spec.sweep_values; each answer goes to report(number, answer as a dict), 1-based."""
    from .. import dataset as datasets
    from ..jobspec import DONE, STOPPED

    observer.phase(Phase.LOADING)
    data = datasets.load_dataset(spec.data, progress=observer.progress)
    plan = (sweep_values(spec.settings, spec.sweep_setting, spec.sweep_values) if spec.sweep_setting
            else [spec.settings])

    def on_result(i: int, result: CheckResult) -> None:
        report(i + 1, {**result.summary(), "settings": result.settings,
                       "value": getattr(plan[i], spec.sweep_setting) if spec.sweep_setting else None})

    found = check_many(data, plan, variants=spec.variants or VARIANTS, seeds=SEEDS, weights=spec.weights,
                       on_result=on_result, progress=observer.progress, stop=stop)
    if len(found) < len(plan):
        return STOPPED, f"Stopped after {len(found)} of {len(plan)}"
    return DONE, found[-1].verdict if len(plan) == 1 else f"Finished: {len(plan)} values measured"

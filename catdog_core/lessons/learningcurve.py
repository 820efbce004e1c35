"""How much data is enough? A learning curve: validation accuracy (with its 95 % interval)
against the number of training photos, for one recipe.

For each size n, a balanced subset of the training split is drawn (n / classes photos of every
class, seeded; a larger size holds every photo of a smaller one, so the curve follows one
growing set), a model trains on it with the quick preset's epochs and learning rate (at least
MIN_STEPS optimizer steps, as every small run), and is measured on the whole validation split.

- 'transfer' trains only the head, on MobileNetV2 features cached once per dataset (features/):
  a point takes a second or two, so the post's 2000 photos make a curve of seven points.
- 'baseline' (the post's small CNN) trains on raw pixels, so it runs only up to BASELINE_MAX photos,
  for BASELINE_STEPS optimizer steps or more (see there).

This module plans a curve, caches its points and runs it as a job; lessons/curvefit.py trains one point.

Every finished point is cached on disk by the dataset's content key, the base weights' bytes, the
recipe, the settings, the size and the seed (a small JSON file each, at most KEEP_POINTS), so the
same request again answers at once, without TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import config
from . import curvefit
from .curvefit import PointSettings
from ..errors import InvalidSettings
from ..progress import CurvePoint, Phase, Progress, quiet, say

# What a curve job is (sizes, recipes, the small CNN's limits, curve_spec) lives with the other job
# specs, so the pages can submit one without importing this training module.
from ..jobspec import (CURVE_BASELINE_EPOCHS as BASELINE_EPOCHS, CURVE_BASELINE_MAX as BASELINE_MAX,
                       CURVE_BASELINE_STEPS as BASELINE_STEPS, CURVE_KIND as KIND, CURVE_RECIPES as RECIPES,
                       CURVE_SIZES as SIZES, MAX_SIZES, curve_spec, sizes_list)

KEEP_POINTS = 2000  # cached point files kept on disk
VERSION = "2"  # part of every cache key: a change to how points are made is a new key


def planned_sizes(train_labels: np.ndarray, classes: int, recipe: str, sizes: Sequence[int]) -> list[int]:
    """The sizes a curve trains: each rounded down to a multiple of the classes (the same number of
    every class), at least one photo a class, none larger than the smallest class allows, and for
    the small CNN none above BASELINE_MAX; sorted, without repeats."""
    if recipe not in RECIPES:
        raise InvalidSettings(f"A learning curve trains {' or '.join(RECIPES)}, not {recipe!r}.")
    per_class_max = min((int(np.sum(train_labels == c)) for c in range(classes)), default=0)
    limit = per_class_max * classes
    if recipe == "baseline":
        limit = min(limit, BASELINE_MAX)
    out = set()
    for size in sizes:
        per = int(size) // classes
        if per >= 1 and per * classes <= limit:
            out.add(per * classes)
    return sorted(out)


def balanced_subset(labels: np.ndarray, size: int, classes: int, seed: int = config.SEED) -> np.ndarray:
    """Indices of `size` training photos, size / classes of each class, chosen by the seed alone:
    every class's photos in one seeded order and the first of them taken, so a larger subset holds
    a smaller one."""
    per = size // classes
    chosen = []
    for c in range(classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per:
            raise InvalidSettings(f"Class {c} has {len(members)} training photos; {per} are needed.")
        order = np.random.default_rng((seed, c)).permutation(len(members))
        chosen.append(members[order[:per]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


# ---------------------------------------------------------------- the cache of finished points


def _points_dir() -> Path:
    return config.cache_home() / "curves"


def point_key(dataset_key: str, weights_id: str, recipe: str, size: int, seed: int, epochs: int,
              learning_rate: float | None, min_steps: int) -> str:
    text = json.dumps([VERSION, dataset_key, weights_id, recipe, size, seed, epochs, learning_rate, min_steps])
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def cached_point(key: str) -> CurvePoint | None:
    try:
        values = json.loads((_points_dir() / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    point = CurvePoint.from_dict(values) if isinstance(values, dict) else None
    return None if point is None else CurvePoint(**{**point.to_dict(), "cached": True})


def _store(key: str, point: CurvePoint) -> None:
    from ..fileio import write_atomic

    folder = _points_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{key}.json", json.dumps(point.to_dict()).encode())
        files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP_POINTS:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full disk only costs the next request this training


# ---------------------------------------------------------------- the curve


@dataclass(frozen=True)
class _CurvePlan:
    """A curve's request, checked: the sizes it trains, how each point trains, each size's cache key."""
    sizes: list[int]
    settings: PointSettings
    keys: dict[int, str]


def learning_curve(dataset, recipe: str = "transfer", sizes: Sequence[int] = SIZES, *,
                   epochs: int | None = None, learning_rate: float | None = None, seed: int = config.SEED,
                   weights: str | None = None, min_steps: int | None = None,
                   on_point: Callable[[CurvePoint], None] | None = None,
                   progress: Progress | None = None,
                   stop: threading.Event | None = None) -> list[CurvePoint]:
    """The curve's points, smallest size first, each reported to `on_point` as it finishes (cached
    ones at once). Defaults: for the transfer head the quick preset's epochs, learning rate and
    MIN_STEPS; for the small CNN BASELINE_EPOCHS and BASELINE_STEPS at its recipe's learning rate.
    A set `stop` ends it after the current point's training; the finished points are returned."""
    stop = stop or threading.Event()
    progress = progress or quiet
    plan = _plan(dataset, recipe, sizes, epochs, learning_rate, seed, weights, min_steps)
    points: list[CurvePoint] = []
    prepared = None  # the transfer head's features, made when the first point is not cached
    for i, size in enumerate(plan.sizes):
        if stop.is_set():
            break
        point = cached_point(plan.keys[size])
        if point is None:
            if prepared is None:
                prepared = curvefit.prepared_features(dataset, recipe, plan.settings.weights, progress)
            message = f"Training on {size} photos ({i + 1} of {len(plan.sizes)})"
            point = _trained_point(dataset, plan.settings, prepared, size, message, progress, stop)
            if point is None:
                break
            _store(plan.keys[size], point)
        points.append(point)
        if on_point is not None:
            on_point(point)
    return points


def _plan(dataset, recipe: str, sizes: Sequence[int], epochs: int | None, learning_rate: float | None,
          seed: int, weights: str | None, min_steps: int | None) -> _CurvePlan:
    """The request with its defaults filled in, checked against the dataset, and each size's cache key."""
    from .. import features
    from ..jobspec import MIN_STEPS, QUICK

    transfer = recipe == "transfer"
    epochs = (QUICK.epochs if transfer else BASELINE_EPOCHS) if epochs is None else int(epochs)
    if learning_rate is None and transfer:
        learning_rate = QUICK.learning_rate
    min_steps = (MIN_STEPS if transfer else BASELINE_STEPS) if min_steps is None else int(min_steps)
    plan = _checked_sizes(dataset, recipe, sizes)
    weights = weights or config.base_weights_setting()
    weights_id = features.weights_digest(weights) if recipe == "transfer" else ""
    keys = {n: point_key(dataset.key, weights_id, recipe, n, seed, epochs, learning_rate, min_steps) for n in plan}
    settings = PointSettings(recipe, len(dataset.class_names), epochs, learning_rate, min_steps, seed, weights)
    return _CurvePlan(plan, settings, keys)


def _checked_sizes(dataset, recipe: str, sizes: Sequence[int]) -> list[int]:
    """The sizes a curve of this dataset trains (planned_sizes), or InvalidSettings with a sentence."""
    _check_curve_data(dataset)
    plan = planned_sizes(dataset.train.labels, len(dataset.class_names), recipe, sizes_list(list(sizes)))
    if not plan:
        raise InvalidSettings("None of the sizes fits this training split: a subset takes the same number of "
                              "photos of every class, at least one each" + (
                                  f", and the small CNN trains on at most {BASELINE_MAX} photos"
                                  if recipe == "baseline" else "") + ".")
    return plan


def _check_curve_data(dataset) -> None:
    """A curve needs two classes to tell apart and validation photos to measure on."""
    if len(dataset.class_names) < 2:
        raise InvalidSettings("A learning curve needs at least 2 classes.")
    if len(dataset.validation) == 0:
        raise InvalidSettings("The validation split is empty: a learning curve is measured on it.")


def _trained_point(dataset, settings: PointSettings, prepared: tuple, size: int, message: str, progress: Progress,
                   stop: threading.Event) -> CurvePoint | None:
    """Train and measure the point of one size (None when stopped), its progress told as `message`."""
    from ..metrics import interval

    progress(0, 0, message)
    started = time.perf_counter()
    idx = balanced_subset(dataset.train.labels, size, settings.classes, settings.seed)
    inputs, val_inputs = _point_inputs(dataset, settings.recipe, prepared, idx)
    val_labels = dataset.validation.labels
    done = curvefit.train_point(settings, inputs, dataset.train.labels[idx], val_inputs, val_labels, stop,
                                say(progress, message))
    if done is None:
        return None
    accuracy, steps = done
    low, high = interval(accuracy, len(val_labels))
    return CurvePoint(settings.recipe, size, accuracy, low, high, len(val_labels), time.perf_counter() - started,
                      steps, classes=settings.classes)


def _point_inputs(dataset, recipe: str, prepared: tuple, idx: np.ndarray) -> tuple:
    """(the subset's training inputs, val_inputs(part) of the validation split): cached features
    for the transfer head, pixels as float32 for the small CNN."""
    if recipe == "transfer":
        train_x, val_x = prepared
        return train_x[idx], lambda part: val_x[part]
    val_images = dataset.validation.images  # at most BASELINE_MAX photos: 60 MB as float32
    return dataset.train.images[idx].astype("float32"), lambda part: val_images[part].astype("float32")


def summary(points: Sequence[CurvePoint]) -> str:
    """One line about a finished curve, e.g. for the command line and the benchmark."""
    if not points:
        return "no points"
    first, last = points[0], points[-1]
    return (f"{first.recipe}: {first.accuracy:.1%} with {first.size} photos, {last.accuracy:.1%} with "
            f"{last.size} photos (95 % interval {last.low:.0%}-{last.high:.0%}, {last.count} validation photos)")


# ---------------------------------------------------------------- as a job of the queue


def run_curve_job(spec, observer, stop: threading.Event, report: Callable[[int, dict], None]) -> tuple[str, str]:
    """Run a learning-curve job (the worker calls this for kind "learning_curve"): each finished
    point goes to report(number, point as a dict), 1-based. Returns (state, phase) to finish it with."""
    from .. import dataset as datasets
    from ..jobspec import DONE, STOPPED
    from ..words import count

    observer.phase(Phase.LOADING)
    data = datasets.load_dataset(spec.data, progress=observer.progress)
    points: list[CurvePoint] = []

    def on_point(point: CurvePoint) -> None:
        points.append(point)
        report(len(points), point.to_dict())

    learning_curve(data, spec.recipe, spec.sizes or SIZES, epochs=spec.epochs, learning_rate=spec.learning_rate,
                   seed=spec.seed, weights=spec.weights, min_steps=spec.min_steps, on_point=on_point,
                   progress=observer.progress, stop=stop)
    planned = planned_sizes(data.train.labels, len(data.class_names), spec.recipe, spec.sizes or SIZES)
    if len(points) < len(planned):
        return STOPPED, f"Stopped after {count(len(points), 'point')} of {len(planned)}"
    return DONE, f"Finished: {count(len(points), 'point')}, nothing saved as a run"

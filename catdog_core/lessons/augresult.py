"""One "does this augmentation help?" answer (CheckResult), its verdict in one sentence, and where
answers are kept: small JSON files in CATDOG_HOME/cache/augment-check, named by the content of what
was measured (dataset, base, settings, copies, seeds), at most KEEP_RESULTS of them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import config
from ..augment import AugmentSettings
from ..fileio import keep_newest, write_atomic

VERSION = "2"  # part of every cache key (2: flip and rotation as augment_batch draws them)
KEEP_RESULTS = 500


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


# ---------------------------------------------------------------- where answers are kept


def cache_folder() -> Path:
    """The folder of the check's answers and of its augmented feature files."""
    return config.cache_home() / "augment-check"


def digest(*parts) -> str:
    """A cache file's name: the digest of what it holds the answer to."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def prune(pattern: str, keep: int) -> None:
    keep_newest(cache_folder(), pattern, keep)


def result_key(dataset_key: str, base_key: str, settings: AugmentSettings, variants: int, seeds: int) -> str:
    return digest(VERSION, "result", dataset_key, base_key, settings.to_dict(), variants, seeds)


def cached_result(key: str) -> CheckResult | None:
    path = cache_folder() / f"{key}.json"
    try:
        if path.stat().st_size > 64 * 1024:
            return None
        found = CheckResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return replace(found, cached=True)


def store_result(key: str, result: CheckResult) -> None:
    try:
        cache_folder().mkdir(parents=True, exist_ok=True)
        write_atomic(cache_folder() / f"{key}.json", json.dumps(result.to_dict()).encode())
        prune("*.json", KEEP_RESULTS)
    except OSError:
        pass

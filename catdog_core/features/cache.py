"""The frozen base's features of a dataset's split, computed once per machine: kept in this
process's memory and on disk (CATDOG_HOME/cache/features), each named by the base's content key
(features.FeatureExtractor.key), the dataset's content key and the split.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import config
from ..fileio import keep_newest, write_atomic
from ..progress import Progress

FEATURE_CHUNK = 128  # images per call of the frozen base and progress report (it runs RUN_BATCH at a time)
DISK_FEATURES = 32  # cached feature files kept on disk
MEMORY_FEATURES = 12  # feature arrays kept in memory per process (a split of the post's data: 10 MB)

_memory: "OrderedDict[str, np.ndarray]" = OrderedDict()
_memory_lock = threading.Lock()


class Extractor(Protocol):
    """What computes features (features.FeatureExtractor): raw images in, pooled features out."""

    key: str  # the frozen base by content

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def clear_memory() -> None:
    with _memory_lock:
        _memory.clear()


def _features_path(name: str) -> Path:
    return config.cache_home() / "features" / f"{name}.npy"


def _prune_disk(keep: int = DISK_FEATURES) -> None:
    keep_newest(config.cache_home() / "features", "*.npy", keep)


def cached_features(extractor: Extractor, dataset_key: str, split: str, images: np.ndarray,
                    progress: Progress | None = None, message: str | None = None) -> np.ndarray:
    """The base's pooled features of one split, computed once per machine.

    Looked up in memory, then on disk (CATDOG_HOME/cache/features), then computed in chunks
    (progress(done, total, message) after each: "Computing MobileNetV2 features (split)" unless
    given) and written to both.
    """
    name = f"{extractor.key}-{dataset_key}-{split}"
    hit = _in_memory(name)
    if hit is not None:
        return hit
    path = _features_path(name)
    hit = _on_disk(path, len(images))
    if hit is None:
        hit = _computed(extractor, images, progress, message or f"Computing MobileNetV2 features ({split})")
        _write_disk(path, hit)
    with _memory_lock:
        _memory[name] = hit
        while len(_memory) > MEMORY_FEATURES:
            _memory.popitem(last=False)
    return hit


def _in_memory(name: str) -> np.ndarray | None:
    with _memory_lock:
        hit = _memory.get(name)
        if hit is not None:
            _memory.move_to_end(name)
        return hit


def _on_disk(path: Path, count: int) -> np.ndarray | None:
    """The features written earlier for `count` images, or None; a file read is marked as recently used."""
    try:
        hit = np.load(path)
        if hit.shape[0] != count or hit.dtype != np.float32:
            return None
        os.utime(path)
    except (OSError, ValueError):
        return None
    return hit


def _computed(extractor: Extractor, images: np.ndarray, progress: Progress | None, message: str) -> np.ndarray:
    """The features of every image, FEATURE_CHUNK at a time, with a progress report after each chunk."""
    out = []
    for start in range(0, len(images), FEATURE_CHUNK):
        out.append(extractor(images[start:start + FEATURE_CHUNK]))
        if progress:
            progress(min(start + FEATURE_CHUNK, len(images)), len(images), message)
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def _write_disk(path: Path, found: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.save(f, found))
        _prune_disk()
    except OSError:
        pass  # a read-only or full disk only costs the next run this forward pass

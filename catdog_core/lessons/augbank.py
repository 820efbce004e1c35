"""The augmentation check's bank: K augmented copies of every training photo, made a chunk at a
time, and their features through the frozen base, kept on disk (float16) by the content of the
dataset, the base, the settings and K, at most KEEP_VARIANT_FILES files.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..augment import AugmentSettings
from .augresult import VERSION, cache_folder, digest, prune
from ..features.cache import FEATURE_CHUNK as CHUNK  # the base's batch, as for every other feature pass
from ..progress import Progress

KEEP_VARIANT_FILES = 12  # augmented feature files (the post's data: ~20 MB each, float16)


class _Augmented:
    """K augmented copies of every image, made a chunk at a time on demand: row r is copy r // N of
    image r % N. Each chunk's draws are seeded from the settings' seed and the chunk's place, so the
    copies are the same whatever order the chunks are asked in."""

    def __init__(self, images: np.ndarray, settings: AugmentSettings, variants: int):
        self.images, self.settings, self.variants = images, settings, variants

    def __len__(self) -> int:
        return len(self.images) * self.variants

    def __getitem__(self, part: slice) -> np.ndarray:
        from ..augment import augment_batch

        rows = np.arange(len(self))[part]
        if not len(rows):
            return np.zeros((0,) + self.images.shape[1:], np.uint8)
        seed = int(hashlib.sha256(f"{self.settings.seed}-{rows[0]}".encode()).hexdigest()[:7], 16)
        return augment_batch(self.images[rows % len(self.images)], self.settings, seed)


def variant_features(extract, dataset, settings: AugmentSettings, variants: int,
                     progress: Progress | None = None, stop: threading.Event | None = None) -> np.ndarray | None:
    """(K, N, 1280) features of K augmented copies of every training photo; on disk by content
    (float16: the head cannot tell), computed through the base in chunks. None when stopped."""
    images = dataset.train.images
    n = len(images)
    path = cache_folder() / f"{digest(VERSION, 'variants', dataset.key, extract.key, settings.to_dict(), variants)}.npy"
    kept = _kept_bank(path, variants, n)
    if kept is not None:
        return kept
    found = _through_base(extract, _Augmented(images, settings, variants), progress, stop,
                          f"Augmenting {n} photos x{variants}")
    if found is None:
        return None
    found = found.reshape(variants, n, -1)
    _store_bank(path, found)
    return found


def _kept_bank(path: Path, variants: int, n: int) -> np.ndarray | None:
    """The features written earlier for these copies, or None; a file read is marked as recently used."""
    try:
        kept = np.load(path)
        if kept.shape[:2] == (variants, n):
            path.touch()
            return kept.astype(np.float32)
    except (OSError, ValueError):
        pass
    return None


def _through_base(extract, source: _Augmented, progress: Progress | None, stop: threading.Event | None,
                  message: str) -> np.ndarray | None:
    """Every augmented copy's features, CHUNK at a time, as float32 rows; None when stopped."""
    out = []
    # The next chunk is augmented (TensorFlow's affine kernel) while the base (TFLite) runs on this one.
    with ThreadPoolExecutor(1) as ahead:
        coming = ahead.submit(source.__getitem__, slice(0, CHUNK))
        for start in range(0, len(source), CHUNK):
            batch = coming.result()
            if start + CHUNK < len(source):
                coming = ahead.submit(source.__getitem__, slice(start + CHUNK, start + 2 * CHUNK))
            if stop is not None and stop.is_set():
                coming.cancel()
                return None
            out.append(extract(batch))
            if progress:
                progress(min(start + CHUNK, len(source)), len(source), message)
    return np.concatenate(out).astype(np.float32)


def _store_bank(path: Path, found: np.ndarray) -> None:
    from ..fileio import write_atomic

    try:
        cache_folder().mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.save(f, found.astype(np.float16)))
        prune("*.npy", KEEP_VARIANT_FILES)
    except OSError:
        pass

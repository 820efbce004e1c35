"""A small perceptual fingerprint of every decoded photo of a dataset, so that a photo given to a model
later (uploaded to Classify, in a labelled check) is named when it is one of the dataset's own: saved
again as JPEG or PNG, or resized by a pixel, it is still the same picture. Publicly shared "test sets"
of this dataset are often its own training photos, and a model's answer on those says little.

The fingerprint of a photo is made from what the model sees (its 160x160 pixels): grey, averaged down
to 32x32, the 12x12 lowest frequencies of its 2-D cosine transform without the constant one (143
numbers, so brightness alone never matches), scaled to length 1, kept as float16 (286 bytes; the
post's 3000 photos: 0.86 MB). Two photos' distance is the Euclidean one between their fingerprints.

Measured on the post's 3000 photos (tests/pages/test_fingerprints.py keeps it true): the same photo saved
again (JPEG quality 95, 75, 50; PNG) or resized by one pixel either way is at most 0.021 from itself
(99 % under 0.015); the nearest other photo of its class is 0.45 or more (1 % under 0.59, half under
0.84), except dog.74.jpg and dog.180.jpg, one picture twice in the dataset (0.034). TOLERANCE sits
between the two: five times the largest change, a quarter of the closest different photo.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..fileio import write_atomic

TOLERANCE = 0.1
SIDE = 32  # the grey picture the cosine transform is taken of: 160 / 5
KEEP = 12  # lowest frequencies kept per direction
VERSION = "1"  # part of the file's name: another recipe is another file
BATCH = 256  # photos fingerprinted at once (float32 copies of 160x160x3: 79 MB)
_GREY = np.array([0.299, 0.587, 0.114], np.float32)


def _cosines(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix of size n."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)


_DCT = _cosines(SIDE)


@dataclass(frozen=True)
class SeenPhoto:
    """A dataset photo that a given photo is the same picture as."""

    split: str  # "train", "validation" or "test"
    file: str  # its path in the dataset (train/cats/cat.6.jpg)
    distance: float

    @property
    def name(self) -> str:
        return self.file.rsplit("/", 1)[-1]


def fingerprints(pixels: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) uint8 photos (or one (160, 160, 3)) -> (N, 143) float16 fingerprints (or (143,))."""
    pixels = np.asarray(pixels)
    one = pixels.ndim == 3
    batch = pixels[None] if one else pixels
    out = np.empty((len(batch), KEEP * KEEP - 1), np.float16)
    for start in range(0, len(batch), BATCH):
        grey = batch[start:start + BATCH].astype(np.float32) @ _GREY
        h, w = grey.shape[1:]
        small = grey.reshape(len(grey), SIDE, h // SIDE, SIDE, w // SIDE).mean(axis=(2, 4))
        low = (_DCT @ small @ _DCT.T)[:, :KEEP, :KEEP].reshape(len(grey), -1)[:, 1:]
        out[start:start + BATCH] = low / np.maximum(np.linalg.norm(low, axis=1, keepdims=True), 1e-6)
    return out[0] if one else out


def nearest(prints: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query fingerprint (Q, 143): (the index of the closest of `prints` (N, 143), its distance)."""
    prints, query = np.asarray(prints, np.float32), np.atleast_2d(np.asarray(query, np.float32))
    if not len(prints):
        return np.full(len(query), -1), np.full(len(query), np.inf)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, for every pair at once (3000 x a few: a small matrix)
    squared = (query ** 2).sum(1)[:, None] + (prints ** 2).sum(1)[None] - 2 * query @ prints.T
    best = squared.argmin(axis=1)
    return best, np.sqrt(np.maximum(squared[np.arange(len(query)), best], 0.0))


def path(key: str) -> Path:
    """Where a dataset's fingerprints are kept: beside its decoded images, by the same content key."""
    return config.cache_home() / "decoded" / f"{key}.prints-{VERSION}.npy"


def save(key: str, prints: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(prints, np.float16))
    write_atomic(path(key), buffer.getvalue())


def load(key: str, rows: int) -> np.ndarray | None:
    """The fingerprints of the dataset `key` ((rows, 143) float16), or None when none are kept."""
    try:
        prints = np.load(path(key), allow_pickle=False)
    except (OSError, ValueError):
        return None
    return prints if prints.shape == (rows, KEEP * KEEP - 1) else None


def forget(key: str) -> None:
    try:
        os.unlink(path(key))
    except OSError:
        pass


def seen_in(prints: np.ndarray, rows: list, query: np.ndarray) -> list[SeenPhoto | None]:
    """For each query fingerprint, the dataset photo it is the same picture as (within TOLERANCE), or
    None. `rows` are the dataset's manifest rows ([split, file, label] per fingerprint)."""
    if not len(np.atleast_2d(query)):
        return []
    best, distance = nearest(prints, query)
    return [SeenPhoto(str(rows[i][0]), str(rows[i][1]), float(d)) if i >= 0 and d <= TOLERANCE else None
            for i, d in zip(best.tolist(), distance.tolist())]

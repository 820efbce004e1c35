"""A dataset as the rest of the project sees it: its splits of decoded images, its classes,
what was skipped, and the limits every part of the loading shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..sources import DataSource

SPLITS = ("train", "validation", "test")
MIN_IMAGES_PER_CLASS = 5
TEST_SHARE = 0.2  # of the validation images (the post: every 5th batch)
AUTO_HELD_OUT = 0.2  # of all images, when only class folders are given
MAX_FILE_BYTES = 25 * 1024 * 1024  # one image file of a dataset
PIXELS_VERSION = "tf-bilinear-1"  # part of every key: a change to the pixel path is a new dataset
# Bounded by the bytes of decoded pixels first: a class's thirty small sets of their own photos
# (a megabyte each) must not push the post's 230 MB out; the counts bound the bookkeeping.
MEMORY_CACHE = 64  # datasets kept open per process (memory maps of the disk cache)...
MEMORY_CACHE_BYTES = 1024 * 1024**2  # ...and their decoded pixels, the newest always kept
DISK_CACHE = 64  # decoded datasets kept on disk...
DISK_CACHE_BYTES = 2048 * 1024**2  # ...and their files' bytes, the newest always kept

EXT_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WebP"}
FORMAT_EXTENSION = {fmt: ext for ext, fmt in reversed(EXT_FORMAT.items())}  # "JPEG" -> ".jpg"


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, (N, 160, 160, 3); a read-only memory map
    labels: np.ndarray  # int32, (N,)
    files: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    source: DataSource
    class_names: tuple[str, ...]
    train: Split
    validation: Split
    test: Split
    skipped: tuple[SkippedFile, ...] = ()
    notes: tuple[str, ...] = ()
    auto_split: bool = False
    key: str = field(default="", compare=False)

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def describe(self) -> dict:
        """A JSON-able summary, saved with every run."""
        return {
            "source": self.source.description,
            "location": self.source.location,
            "classes": list(self.class_names),
            "counts": label_counts(self),
            "skipped": len(self.skipped),
            "auto_split": self.auto_split,
            "key": self.key,
        }


def label_counts(dataset: Dataset) -> dict[str, dict[str, int]]:
    """{split: {class: count}} for every split and class (zeros included)."""
    return {s: {name: int(np.sum(dataset.split(s).labels == i)) for i, name in enumerate(dataset.class_names)}
            for s in SPLITS}

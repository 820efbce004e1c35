"""Which file goes to which split, decided before any pixel is decoded, and the content key of
the whole: a hash of every used file's bytes, class and split."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..progress import Progress
from ..sources import DataSource
from .files import Entry, examine, keep_examined, known_files, reads, recall_examined, scan, stat_key
from .record import AUTO_HELD_OUT, PIXELS_VERSION, SPLITS, TEST_SHARE, SkippedFile


def unit(seed: int, rel: str) -> float:
    """A number in [0, 1) that depends on this file's path and the seed only."""
    return int(hashlib.sha1(f"{seed}:{rel}".encode("utf-8", "surrogatepass")).hexdigest()[:13], 16) / 16**13


@dataclass
class Plan:
    """Which file goes where, decided before any pixel is decoded."""

    root: Path
    auto_split: bool
    splits: dict[str, list[Entry]]
    skipped: list[SkippedFile]
    notes: list[str]
    key: str
    folders: list[str]  # the class folders found, used or not


def make_plan(source: DataSource, seed: int, progress: Progress | None, only_known: bool = False,
              scanned: tuple | None = None) -> Plan | None:
    """Which file goes where, and the content key; None when `only_known` and a file has changed since
    it was read. scanned: scan(source.root), if made already (its lists are copied, never changed)."""
    entries, skipped, notes, auto_split, folders = scanned or scan(source.root)
    skipped, notes = list(skipped), list(notes)
    results = _known_results(entries) if only_known else _examined_results(source.root, entries, progress)
    if results is None:
        return None
    splits, digests = _assign_splits(entries, results, seed, skipped)
    if auto_split:
        at_least_one_validation_image(splits, seed, notes)
    key = _content_key(seed, folders, splits, digests, skipped)
    return Plan(source.root, auto_split, splits, skipped, notes, key, folders)


def _known_results(entries: list[Entry]) -> list[tuple[bool, str]] | None:
    """What reading each file found before, from stat() alone (the sidebar: no file may be read);
    None when one is gone or not known as it is now."""
    results = []
    for entry in entries:
        try:
            st = os.stat(entry.path)
        except OSError:
            return None
        known = known_files.get(str(entry.path))
        if known is None or known[0] != stat_key(st):
            return None
        results.append((known[2], known[1]))
    return results


def _examined_results(root: Path, entries: list[Entry], progress: Progress | None) -> list[tuple[bool, str]]:
    """Each file examined (read and hashed unless known), what was found kept for the next process."""
    results: list = [None] * len(entries)
    if entries:
        recall_examined(root)
    before = reads()
    with ThreadPoolExecutor(max_workers=4) as pool:  # reads wait on the disk; hashing frees the lock
        for i, result in enumerate(pool.map(lambda e: examine(e.path), entries)):
            results[i] = result
            if progress and (i % 100 == 0 or i == len(entries) - 1):
                progress(i + 1, len(entries), "Checking the files")
    if entries and reads() != before:  # a file was read and hashed: kept for the next process
        keep_examined(root, entries)
    return results


def _assign_splits(entries: list[Entry], results: list[tuple[bool, str]], seed: int,
                   skipped: list[SkippedFile]) -> tuple[dict[str, list[Entry]], dict[str, str]]:
    """Each usable file in its split, and its digest; the others added to `skipped` with why."""
    splits: dict[str, list[Entry]] = {s: [] for s in SPLITS}
    digests: dict[str, str] = {}
    for entry, (usable, value) in zip(entries, results):
        if not usable:
            skipped.append(SkippedFile(entry.rel, value))
            continue
        digests[entry.rel] = value
        splits[_split_of(entry, seed)].append(entry)
    return splits, digests


def _split_of(entry: Entry, seed: int) -> str:
    """A file's split, from its folder and the hash of its path and the seed alone."""
    u = unit(seed, entry.rel)
    if entry.part == "train":
        return "train"
    if entry.part == "validation":
        return "test" if u < TEST_SHARE else "validation"
    held = u < AUTO_HELD_OUT
    return "test" if u < AUTO_HELD_OUT * TEST_SHARE else "validation" if held else "train"


def _content_key(seed: int, folders: list[str], splits: dict[str, list[Entry]], digests: dict[str, str],
                 skipped: list[SkippedFile]) -> str:
    """A hash of every used file's bytes, class and split, the skipped files, the seed and the pixel path."""
    lines = [PIXELS_VERSION, str(config.IMG_SIZE), str(seed), "\t".join(folders)]
    lines += sorted(f"{s}\t{e.label_name}\t{e.rel}\t{digests[e.rel]}" for s, items in splits.items() for e in items)
    lines += sorted(f"skip\t{s.path}\t{s.reason}" for s in skipped)
    return hashlib.sha1("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def at_least_one_validation_image(splits: dict[str, list[Entry]], seed: int, notes: list[str]) -> None:
    """A tiny class the hash left without validation images gets its lowest-hash training image.

    The one exception to "a file's split depends on that file alone", and only
    for classes of a handful of images, where a validation accuracy without
    the class would mean nothing.
    """
    classes = {e.label_name for items in splits.values() for e in items}
    for name in sorted(classes):
        if any(e.label_name == name for e in splits["validation"]):
            continue
        train = sorted((e for e in splits["train"] if e.label_name == name), key=lambda e: unit(seed, e.rel))
        if len(train) >= 2:
            splits["train"].remove(train[0])
            splits["validation"].append(train[0])
            notes.append(f"Class '{name[:60]}' is small: one of its images was moved to validation so the "
                         "class is measured at all.")

"""Loading a dataset: plan it, decode it (or find it decoded), build its splits, and keep the
few most recent open in this process; or open one another process decoded."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from .. import config, words
from ..errors import DatasetUnavailable, InvalidDataset
from ..progress import Progress
from ..sources import DataSource, find_source
from . import fingerprints
from .decoded import decoded, decoded_dir, open_cached_key, still_kept
from .files import files_signature, folders_signature, known_files, known_files_lock, scan
from .plan import make_plan
from .record import MEMORY_CACHE, MEMORY_CACHE_BYTES, MIN_IMAGES_PER_CLASS, SPLITS, Dataset, SkippedFile, Split


def build(source: DataSource, key: str, auto_split: bool, array: np.ndarray, manifest: dict) -> Dataset:
    names = tuple(manifest["classes"])
    if len(names) < 2:
        raise InvalidDataset(
            f"Found {words.count(len(names), 'class folder')} with usable images in {source.description}; at least "
            f"2 are needed ({config.EXPECTED_LAYOUT})."
        )
    rows = manifest["rows"]
    # Images of a class left out (no usable training image) are dropped from every split.
    splits = {}
    start = 0
    for s in SPLITS:
        count = sum(1 for r in rows if r[0] == s)
        chunk = rows[start:start + count]
        keep = [i for i, r in enumerate(chunk) if r[2] >= 0]
        part = array[start:start + count]
        if len(keep) != len(chunk):
            part = part[keep]  # rare: a copy, only when a class was dropped
        splits[s] = Split(part, np.array([chunk[i][2] for i in keep], np.int32), tuple(chunk[i][1] for i in keep))
        start += count
    if auto_split:
        for label, name in enumerate(names):
            total = sum(int(np.sum(splits[s].labels == label)) for s in SPLITS)
            if total < MIN_IMAGES_PER_CLASS:
                raise InvalidDataset(f"Class '{name[:60]}' has {total} usable images; each class needs at least "
                                     f"{MIN_IMAGES_PER_CLASS}.")
    if len(splits["validation"]) == 0:
        raise InvalidDataset(f"The validation folder of {source.description} has no usable images for the classes "
                             "in train/.")
    skipped = tuple(SkippedFile(p, r) for p, r in manifest["skipped"])
    return Dataset(source, names, splits["train"], splits["validation"], splits["test"], skipped,
                   tuple(manifest["notes"]), auto_split, key)


_cache: "OrderedDict[str, tuple[Dataset, str]]" = OrderedDict()  # key -> (dataset, files' signature), newest last
_cache_lock = threading.Lock()
_load_locks: dict[str, threading.Lock] = {}


def _pixel_bytes(dataset: Dataset) -> int:
    return sum(dataset.split(s).images.nbytes for s in SPLITS)


def _remember(dataset: Dataset, signature: str) -> Dataset:
    # What cached_dataset found missing may be here now: forget the looks that found nothing and
    # those of this source. Not every look: under a class each new student's set of photos made
    # every other session's next run look at its files again, in the run, one at a time.
    try:
        for memo, look in list(_looked.items()):
            if look.signature is None or look.source == dataset.source:
                _looked.pop(memo, None)
    except RuntimeError:  # a look changed the memory meanwhile: forget it all, as before
        _looked.clear()
    with _cache_lock:
        _cache[dataset.key] = (dataset, signature)
        _cache.move_to_end(dataset.key)
        held = sum(_pixel_bytes(d) for d, _ in _cache.values())
        while len(_cache) > 1 and (len(_cache) > MEMORY_CACHE or held > MEMORY_CACHE_BYTES):
            dropped, _ = _cache.popitem(last=False)[1]
            held -= _pixel_bytes(dropped)
    return dataset


def _held(key: str, source: DataSource) -> Dataset | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None or hit[0].source != source:
            return None
        _cache.move_to_end(key)
    if not still_kept(key):  # another process pruned its files: decoded again, fingerprints with it
        with _cache_lock:
            _cache.pop(key, None)
        return None
    return hit[0]


def load_dataset(data: str | os.PathLike | None = None, *, progress: Progress | None = None,
                 seed: int = config.SEED, allow_download: bool = True) -> Dataset:
    """Checked, decoded and split images, keyed by their content.

    Decoded once per machine (a memory-mapped cache in CATDOG_HOME) and kept
    open for the few most recent datasets of this process.
    """
    source = find_source(data, progress, allow_download)
    scanned = scan(source.root)  # one listing of the folders for the signature and the plan
    signature = files_signature(source, scanned)  # before any file is read: a change while loading shows next time
    # Files already read by this process (same size, time and inode) are not read again, and a
    # dataset known in full reports no progress: a progress bar means real work.
    plan = (make_plan(source, seed, None, only_known=True, scanned=scanned)
            or make_plan(source, seed, progress, scanned=scanned))
    hit = _held(plan.key, source)
    if hit is not None:
        return hit
    with _cache_lock:
        lock = _load_locks.setdefault(plan.key, threading.Lock())
    with lock:  # two sessions asking at once share one decode
        hit = _held(plan.key, source)
        if hit is not None:
            return hit
        with _cache_lock:
            in_use = frozenset(_cache)
        array, manifest = decoded(plan, progress, in_use)
        try:
            built = build(source, plan.key, plan.auto_split, array, manifest)
        except InvalidDataset:
            del array
            forget(plan.key)  # a refused dataset keeps no decoded images (an upload's would escape its quota)
            raise
        return _remember(built, signature)


def signature_of(loaded: Dataset) -> str:
    """The files' signature a dataset held by this process was loaded with ("" if not held)."""
    with _cache_lock:
        hit = _cache.get(loaded.key)
    return hit[1] if hit is not None else ""


def open_prepared(source: DataSource, key: str, auto_split: bool, signature: str) -> Dataset:
    """A dataset another process (the model service, a worker) checked and decoded, opened here
    from the disk cache as a memory map: no decoding and no TensorFlow in this process."""
    hit = _held(key, source)
    if hit is not None:
        return hit
    opened = open_cached_key(key)
    if opened is None:
        raise DatasetUnavailable("The decoded images of this dataset are no longer in the cache; open the "
                                 "page again to decode them.")
    return _remember(build(source, key, auto_split, *opened), signature)


@dataclass(frozen=True)
class _Look:
    """What cached_dataset last saw of a source: when, its folders' and its files' signatures."""

    at: float
    full_at: float
    source: DataSource | None
    folders: str | None
    signature: str | None


_looked: "OrderedDict[tuple, _Look]" = OrderedDict()  # (data, seed) -> the last look: cached_dataset's memory
_looking = threading.Lock()  # one thread looks at the files at a time; the others use the last look
LOOK_SECONDS = 2.0  # the folders are looked at this often: a file added, removed or renamed shows
FULL_LOOK_SECONDS = 60.0  # every file is stat()ed this often, and whenever a folder changed


def cached_dataset(data=None, seed: int = config.SEED) -> Dataset | None:
    """The dataset if this process holds it already and no file changed since, without reading any.

    Pages ask several times a run (sidebar, pickers), thirty sessions at once: a run costs a dict
    lookup. Every LOOK_SECONDS one of them stat()s the dataset's folders (a few calls), and every
    file only every FULL_LOOK_SECONDS or when a folder changed (3,000 stat calls for the post's
    data: under a class, walking them on every run took a third of the server's time).
    """
    # The configured source, or the post's data where Keras keeps downloads (that place is part of the key).
    memo = (str(data) if data is not None else config.data_dir_setting() or f"keras:{config.keras_home()}", seed)
    known = _looked.get(memo)
    if known is None:  # the first look at a source: this run waits for it
        with _looking:
            _look_now(memo, data)
        known = _looked.get(memo)
    elif time.monotonic() - known.at >= LOOK_SECONDS and _looking.acquire(blocking=False):
        # Later looks run beside the page, never in it: under a class a walk of 3,000 files took a
        # page run seconds (the GIL shared with thirty scripts); this run uses the last look, the
        # next ones the new one. Another thread already looking: its look will do.
        try:
            threading.Thread(target=_look_in_background, args=(memo, data), daemon=True,
                             name="catdog-dataset-look").start()
        except RuntimeError:
            _looking.release()
    if known is None or known.signature is None:
        return None
    with _cache_lock:
        for held, held_signature in reversed(_cache.values()):
            if held.source == known.source and held_signature == known.signature:
                return held
    return None


MAX_LOOKS = 256  # sources remembered; the oldest look is forgotten first


def _look_now(memo: tuple, data) -> None:
    _looked[memo] = _look(data, _looked.get(memo))  # replaced in place: readers never miss it
    try:
        _looked.move_to_end(memo)  # newest last
        while len(_looked) > MAX_LOOKS:
            _looked.popitem(last=False)
    except (KeyError, RuntimeError):
        pass  # forgotten meanwhile by _remember: the next run looks again


def _look_in_background(memo: tuple, data) -> None:
    try:
        _look_now(memo, data)
    finally:
        _looking.release()


def _look(data, known: _Look | None) -> _Look:
    now = time.monotonic()
    try:
        source = find_source(data, None, allow_download=False, unpack=False)
        folders = folders_signature(source)
        if known is not None and (known.source, known.folders) == (source, folders) and \
                now - known.full_at < FULL_LOOK_SECONDS:
            return replace(known, at=now)
        return _Look(now, now, source, folders, files_signature(source))
    except Exception:
        return _Look(now, now, None, None, None)


def clear_cache() -> None:
    """Forget the datasets this process holds (the files on disk stay)."""
    with _cache_lock:
        _cache.clear()
    _looked.clear()
    with known_files_lock:
        known_files.clear()


def release() -> None:
    """Let go of the datasets this process holds (their memory maps); what it knows of the files
    stays, so opening one again from the disk cache reads no image."""
    with _cache_lock:
        _cache.clear()
    _looked.clear()


def forget(key: str) -> None:
    """Drop one dataset from this process and from the disk cache."""
    with _cache_lock:
        _cache.pop(key, None)
    for suffix in (".json", ".npy"):
        (decoded_dir() / f"{key}{suffix}").unlink(missing_ok=True)
    fingerprints.forget(key)

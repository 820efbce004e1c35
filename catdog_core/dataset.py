"""The dataset: check every file, decode it once (through `images`, the one pixel
path), split it by file, and key everything by content.

Content keys. A dataset's `key` is a hash of every used file's bytes, its
class, its split, the split seed and the pixel path's version. Two folders
with the same file names but other pictures get different keys, so no cache
(decoded images, MobileNetV2 features, evaluations) is ever shared between them.

Splits by file. The blog post carves its test set out of validation with
``take(n // 5)`` / ``skip(n // 5)`` on a dataset that reshuffles every pass, so
its "test" images change from epoch to epoch and overlap validation. Here a
file's split depends on that file alone: a hash of its path and the seed puts
about one fifth of the validation images in the test split. Adding or removing
a picture never moves another one, and the split is the same on every epoch,
rerun, process and machine.

Decoded once per machine. The decoded 160x160 images of a dataset are written
to ``<cache>/decoded/<key>.npy`` (config.cache_home) and read back as a memory map, so a
second process (the training worker, a CLI run, a restarted server) starts in
well under a second and thirty sessions share one copy in the page cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as stat_module
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config, images, sources
from .errors import DatasetUnavailable, InvalidDataset
from .fileio import write_atomic
from .images import describe_format
from .sources import DataSource, Progress, find_source  # noqa: F401  (re-exported: callers use dataset.*)

SPLITS = ("train", "validation", "test")
MIN_IMAGES_PER_CLASS = 5
TEST_SHARE = 0.2  # of the validation images (the post: every 5th batch)
AUTO_HELD_OUT = 0.2  # of all images, when only class folders are given
MAX_FILE_BYTES = 25 * 1024 * 1024  # one image file of a dataset
PIXELS_VERSION = "tf-bilinear-1"  # part of every key: a change to the pixel path is a new dataset
MEMORY_CACHE = 4  # datasets kept open per process
DISK_CACHE = 8  # decoded datasets kept on disk

_EXT_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WebP"}
FORMAT_EXTENSION = {fmt: ext for ext, fmt in reversed(_EXT_FORMAT.items())}  # "JPEG" -> ".jpg"


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


# ---------------------------------------------------------------- the files


@dataclass(frozen=True)
class _Entry:
    part: str  # "train", "validation" or "all" (class folders only)
    label_name: str
    path: Path
    rel: str  # relative to the dataset root, "/"-separated


def _list_class_files(class_dir: Path) -> list[Path]:
    """Every file below a class folder; symlinked folders are not followed (no loops)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return found


def _class_dirs(parent: Path, skipped: list[SkippedFile], notes: list[str], root: Path) -> dict[str, Path]:
    dirs = {}
    for d in sources.visible_dirs(parent):
        if len(d.name) > 255 or not d.name.strip():
            notes.append(f"Skipped a class folder with an unusable name ({d.name[:40]}...).")
            continue
        dirs[d.name] = d
    for p in parent.iterdir():
        if p.is_file() and not p.name.startswith("."):
            skipped.append(SkippedFile(p.relative_to(root).as_posix(), "file outside any class folder"))
    return dirs


def _scan(root: Path) -> tuple[list[_Entry], list[SkippedFile], list[str], bool, list[str]]:
    skipped: list[SkippedFile] = []
    notes: list[str] = []
    auto_split = not (root / "train").is_dir()
    if auto_split:
        parts = {"all": _class_dirs(root, skipped, notes, root)}
    else:
        if not (root / "validation").is_dir():
            raise InvalidDataset(f"{root} has train/ but no validation/ folder; expected {config.EXPECTED_LAYOUT}.")
        parts = {p: _class_dirs(root / p, skipped, notes, root) for p in ("train", "validation")}
        extra = set(parts["validation"]) - set(parts["train"])
        if extra:
            raise InvalidDataset(f"validation/ has classes that train/ lacks: {', '.join(sorted(extra))}.")
    entries = [_Entry(part, name, f, f.relative_to(root).as_posix())
               for part, dirs in parts.items() for name, d in dirs.items() for f in _list_class_files(d)]
    return entries, skipped, notes, auto_split, sorted(next(iter(parts.values())))


# What reading a file found: (size, mtime_ns, inode) -> digest or skip reason. Bounded.
_digests: "OrderedDict[str, tuple[tuple, str, bool]]" = OrderedDict()
_digests_lock = threading.Lock()
_DIGEST_MEMO = 300_000


def _stat_key(st: os.stat_result) -> tuple:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


def _examine(path: Path) -> tuple[bool, str]:
    """(usable, digest or the reason it is skipped), from the file's name and bytes."""
    ext = path.suffix.lower()
    if ext not in _EXT_FORMAT:
        return False, f"not an image file ({ext or 'no extension'})"
    try:
        st = os.stat(path)
    except OSError as exc:
        return False, f"unreadable ({exc.strerror or exc})"
    if not stat_module.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        return False, "not a regular file"
    memo_key = str(path)
    with _digests_lock:
        known = _digests.get(memo_key)
    if known is not None and known[0] == _stat_key(st):
        return known[2], known[1]
    if st.st_size > MAX_FILE_BYTES:
        result = (False, f"over the {MAX_FILE_BYTES // 2**20} MB limit for one image")
    elif st.st_size == 0:
        result = (False, "empty file")
    else:
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            return False, f"unreadable ({exc.strerror or exc})"
        actual = describe_format(raw[:1024])
        if actual not in _EXT_FORMAT.values():  # text, PDF, HEIC...: none of the formats read here
            result = (False, "not an image (unrecognised content)")
        elif actual != _EXT_FORMAT[ext]:
            result = (False, f"{actual} data named {ext}")
        else:
            result = (True, hashlib.sha1(raw).hexdigest()[:24])
    with _digests_lock:
        _digests[memo_key] = (_stat_key(st), result[1], result[0])
        _digests.move_to_end(memo_key)
        while len(_digests) > _DIGEST_MEMO:
            _digests.popitem(last=False)
    return result


def _unit(seed: int, rel: str) -> float:
    """A number in [0, 1) that depends on this file's path and the seed only."""
    return int(hashlib.sha1(f"{seed}:{rel}".encode("utf-8", "surrogatepass")).hexdigest()[:13], 16) / 16**13


@dataclass
class _Plan:
    """Which file goes where, decided before any pixel is decoded."""

    root: Path
    auto_split: bool
    splits: dict[str, list[_Entry]]
    skipped: list[SkippedFile]
    notes: list[str]
    key: str
    folders: list[str]  # the class folders found, used or not


def _plan(source: DataSource, seed: int, progress: Progress | None, only_known: bool = False) -> _Plan | None:
    entries, skipped, notes, auto_split, folders = _scan(source.root)
    if only_known:  # the sidebar: no file may be read, only stat()ed and looked up
        results = []
        for entry in entries:
            try:
                st = os.stat(entry.path)
            except OSError:
                return None
            known = _digests.get(str(entry.path))
            if known is None or known[0] != _stat_key(st):
                return None
            results.append((known[2], known[1]))
    else:
        results = [None] * len(entries)
        with ThreadPoolExecutor(max_workers=4) as pool:  # reads wait on the disk; hashing frees the lock
            for i, result in enumerate(pool.map(lambda e: _examine(e.path), entries)):
                results[i] = result
                if progress and (i % 100 == 0 or i == len(entries) - 1):
                    progress(i + 1, len(entries), "Checking the files")
    splits: dict[str, list[_Entry]] = {s: [] for s in SPLITS}
    digests: dict[str, str] = {}
    for entry, (usable, value) in zip(entries, results):
        if not usable:
            skipped.append(SkippedFile(entry.rel, value))
            continue
        digests[entry.rel] = value
        u = _unit(seed, entry.rel)
        if entry.part == "train":
            splits["train"].append(entry)
        elif entry.part == "validation":
            splits["test" if u < TEST_SHARE else "validation"].append(entry)
        else:
            held = u < AUTO_HELD_OUT
            splits["test" if u < AUTO_HELD_OUT * TEST_SHARE else "validation" if held else "train"].append(entry)
    if auto_split:
        _at_least_one_validation_image(splits, seed, notes)
    lines = [PIXELS_VERSION, str(config.IMG_SIZE), str(seed), "\t".join(folders)]
    lines += sorted(f"{s}\t{e.label_name}\t{e.rel}\t{digests[e.rel]}" for s, items in splits.items() for e in items)
    lines += sorted(f"skip\t{s.path}\t{s.reason}" for s in skipped)
    key = hashlib.sha1("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return _Plan(source.root, auto_split, splits, skipped, notes, key, folders)


def _at_least_one_validation_image(splits: dict[str, list[_Entry]], seed: int, notes: list[str]) -> None:
    """A tiny class the hash left without validation images gets its lowest-hash training image.

    The one exception to "a file's split depends on that file alone", and only
    for classes of a handful of images, where a validation accuracy without
    the class would mean nothing.
    """
    classes = {e.label_name for items in splits.values() for e in items}
    for name in sorted(classes):
        if any(e.label_name == name for e in splits["validation"]):
            continue
        train = sorted((e for e in splits["train"] if e.label_name == name), key=lambda e: _unit(seed, e.rel))
        if len(train) >= 2:
            splits["train"].remove(train[0])
            splits["validation"].append(train[0])
            notes.append(f"Class '{name[:60]}' is small: one of its images was moved to validation so the "
                         "class is measured at all.")


# ---------------------------------------------------------------- decoding, cached on disk


def _decoded_dir() -> Path:
    return config.cache_home() / "decoded"


def _write_npy_header(f, rows: int) -> int:
    np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                             "shape": (rows, *config.IMG_SIZE, 3)})
    return f.tell()


def _decode_into(plan: _Plan, target: Path, progress: Progress | None) -> dict:
    """Decode every planned file into an .npy at `target`; returns the manifest.

    Each decoded image is written at its row with pwrite (sequential-ish
    writes through the page cache: ~10x faster here than filling a fresh
    memory map, which faults in every page).
    """
    order = [(s, e) for s in SPLITS for e in plan.splits[s]]
    row_bytes = int(np.prod(config.IMG_SIZE)) * 3
    failed: dict[int, str] = {}

    def items():
        for i, (_, entry) in enumerate(order):
            try:
                with open(entry.path, "rb") as f:
                    yield i, f.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                failed[i] = f"unreadable ({exc.strerror or exc})"

    with open(target, "w+b") as out:
        start = _write_npy_header(out, len(order))
        out.truncate(start + len(order) * row_bytes)
        done = 0
        for i, result in images.model_inputs(items(), max_bytes=MAX_FILE_BYTES):
            if isinstance(result, str):
                failed[i] = result
            else:
                os.pwrite(out.fileno(), np.ascontiguousarray(result, np.uint8).tobytes(), start + i * row_bytes)
            done += 1
            if progress and (done % 50 == 0 or done == len(order)):
                progress(done, len(order), "Decoding the images")
    keep = [i for i in range(len(order)) if i not in failed]
    if failed:  # rewrite without the holes, so each split is one slice of the file
        rows = np.load(target, mmap_mode="r")
        packed = target.with_name(target.name + ".kept.npy")
        with open(packed, "wb") as out:
            _write_npy_header(out, len(keep))
            for chunk in range(0, len(keep), 256):
                out.write(np.ascontiguousarray(rows[keep[chunk:chunk + 256]]).tobytes())
        del rows
        os.replace(packed, target)

    # Classes with no usable training image after decoding are left out.
    kept = [order[i] for i in keep]
    names = sorted({e.label_name for s, e in kept if plan.auto_split or s == "train"})
    notes = list(plan.notes) + [f"Class folder '{n[:60]}' has no usable images and was left out."
                                for n in plan.folders if n not in names]
    label_of = {n: i for i, n in enumerate(names)}
    manifest = {"version": PIXELS_VERSION, "key": plan.key, "classes": names, "notes": notes,
                "skipped": [[s.path, s.reason] for s in plan.skipped]
                + [[order[i][1].rel, reason] for i, reason in sorted(failed.items())],
                "rows": [[s, e.rel, label_of.get(e.label_name, -1)] for s, e in kept]}
    return manifest


def _open_cached(plan: _Plan) -> tuple[np.ndarray, dict] | None:
    return _open_cached_key(plan.key)


def _open_cached_key(key: str) -> tuple[np.ndarray, dict] | None:
    folder = _decoded_dir()
    manifest_path, array_path = folder / f"{key}.json", folder / f"{key}.npy"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        array = np.load(array_path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key or len(array) != len(manifest.get("rows", ())):
        return None
    try:
        os.utime(manifest_path)  # recently used: the disk cache drops the oldest first
    except OSError:
        pass
    return array, manifest


def _prune_disk_cache(keep: int = DISK_CACHE) -> None:
    folder = _decoded_dir()
    try:
        manifests = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in manifests[keep:]:
        for path in (old, old.with_suffix(".npy")):
            try:
                path.unlink()
            except OSError:
                pass


def _decoded(plan: _Plan, progress: Progress | None) -> tuple[np.ndarray, dict]:
    hit = _open_cached(plan)
    if hit is not None:
        return hit
    folder = _decoded_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = sources.exclusive(sources.lock_path(f"decode-{plan.key}"))
        lock.__enter__()
    except OSError as exc:
        raise DatasetUnavailable(f"Cannot write the decoded images to {folder} ({exc.strerror or exc}); "
                                 f"set {config.ENV_HOME} to a writable folder.") from None
    try:
        hit = _open_cached(plan)  # another process may have decoded it while this one waited
        if hit is not None:
            return hit
        tmp = folder / f".tmp-{plan.key}-{os.getpid()}.npy"
        try:
            manifest = _decode_into(plan, tmp, progress)
            os.replace(tmp, folder / f"{plan.key}.npy")
            write_atomic(folder / f"{plan.key}.json", json.dumps(manifest).encode("utf-8", "surrogatepass"))
        except OSError as exc:
            raise DatasetUnavailable(f"Cannot write the decoded images to {folder} ({exc.strerror or exc}); "
                                     f"set {config.ENV_HOME} to a writable folder with room for them.") from None
        finally:
            tmp.unlink(missing_ok=True)
        _prune_disk_cache()
        hit = _open_cached(plan)
        if hit is None:
            raise DatasetUnavailable(f"The decoded images in {folder} could not be read back.")
        return hit
    finally:
        lock.__exit__(None, None, None)


def _build(source: DataSource, key: str, auto_split: bool, array: np.ndarray, manifest: dict) -> Dataset:
    names = tuple(manifest["classes"])
    if len(names) < 2:
        raise InvalidDataset(
            f"Found {len(names)} class folder(s) with usable images in {source.root}; at least 2 are needed "
            f"({config.EXPECTED_LAYOUT})."
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
        raise InvalidDataset(f"{source.root}/validation has no usable images for the classes in train/.")
    skipped = tuple(SkippedFile(p, r) for p, r in manifest["skipped"])
    return Dataset(source, names, splits["train"], splits["validation"], splits["test"], skipped,
                   tuple(manifest["notes"]), auto_split, key)


# ---------------------------------------------------------------- loading


_cache: "OrderedDict[str, tuple[Dataset, str]]" = OrderedDict()  # key -> (dataset, files' signature), newest last
_cache_lock = threading.Lock()
_load_locks: dict[str, threading.Lock] = {}


def _remember(dataset: Dataset, signature: str) -> Dataset:
    _looked.clear()  # what cached_dataset found missing may be here now
    with _cache_lock:
        _cache[dataset.key] = (dataset, signature)
        _cache.move_to_end(dataset.key)
        while len(_cache) > MEMORY_CACHE:
            _cache.popitem(last=False)
    return dataset


def _held(key: str, source: DataSource) -> Dataset | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0].source == source:
            _cache.move_to_end(key)
            return hit[0]
    return None


def files_signature(source: DataSource) -> str:
    """A hash of every file's name, size, time and inode under the dataset: changes when any file
    does, costs only stat() calls (no file is read)."""
    entries = _scan(source.root)[0]
    digest = hashlib.sha1()
    for entry in entries:
        try:
            st = os.stat(entry.path)
            digest.update(f"{entry.part}\t{entry.rel}\t{_stat_key(st)}\n".encode("utf-8", "surrogatepass"))
        except OSError:
            digest.update(f"{entry.rel}\tgone\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def load_dataset(data: str | os.PathLike | None = None, *, progress: Progress | None = None,
                 seed: int = config.SEED, allow_download: bool = True) -> Dataset:
    """Checked, decoded and split images, keyed by their content.

    Decoded once per machine (a memory-mapped cache in CATDOG_HOME) and kept
    open for the few most recent datasets of this process.
    """
    source = find_source(data, progress, allow_download)
    signature = files_signature(source)  # before any file is read: a change while loading shows next time
    # Files already read by this process (same size, time and inode) are not read again, and a
    # dataset known in full reports no progress: a progress bar means real work.
    plan = _plan(source, seed, None, only_known=True) or _plan(source, seed, progress)
    hit = _held(plan.key, source)
    if hit is not None:
        return hit
    with _cache_lock:
        lock = _load_locks.setdefault(plan.key, threading.Lock())
    with lock:  # two sessions asking at once share one decode
        hit = _held(plan.key, source)
        if hit is not None:
            return hit
        array, manifest = _decoded(plan, progress)
        return _remember(_build(source, plan.key, plan.auto_split, array, manifest), signature)


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
    opened = _open_cached_key(key)
    if opened is None:
        raise DatasetUnavailable("The decoded images of this dataset are no longer in the cache; open the "
                                 "page again to decode them.")
    return _remember(_build(source, key, auto_split, *opened), signature)


_looked: dict[tuple, tuple[float, str | None]] = {}  # (data, seed) -> (when, signature): cached_dataset's memory
LOOK_SECONDS = 2.0


def cached_dataset(data=None, seed: int = config.SEED) -> Dataset | None:
    """The dataset if this process holds it already and no file changed since, without reading any.

    Pages ask several times a run (sidebar, pickers); the files are stat()ed at most every
    LOOK_SECONDS per source.
    """
    memo = (str(data) if data is not None else config.data_dir_setting() or "", seed)
    now = time.monotonic()
    known = _looked.get(memo)
    if known is not None and now - known[0] < LOOK_SECONDS:
        source, signature = known[1]
    else:
        try:
            source = find_source(data, None, allow_download=False, unpack=False)
            signature = files_signature(source)
        except Exception:
            source, signature = None, None
        if len(_looked) > 64:
            _looked.clear()
        _looked[memo] = (now, (source, signature))
    if signature is None:
        return None
    with _cache_lock:
        for held, held_signature in reversed(_cache.values()):
            if held.source == source and held_signature == signature:
                return held
    return None


def clear_cache() -> None:
    """Forget the datasets this process holds (the files on disk stay)."""
    with _cache_lock:
        _cache.clear()
    _looked.clear()
    with _digests_lock:
        _digests.clear()


def forget(key: str) -> None:
    """Drop one dataset from this process and from the disk cache."""
    with _cache_lock:
        _cache.pop(key, None)
    for suffix in (".json", ".npy"):
        (_decoded_dir() / f"{key}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------- looking at it


def label_counts(dataset: Dataset) -> dict[str, dict[str, int]]:
    """{split: {class: count}} for every split and class (zeros included)."""
    return {s: {name: int(np.sum(dataset.split(s).labels == i)) for i, name in enumerate(dataset.class_names)}
            for s in SPLITS}


def majority_classes(dataset: Dataset) -> list[str]:
    """The most common classes of the training split (several when they tie)."""
    counts = np.bincount(dataset.train.labels, minlength=len(dataset.class_names))
    return [dataset.class_names[i] for i in np.flatnonzero(counts == counts.max())]


def majority_baseline(dataset: Dataset, split: str = "validation") -> float:
    """Accuracy of always guessing the most common class of the training set.

    When several classes tie for most common, it is the mean over them: what
    guessing one of them at random scores (50 % for the post's 1000 / 1000).
    """
    labels = dataset.split(split).labels
    if not len(labels):
        return 0.0
    tied = [dataset.class_names.index(name) for name in majority_classes(dataset)]
    return float(np.mean([np.mean(labels == label) for label in tied]))


def pick_examples(dataset: Dataset, n_per_class: int = 3, seed: int = 0,
                  split: str = "train", with_files: bool = False) -> list[tuple]:
    """For each class, n images drawn with the seed: [(class_name, (n, H, W, 3) uint8)], or
    [(class_name, images, file names)] with_files."""
    part = dataset.split(split)
    rng = np.random.default_rng(seed)
    rows = []
    for label, name in enumerate(dataset.class_names):
        idx = np.flatnonzero(part.labels == label)
        chosen = np.sort(rng.choice(idx, size=min(n_per_class, len(idx)), replace=False)) if len(idx) else idx
        images = part.images[chosen]
        rows.append((name, images, [part.files[i] for i in chosen]) if with_files else (name, images))
    return rows

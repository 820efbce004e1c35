"""The dataset: find it (local folder, zip, or the post's download), check every
file once, decode and resize it once per process, and split it.

Splits. The blog post carves its test set out of validation with
``take(n // 5)`` / ``skip(n // 5)`` on a dataset that reshuffles every pass, so
its "test" images change from epoch to epoch and overlap validation. Here the
test set is chosen once: one fifth of each class's validation images, drawn
with a fixed seed. It is disjoint from validation and identical on every
epoch, rerun and process.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import threading
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import config
from .errors import CatdogError, DatasetUnavailable, InvalidDataset
from .fileio import write_atomic
from .images import describe_format

# progress(done, total, message); total may be 0 when unknown.
Progress = Callable[[int, int, str], None]

SPLITS = ("train", "validation", "test")
MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed; refuses zip bombs
MAX_ZIP_MEMBERS = 200_000
MIN_IMAGES_PER_CLASS = 5

_EXT_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WebP"}
IMAGE_EXTENSIONS = tuple(_EXT_FORMAT)


@dataclass(frozen=True)
class DataSource:
    """Where the images came from, in words a student can read."""

    kind: str  # "download", "folder" or "zip"
    location: str
    root: Path
    description: str


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, (N, 160, 160, 3)
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


# ---------------------------------------------------------------- finding it


def find_source(data: str | os.PathLike | None = None, progress: Progress | None = None,
                allow_download: bool = True, unpack: bool = True) -> DataSource:
    """The argument, else $CATDOG_DATA_DIR, else the post's archive via Keras' cache.

    With unpack=False nothing slow happens: a zip not unpacked yet raises
    DatasetUnavailable instead (for callers that only look, without a progress bar).
    """
    chosen = data if data is not None else config.data_dir_setting()
    if chosen is not None:
        return _local_source(Path(chosen).expanduser(), progress, unpack)
    return _downloaded_source(progress, allow_download and unpack, unpack)


def _not_unpacked(name: str) -> DatasetUnavailable:
    return DatasetUnavailable(f"{name} is not unpacked yet; loading the dataset unpacks it.")


def _local_source(path: Path, progress: Progress | None, unpack: bool = True) -> DataSource:
    if not path.exists():
        raise DatasetUnavailable(
            f"The dataset path {path} does not exist; point {config.ENV_DATA_DIR} "
            f"(or --data) at {config.EXPECTED_LAYOUT}."
        )
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise InvalidDataset(f"{path.name} is neither a folder nor a .zip archive; expected {config.EXPECTED_LAYOUT}.")
        if not unpack and not _extracted_dir(path).exists():
            raise _not_unpacked(path.name)
        root = _dataset_root(_extract_zip(path, progress))
        return DataSource("zip", str(path), root, f"local zip {path.name}")
    return DataSource("folder", str(path), _dataset_root(path), f"local folder {path.name}")


def _downloaded_source(progress: Progress | None, allow_download: bool, unpack: bool = True) -> DataSource:
    datasets = config.keras_home() / "datasets"
    archive = datasets / config.DATA_FNAME
    extracted = datasets / (config.DATA_FNAME.split(".")[0] + "_extracted")
    marker = extracted / ".catdog-complete"
    if not marker.exists():
        if not archive.exists():
            if not allow_download:
                raise DatasetUnavailable(_offline_message("it has not been downloaded yet"))
            _download(config.DATA_URL, archive, progress)
        if not unpack:
            raise _not_unpacked(config.DATA_FNAME)
        _extract_with_keras(progress)
        marker.write_text("ok\n")
    return DataSource("download", config.DATA_URL, _dataset_root(extracted), config.DATA_DESCRIPTION)


def _offline_message(why: str) -> str:
    return (
        f"The cats-and-dogs dataset is not available ({why}). Download "
        f"{config.DATA_URL} on a machine with internet and set {config.ENV_DATA_DIR} to the "
        f"zip or its unpacked folder: {config.EXPECTED_LAYOUT}."
    )


def _download(url: str, target: Path, progress: Progress | None) -> None:
    """Fetch into Keras' cache under a temporary name, renamed only when complete."""
    def fetch(out):
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, "Downloading the dataset")

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, fetch)
    except OSError as exc:
        raise DatasetUnavailable(_offline_message(f"the download failed: {exc}")) from None


def _extract_with_keras(progress: Progress | None) -> None:
    import keras  # heavy; only needed here

    if progress:
        progress(0, 0, "Unpacking the dataset")
    try:
        keras.utils.get_file(config.DATA_FNAME, origin=config.DATA_URL, extract=True,
                             cache_dir=str(config.keras_home()))
    except Exception as exc:  # a damaged archive or a failed re-download
        raise DatasetUnavailable(_offline_message(f"unpacking failed: {exc}")) from None


def _extracted_dir(path: Path) -> Path:
    """Where a local zip is unpacked: a new folder whenever the zip file changes."""
    stat = path.stat()
    tag = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return config.catdog_home() / "datasets" / f"{path.stem[:60]}-{tag}"


def _extract_zip(path: Path, progress: Progress | None) -> Path:
    """Unpack a local zip once into CATDOG_HOME, refusing paths outside it and zip bombs."""
    dest = _extracted_dir(path)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".unzip-"))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise InvalidDataset(f"{path.name} is too large to unpack (over {MAX_ZIP_MEMBERS} files or 2 GB).")
            for i, member in enumerate(members):
                target = (tmp / member.filename).resolve()
                if not target.is_relative_to(tmp.resolve()):
                    raise InvalidDataset(f"{path.name} contains a path outside the archive ({member.filename}).")
                archive.extract(member, tmp)
                if progress and i % 200 == 0:
                    progress(i, len(members), "Unpacking the dataset")
        os.replace(tmp, dest)
    except zipfile.BadZipFile as exc:
        raise InvalidDataset(f"{path.name} is a damaged zip archive ({exc}).") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()
                  and not p.name.startswith((".", "__MACOSX")))


def _dataset_root(path: Path) -> Path:
    """Descend through single wrapper folders (a zip's top folder) to the layout."""
    for _ in range(4):
        if (path / "train").is_dir():
            return path
        subdirs = _visible_dirs(path)
        has_files = any(p.is_file() for p in path.iterdir() if not p.name.startswith("."))
        if len(subdirs) == 1 and not has_files:
            path = subdirs[0]
            continue
        if subdirs:
            return path  # class folders directly: split automatically
        break
    raise InvalidDataset(f"{path} holds no class folders; expected {config.EXPECTED_LAYOUT}.")


# ---------------------------------------------------------------- checking and decoding


def _list_class_files(class_dir: Path) -> list[Path]:
    """Every file below a class folder; symlinked folders are not followed (no loops)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return found


def count_files(root: Path) -> int:
    """How many files a dataset folder holds, without reading any (for planning work)."""
    return sum(len(files) for _, _, files in os.walk(root, followlinks=False))


def _check_header(path: Path) -> str | None:
    """Why the file is skipped, judged from its name and first bytes; None when it may be decoded."""
    ext = path.suffix.lower()
    if ext not in _EXT_FORMAT:
        return f"not an image file ({ext or 'no extension'})"
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not head:
        return "empty file"
    actual = describe_format(head)
    if actual not in _EXT_FORMAT.values():  # text, PDF, HEIC...: none of the formats read here
        return "not an image (unrecognised content)"
    if actual != _EXT_FORMAT[ext]:
        return f"{actual} data named {ext}"
    return None


def _decode_files(items: list[tuple[int, Path]], size):
    """Yield (index, image) for each file TensorFlow can decode; the others are left out.

    Decoding and resizing are those of `image_dataset_from_directory`
    (bilinear, no antialias), rounded to uint8. A tf.data pipeline reads and
    decodes in TensorFlow's own threads, outside Python's lock: ~1.8x faster
    than one eager call per file, and it leaves the interpreter free for the
    TFLite conversion that may run meanwhile.
    """
    import tensorflow as tf

    def decode(index, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        resized = tf.image.resize(image, size)
        return index, tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    if not items:
        return
    indices = np.asarray([i for i, _ in items], np.int64)
    paths = tf.constant([os.fsencode(p) for _, p in items], tf.string)  # bytes: any file name works
    pipeline = (tf.data.Dataset.from_tensor_slices((indices, paths))
                .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
                .ignore_errors())
    for index, image in pipeline.as_numpy_iterator():
        yield int(index), image


def _decode_all(paths: list[Path], size, progress: Progress | None) -> list[np.ndarray | str]:
    """Each path's resized uint8 image, or the reason the file is skipped."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:  # reads wait on the disk
        results: list = list(pool.map(_check_header, paths))
    todo = [(i, path) for i, path in enumerate(paths) if results[i] is None]
    done = len(paths) - len(todo)
    for i, image in _decode_files(todo, size):
        results[i] = image
        done += 1
        if progress and done % 50 == 0:
            progress(done, len(paths), "Checking and decoding images")
    for i, _ in todo:
        if results[i] is None:
            results[i] = "damaged or truncated image"
    if progress:
        progress(len(paths), len(paths), "Checking and decoding images")
    return results


# ---------------------------------------------------------------- loading and splitting

_cache: dict[tuple, Dataset] = {}
_cache_lock = threading.Lock()
_load_locks: dict[tuple, threading.Lock] = {}


def load_dataset(data: str | os.PathLike | None = None, *, progress: Progress | None = None,
                 size: tuple[int, int] = config.IMG_SIZE, seed: int = config.SEED,
                 allow_download: bool = True) -> Dataset:
    """Decoded, checked and split images, computed once per process and source."""
    source = find_source(data, progress, allow_download)
    key = (str(source.root.resolve()), tuple(size), seed)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:  # two sessions asking at once share one decode
        if key not in _cache:
            dataset = _load(source, size, seed, progress)
            with _cache_lock:
                _cache[key] = dataset
        return _cache[key]


def cached_dataset(data=None, size=config.IMG_SIZE, seed=config.SEED) -> Dataset | None:
    """The dataset if this process has already loaded it, without any work."""
    try:
        source = find_source(data, None, allow_download=False, unpack=False)
    except Exception:
        return None
    return _cache.get((str(source.root.resolve()), tuple(size), seed))


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _class_dirs(parent: Path, skipped: list[SkippedFile], notes: list[str]) -> dict[str, Path]:
    dirs = {}
    for d in _visible_dirs(parent):
        if len(d.name) > 255 or not d.name.strip():
            notes.append(f"Skipped a class folder with an unusable name ({d.name[:40]}...).")
            continue
        dirs[d.name] = d
    for p in parent.iterdir():
        if p.is_file() and not p.name.startswith("."):
            skipped.append(SkippedFile(str(p.relative_to(parent.parent)), "file outside any class folder"))
    return dirs


def _load(source: DataSource, size, seed: int, progress: Progress | None) -> Dataset:
    root = source.root
    skipped: list[SkippedFile] = []
    notes: list[str] = []
    auto_split = not (root / "train").is_dir()
    if auto_split:
        part_dirs = {"all": _class_dirs(root, skipped, notes)}
    else:
        if not (root / "validation").is_dir():
            raise InvalidDataset(f"{root} has train/ but no validation/ folder; expected {config.EXPECTED_LAYOUT}.")
        part_dirs = {p: _class_dirs(root / p, skipped, notes) for p in ("train", "validation")}
        extra = set(part_dirs["validation"]) - set(part_dirs["train"])
        if extra:
            raise InvalidDataset(f"validation/ has classes that train/ lacks: {', '.join(sorted(extra))}.")

    # Every file of every part, decoded once.
    jobs = [(part, name, f) for part, dirs in part_dirs.items()
            for name, d in dirs.items() for f in _list_class_files(d)]
    decoded = _decode_all([f for _, _, f in jobs], size, progress)
    good: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
    for (part, name, f), result in zip(jobs, decoded):
        rel = str(f.relative_to(root))
        if isinstance(result, str):
            skipped.append(SkippedFile(rel, result))
        else:
            good.setdefault((part, name), []).append((rel, result))

    names = [n for n in next(iter(part_dirs.values())) if good.get((next(iter(part_dirs)), n))]
    for n in sorted(set(next(iter(part_dirs.values()))) - set(names)):
        notes.append(f"Class folder '{n[:60]}' has no usable images and was left out.")
    if len(names) < 2:
        raise InvalidDataset(
            f"Found {len(names)} class folder(s) with usable images in {root}; at least 2 are needed "
            f"({config.EXPECTED_LAYOUT})."
        )
    class_names = tuple(names)
    rng = np.random.default_rng(seed)
    buckets: dict[str, list[tuple[str, np.ndarray, int]]] = {s: [] for s in SPLITS}
    for label, name in enumerate(class_names):
        if auto_split:
            items = good[("all", name)]
            if len(items) < MIN_IMAGES_PER_CLASS:
                raise InvalidDataset(f"Class '{name}' has {len(items)} usable images; each class needs at least {MIN_IMAGES_PER_CLASS}.")
            order = rng.permutation(len(items))
            n_val = max(2, round(0.2 * len(items)))
            train_items = [items[i] for i in order[n_val:]]
            val_items = [items[i] for i in order[:n_val]]
        else:
            train_items = good.get(("train", name), [])
            val_items = good.get(("validation", name), [])
        order = rng.permutation(len(val_items))
        n_test = max(1, round(len(val_items) / 5)) if len(val_items) >= 2 else 0
        test_set = set(order[:n_test].tolist())
        buckets["train"] += [(r, a, label) for r, a in train_items]
        buckets["test"] += [(r, a, label) for i, (r, a) in enumerate(val_items) if i in test_set]
        buckets["validation"] += [(r, a, label) for i, (r, a) in enumerate(val_items) if i not in test_set]

    splits = {s: _to_split(items, size) for s, items in buckets.items()}
    if len(splits["validation"]) == 0:
        raise InvalidDataset(f"{root}/validation has no usable images for the classes in train/.")
    fingerprint = hashlib.sha1("|".join(f"{s}:{','.join(splits[s].files)}" for s in SPLITS).encode())
    fingerprint.update(f"{size}{seed}".encode())
    return Dataset(source, class_names, splits["train"], splits["validation"], splits["test"],
                   tuple(skipped), tuple(notes), auto_split, fingerprint.hexdigest()[:16])


def _to_split(items: list[tuple[str, np.ndarray, int]], size) -> Split:
    if not items:
        return Split(np.zeros((0, *size, 3), np.uint8), np.zeros((0,), np.int32), ())
    return Split(np.stack([a for _, a, _ in items]), np.array([l for _, _, l in items], np.int32),
                 tuple(r for r, _, _ in items))


# ---------------------------------------------------------------- looking at it


def label_counts(dataset: Dataset) -> dict[str, dict[str, int]]:
    """{split: {class: count}} for every split and class (zeros included)."""
    return {s: {name: int(np.sum(dataset.split(s).labels == i)) for i, name in enumerate(dataset.class_names)}
            for s in SPLITS}


def majority_baseline(dataset: Dataset, split: str = "validation") -> float:
    """Accuracy of always guessing the most common class of the training set."""
    train_counts = np.bincount(dataset.train.labels, minlength=len(dataset.class_names))
    labels = dataset.split(split).labels
    return float(np.mean(labels == int(np.argmax(train_counts)))) if len(labels) else 0.0


def pick_examples(dataset: Dataset, n_per_class: int = 3, seed: int = 0,
                  split: str = "train") -> list[tuple[str, np.ndarray]]:
    """For each class, n images drawn with the seed: [(class_name, (n, H, W, 3) uint8)]."""
    part = dataset.split(split)
    rng = np.random.default_rng(seed)
    rows = []
    for label, name in enumerate(dataset.class_names):
        idx = np.flatnonzero(part.labels == label)
        chosen = rng.choice(idx, size=min(n_per_class, len(idx)), replace=False) if len(idx) else idx
        rows.append((name, part.images[np.sort(chosen)]))
    return rows


# ---------------------------------------------------------------- uploads of your own classes

MAX_UPLOAD_ZIP_BYTES = 200 * 1024**2  # compressed; checked before anything is written


def _upload_stem(name: str) -> str:
    """An uploaded file's name reduced to a harmless file-name stem."""
    stem = Path(name.replace("\\", "/").rsplit("/", 1)[-1]).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:40].strip("._") or "upload"


def _upload_class_folders(names: list[str], shown: str) -> list[str] | None:
    """The class folder names a zip's member list implies (None for a train/validation layout).

    Refuses members that would land outside the archive's folder (zip-slip).
    """
    paths = []
    for member in names:
        parts = member.replace("\\", "/").split("/")
        if member.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", member):
            raise InvalidDataset(f"{shown} contains a path outside the archive ({member[:80]}); it was not imported.")
        parts = [p for p in parts if p]
        if parts and not member.endswith("/") and not any(p.startswith((".", "__MACOSX")) for p in parts):
            paths.append(parts)
    for _ in range(4):  # a top folder that only wraps folders is not a class: look inside it
        folders = {p[0] for p in paths if len(p) > 1}
        loose = any(len(p) == 1 for p in paths)
        wraps_folders = len(folders) == 1 and any(len(p) > 2 for p in paths)
        if wraps_folders and not loose and "train" not in folders:
            paths = [p[1:] for p in paths]
            continue
        break
    return None if "train" in folders else sorted(folders)


def import_zip(data: bytes, name: str, progress: Progress | None = None) -> Path:
    """An uploaded zip of class folders, checked and kept in CATDOG_HOME/uploads; returns its path.

    The zip holds one folder of images per class (split automatically) or the
    post's train/ and validation/ layout. Anything unusable raises
    InvalidDataset and leaves nothing behind.
    """
    shown = _upload_stem(name) + ".zip"
    if len(data) > MAX_UPLOAD_ZIP_BYTES:
        raise InvalidDataset(f"{shown} is {len(data) / 1024**2:.0f} MB; uploads are limited to "
                             f"{MAX_UPLOAD_ZIP_BYTES // 1024**2} MB, so use fewer or smaller images.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise InvalidDataset(f"{shown} is not a zip archive (or is damaged); zip your class folders and upload that.") from None
    classes = _upload_class_folders(members, shown)
    if classes is not None and len(classes) < 2:
        found = f"only one class folder ({classes[0][:60]})" if classes else "no class folders"
        raise InvalidDataset(f"{shown} has {found}; put at least two folders in the zip, one per class, "
                             "each holding that class's images.")

    folder = config.catdog_home() / "uploads"
    target = folder / f"{_upload_stem(name)}-{hashlib.sha1(data).hexdigest()[:12]}.zip"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not target.is_file():  # the same bytes again reuse the file, its unpacked copy and the cache
            write_atomic(target, data)
    except OSError as exc:
        raise CatdogError(f"Cannot save the upload in {folder} ({exc.strerror or exc}); "
                          f"set {config.ENV_HOME} to a writable folder.") from None

    try:
        loaded = load_dataset(target, progress=progress)
        _check_upload(loaded, classes)
    except InvalidDataset:
        extracted = _extracted_dir(target).resolve()
        with _cache_lock:  # a refused upload must not stay loadable from the cache
            for key in [k for k in _cache if Path(k[0]).is_relative_to(extracted)]:
                del _cache[key]
        shutil.rmtree(extracted, ignore_errors=True)
        target.unlink(missing_ok=True)
        raise
    return target


def _check_upload(data: Dataset, folders: list[str] | None) -> None:
    """What the loader tolerates in a prepared dataset but an upload should not have."""
    for folder in folders or ():
        if folder not in data.class_names:
            raise InvalidDataset(f"Class '{folder[:60]}' has no usable images (JPEG, PNG, GIF, BMP or WebP); "
                                 f"each class needs at least {MIN_IMAGES_PER_CLASS}.")
    counts = label_counts(data)
    for name in data.class_names:
        total = sum(counts[s][name] for s in SPLITS)
        if total < MIN_IMAGES_PER_CLASS:
            raise InvalidDataset(f"Class '{name[:60]}' has {total} usable images; each class needs at least "
                                 f"{MIN_IMAGES_PER_CLASS}.")
        if counts["train"][name] == 0:
            raise InvalidDataset(f"Class '{name[:60]}' has no training images; put some in train/{name[:60]}/.")

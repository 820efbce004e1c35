"""Decoded once per machine: every planned file through the one pixel path into
<cache>/decoded/<key>.npy, read back as a memory map by any process."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .. import config, images, sources
from ..errors import DatasetUnavailable
from ..fileio import owner_tag, write_atomic
from ..progress import Progress
from . import fingerprints
from .plan import Plan
from .record import DISK_CACHE, DISK_CACHE_BYTES, MAX_FILE_BYTES, PIXELS_VERSION, SPLITS


def decoded_dir() -> Path:
    return config.cache_home() / "decoded"


def _write_npy_header(f, rows: int) -> int:
    np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                             "shape": (rows, *config.IMG_SIZE, 3)})
    return f.tell()


def _decode_into(plan: Plan, target: Path, progress: Progress | None) -> tuple[dict, np.ndarray]:
    """Decode every planned file into an .npy at `target`; returns the manifest and the fingerprint
    of every kept row (fingerprints.py), made from each photo as it is decoded."""
    order = [(s, e) for s in SPLITS for e in plan.splits[s]]
    failed, prints = _write_rows(order, target, progress)
    keep = [i for i in range(len(order)) if i not in failed]
    if failed:  # rewrite without the holes, so each split is one slice of the file
        _pack_rows(target, keep)
    return _manifest(plan, order, failed, keep), prints[keep]


def _write_rows(order: list, target: Path, progress: Progress | None) -> tuple[dict[int, str], np.ndarray]:
    """Each file of `order` decoded into its row of the .npy at `target`; returns why each failed
    row failed, and every row's fingerprint.

    Each decoded image is written at its row with pwrite (sequential-ish
    writes through the page cache: ~10x faster here than filling a fresh
    memory map, which faults in every page).
    """
    row_bytes = int(np.prod(config.IMG_SIZE)) * 3
    failed: dict[int, str] = {}
    prints = np.zeros((len(order), fingerprints.KEEP ** 2 - 1), np.float16)

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
                prints[i] = fingerprints.fingerprints(result)
            done += 1
            if progress and (done % 50 == 0 or done == len(order)):
                progress(done, len(order), "Decoding the images")
    return failed, prints


def _pack_rows(target: Path, keep: list[int]) -> None:
    """The .npy at `target` rewritten with only the rows in `keep`."""
    rows = np.load(target, mmap_mode="r")
    packed = target.with_name(target.name + ".kept.npy")
    with open(packed, "wb") as out:
        _write_npy_header(out, len(keep))
        for chunk in range(0, len(keep), 256):
            out.write(np.ascontiguousarray(rows[keep[chunk:chunk + 256]]).tobytes())
    del rows
    os.replace(packed, target)


def _manifest(plan: Plan, order: list, failed: dict[int, str], keep: list[int]) -> dict:
    """What the decoded file holds: its classes, notes, skipped files and each row's split, file and label."""
    # Classes with no usable training image after decoding are left out.
    kept = [order[i] for i in keep]
    names = sorted({e.label_name for s, e in kept if plan.auto_split or s == "train"})
    notes = list(plan.notes) + [f"Class folder '{n[:60]}' has no usable images and was left out."
                                for n in plan.folders if n not in names]
    label_of = {n: i for i, n in enumerate(names)}
    return {"version": PIXELS_VERSION, "key": plan.key, "classes": names, "notes": notes,
            "skipped": [[s.path, s.reason] for s in plan.skipped]
            + [[order[i][1].rel, reason] for i, reason in sorted(failed.items())],
            "rows": [[s, e.rel, label_of.get(e.label_name, -1)] for s, e in kept]}


def _open_cached(plan: Plan) -> tuple[np.ndarray, dict] | None:
    return open_cached_key(plan.key)


def open_cached_key(key: str) -> tuple[np.ndarray, dict] | None:
    folder = decoded_dir()
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


def still_kept(key: str) -> bool:
    """Whether a dataset's decoded files (and fingerprints) are still on disk, marking them used now:
    a dataset held in memory is used without reading its files, and another process pruning the
    cache (the oldest first) must not take it for an old one."""
    folder = decoded_dir()
    try:
        os.utime(folder / f"{key}.json")
        return (folder / f"{key}.npy").is_file() and fingerprints.path(key).is_file()
    except OSError:
        return False


def _prune_disk_cache(in_use: frozenset[str] = frozenset()) -> None:
    """The oldest decoded datasets beyond DISK_CACHE of them or DISK_CACHE_BYTES of files go (the
    newest always stays), except those this process holds open: a held dataset whose files (and
    fingerprints) vanished under it would no longer know its own photos."""
    folder = decoded_dir()
    sized = []
    try:
        for manifest in folder.glob("*.json"):
            try:
                stat = manifest.stat()
            except OSError:
                continue  # removed meanwhile
            try:
                pixels = manifest.with_suffix(".npy").stat().st_size
            except OSError:
                pixels = 0
            sized.append((stat.st_mtime, manifest, stat.st_size + pixels))
    except OSError:
        return
    sized.sort(key=lambda item: item[0], reverse=True)
    total, over = 0, []
    for i, (_, manifest, size) in enumerate(sized):
        total += size
        if i and (i >= DISK_CACHE or total > DISK_CACHE_BYTES):
            over.append(manifest)
    for old in [m for m in over if m.stem not in in_use]:
        fingerprints.forget(old.stem)
        for path in (old, old.with_suffix(".npy")):
            try:
                path.unlink()
            except OSError:
                pass


def _with_prints(hit: tuple[np.ndarray, dict], key: str) -> tuple[np.ndarray, dict]:
    """A cached dataset, its fingerprints made now if it was decoded before they were kept (from the
    decoded photos, once: about a second per thousand)."""
    array, manifest = hit
    if fingerprints.load(key, len(array)) is None:
        try:
            fingerprints.save(key, fingerprints.fingerprints(array))
        except OSError:
            pass  # a read-only cache: photos are then not recognised, nothing else changes
    return hit


def decoded(plan: Plan, progress: Progress | None,
            in_use: frozenset[str] = frozenset()) -> tuple[np.ndarray, dict]:
    hit = _open_cached(plan)
    if hit is not None:
        return _with_prints(hit, plan.key)
    folder = decoded_dir()
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
            return _with_prints(hit, plan.key)
        tmp = folder / f".tmp-{plan.key}-{owner_tag()}.npy"
        try:
            manifest, prints = _decode_into(plan, tmp, progress)
            fingerprints.save(plan.key, prints)  # before the manifest: a dataset found complete has them
            os.replace(tmp, folder / f"{plan.key}.npy")
            write_atomic(folder / f"{plan.key}.json", json.dumps(manifest).encode("utf-8", "surrogatepass"))
        except OSError as exc:
            raise DatasetUnavailable(f"Cannot write the decoded images to {folder} ({exc.strerror or exc}); "
                                     f"set {config.ENV_HOME} to a writable folder with room for them.") from None
        finally:
            tmp.unlink(missing_ok=True)
        _prune_disk_cache(in_use=in_use)
        hit = _open_cached(plan)
        if hit is None:
            raise DatasetUnavailable(f"The decoded images in {folder} could not be read back.")
        return hit
    finally:
        lock.__exit__(None, None, None)


_kept_prints: "OrderedDict[str, tuple[np.ndarray, list]]" = OrderedDict()  # key -> (fingerprints, manifest rows)
KEPT_PRINTS = 4


def seen_photos(key: str, pixels: np.ndarray) -> list[fingerprints.SeenPhoto | None]:
    """For each of these photos (N, 160, 160, 3) as the model sees them: the photo of the cached dataset
    `key` it is the same picture as, or None (also for every photo when that dataset is not cached)."""
    held = _kept_prints.get(key)
    if held is None:
        hit = open_cached_key(key) if key else None
        if hit is None:
            return [None] * len(pixels)
        array, manifest = _with_prints(hit, key)
        prints = fingerprints.load(key, len(array))
        if prints is None:
            return [None] * len(pixels)
        held = _kept_prints[key] = (prints, manifest["rows"])
        while len(_kept_prints) > KEPT_PRINTS:
            _kept_prints.popitem(last=False)
    _kept_prints.move_to_end(key)
    return fingerprints.seen_in(held[0], held[1], fingerprints.fingerprints(np.asarray(pixels)))

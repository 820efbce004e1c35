"""The files of a dataset folder: which are there, which are usable images (read once, hashed),
and a signature of them all that costs only stat() calls."""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .. import config, sources
from ..errors import InvalidDataset
from ..images import describe_format
from ..sources import DataSource
from .record import EXT_FORMAT, MAX_FILE_BYTES, SkippedFile


@dataclass(frozen=True)
class Entry:
    part: str  # "train", "validation" or "all" (class folders only)
    label_name: str
    path: Path
    rel: str  # relative to the dataset root, "/"-separated


def class_files(class_dir: Path, root: Path) -> list[tuple[Path, str]]:
    """Every file below a class folder, with its path relative to root ("/"-separated); symlinked
    folders are not followed (no loops). Relative paths are made once per folder: the sidebar
    lists 3000 files every few seconds, and pathlib's relative_to per file was half its time."""
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        prefix = here.relative_to(root).as_posix()
        found += [(here / f, f"{prefix}/{f}") for f in sorted(filenames) if not f.startswith(".")]
    return found


# Characters no class name may hold: control characters (a terminal obeys ESC sequences) and the
# marks that reorder text (a right-to-left override can make "gpj.exe" read "exe.jpg").
_BIDI = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def class_name(folder: str) -> str:
    """A class folder's name as the class is called: NFC-normalised, so "café" typed on a Mac
    (NFD) and on Windows (NFC) is one class. Raises InvalidDataset for control or text-direction
    characters, naming the folder with those characters escaped."""
    bad = [ch for ch in folder if unicodedata.category(ch) == "Cc" or ch in _BIDI]
    if bad:
        shown = folder[:60].encode("unicode_escape").decode("ascii")
        raise InvalidDataset(f"The class folder '{shown}' has control or text-direction characters in its "
                             "name; rename it with letters, digits and spaces only.")
    return unicodedata.normalize("NFC", folder)


def class_dirs(parent: Path, skipped: list[SkippedFile], notes: list[str], root: Path) -> dict[str, Path]:
    dirs = {}
    for d in sources.visible_dirs(parent):
        if len(d.name) > 255 or not d.name.strip():
            notes.append(f"Skipped a class folder with an unusable name ({d.name[:40]}...).")
            continue
        name = class_name(d.name)
        if name in dirs:
            raise InvalidDataset(f"Two class folders are both named '{name[:60]}' (written with different "
                                 "Unicode forms of the same letters); merge them or rename one.")
        dirs[name] = d
    for p in parent.iterdir():
        if p.is_file() and not p.name.startswith("."):
            skipped.append(SkippedFile(p.relative_to(root).as_posix(), "file outside any class folder"))
    return dirs


def scan(root: Path) -> tuple[list[Entry], list[SkippedFile], list[str], bool, list[str]]:
    skipped: list[SkippedFile] = []
    notes: list[str] = []
    auto_split = not (root / "train").is_dir()
    if auto_split:
        parts = {"all": class_dirs(root, skipped, notes, root)}
    else:
        if not (root / "validation").is_dir():
            raise InvalidDataset(f"{root} has train/ but no validation/ folder; expected {config.EXPECTED_LAYOUT}.")
        parts = {p: class_dirs(root / p, skipped, notes, root) for p in ("train", "validation")}
        extra = set(parts["validation"]) - set(parts["train"])
        if extra:
            raise InvalidDataset(f"validation/ has classes that train/ lacks: {', '.join(sorted(extra))}.")
    entries = [Entry(part, name, path, rel)
               for part, dirs in parts.items() for name, d in dirs.items() for path, rel in class_files(d, root)]
    return entries, skipped, notes, auto_split, sorted(next(iter(parts.values())))


# What reading a file found: (size, mtime_ns, inode) -> digest or skip reason. Bounded.
known_files: "OrderedDict[str, tuple[tuple, str, bool]]" = OrderedDict()
known_files_lock = threading.Lock()
KNOWN_FILES = 300_000


_reads = 0  # files examined from their bytes (not from known_files) by this process


def reads() -> int:
    return _reads


def stat_key(st: os.stat_result) -> tuple:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns


# What reading the files of a dataset found, kept on disk per dataset folder, so a new process (the
# command line's second quick model, a worker after a restart) reads and hashes only what changed: a
# file's record counts while its stat() is the same (size, times, inode), as git's index does, and
# only when it was written over RACY_NS after the file last changed (a file rewritten within the
# same clock tick with the same size is read again).
EXAMINED_DIR = "examined"
EXAMINED_KEPT = 16  # dataset folders
RACY_NS = 2_000_000_000


def _examined_file(root: Path) -> Path:
    name = hashlib.sha1(str(Path(root).resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return config.cache_home() / EXAMINED_DIR / f"{name}.json"


def recall_examined(root: Path) -> None:
    """Put what an earlier process found in `root`'s files into known_files."""
    import json

    try:
        kept = json.loads(_examined_file(root).read_text(encoding="utf-8"))
        written, records = int(kept["written_ns"]), kept["files"]
        found = {str(Path(root) / rel): (tuple(int(v) for v in record[:5]), str(record[6]), bool(record[5]))
                 for rel, record in records.items()
                 if isinstance(record, list) and len(record) == 7 and written - int(record[1]) > RACY_NS}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # none kept yet, or unreadable: every file is read as before
    with known_files_lock:
        for path, record in found.items():
            known_files.setdefault(path, record)


def keep_examined(root: Path, entries) -> None:
    """Write what known_files holds for `entries` (the files of `root`) for the next process."""
    import json
    import time

    from ..fileio import keep_newest, write_atomic

    records = {}
    with known_files_lock:
        for entry in entries:
            known = known_files.get(str(entry.path))
            if known is not None:
                records[entry.rel] = [*known[0], known[2], known[1]]
    target = _examined_file(root)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps({"written_ns": time.time_ns(), "files": records}).encode("utf-8"))
        keep_newest(target.parent, "*.json", EXAMINED_KEPT)
    except OSError:
        pass  # a read-only cache: the next process reads the files again


def examine(path: Path) -> tuple[bool, str]:
    """(usable, digest or the reason it is skipped), from the file's name and bytes."""
    ext = path.suffix.lower()
    if ext not in EXT_FORMAT:
        return False, f"not an image file ({ext or 'no extension'})"
    try:
        st = os.stat(path)
    except OSError as exc:
        return False, f"unreadable ({exc.strerror or exc})"
    if not stat_module.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        return False, "not a regular file"
    memo_key = str(path)
    with known_files_lock:
        known = known_files.get(memo_key)
    if known is not None and known[0] == stat_key(st):
        return known[2], known[1]
    global _reads
    with known_files_lock:
        _reads += 1
    try:
        result = _verdict(path, ext, st.st_size)
    except OSError as exc:  # not remembered: read again next time
        return False, f"unreadable ({exc.strerror or exc})"
    _remember(memo_key, st, result)
    return result


def _verdict(path: Path, ext: str, size: int) -> tuple[bool, str]:
    """Whether the file's bytes are the image its name says, with their digest or why not;
    OSError when it cannot be read."""
    if size > MAX_FILE_BYTES:
        return False, f"over the {MAX_FILE_BYTES // 2**20} MB limit for one image"
    if size == 0:
        return False, "empty file"
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    actual = describe_format(raw[:1024])
    if actual not in EXT_FORMAT.values():  # text, PDF, HEIC...: none of the formats read here
        return False, "not an image (unrecognised content)"
    if actual != EXT_FORMAT[ext]:
        return False, f"{actual} data named {ext}"
    return True, hashlib.sha1(raw).hexdigest()[:24]


def _remember(memo_key: str, st: os.stat_result, result: tuple[bool, str]) -> None:
    """Keep what reading a file found, by its stat(), dropping the oldest beyond KNOWN_FILES."""
    with known_files_lock:
        known_files[memo_key] = (stat_key(st), result[1], result[0])
        known_files.move_to_end(memo_key)
        while len(known_files) > KNOWN_FILES:
            known_files.popitem(last=False)


def folders_signature(source: DataSource) -> str:
    """A hash of the dataset's folders (its root, its split and class folders: each one's time
    and inode), a few stat() calls: changes when a file is added, removed or renamed in them."""
    digest = hashlib.sha1()
    level = [Path(source.root)]
    for depth in range(3):  # root, train/validation (or the classes), the classes: never their files
        below = []
        for folder in level:
            try:
                digest.update(f"{folder}\t{stat_key(os.stat(folder))}\n".encode("utf-8", "surrogatepass"))
                if depth < 2 and (depth == 0 or folder.name in ("train", "validation")):
                    below += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                digest.update(f"{folder}\tgone\n".encode("utf-8", "surrogatepass"))
        level = below[:1000]
    return digest.hexdigest()[:16]


def files_signature(source: DataSource, scanned: tuple | None = None) -> str:
    """A hash of every file's name, size, time and inode under the dataset: changes when any file
    does, costs only stat() calls (no file is read). scanned: scan(source.root), if made already."""
    entries = (scanned or scan(source.root))[0]
    digest = hashlib.sha1()
    for entry in entries:
        try:
            st = os.stat(entry.path)
            digest.update(f"{entry.part}\t{entry.rel}\t{stat_key(st)}\n".encode("utf-8", "surrogatepass"))
        except OSError:
            digest.update(f"{entry.rel}\tgone\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]

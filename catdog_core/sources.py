"""Where a dataset comes from: a local folder, a local zip, or the post's archive
downloaded into Keras' cache. This module finds it, downloads it (with
progress) and unpacks it, once per machine.

Unpacking is safe to ask for from many threads and processes at once (eight
browser tabs opened right after the server starts, a CLI beside the app): one
of them unpacks under a lock file into a temporary folder and renames it into
place; the others wait for the lock and find the folder ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import config
from .errors import CatdogError, DatasetUnavailable, InvalidDataset, NotUnpacked
from .fileio import owner_tag, write_atomic
from .progress import Progress

DOWNLOADING = "Downloading the dataset"  # the one phase whose done and total count bytes (see progress.py)

MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed, for a dataset zip named by the teacher
MAX_ZIP_MEMBERS = 200_000
MAX_NAME_BYTES = 255  # one path component, as most filesystems allow
MAX_PATH_BYTES = 1024
STALE_SECONDS = 3600  # temporary files older than this belong to a process that died


@dataclass(frozen=True)
class DataSource:
    """Where the images came from, in words a student can read."""

    kind: str  # "download", "folder" or "zip"
    location: str
    root: Path
    description: str


@dataclass(frozen=True)
class ZipLimits:
    members: int = MAX_ZIP_MEMBERS
    total_bytes: int = MAX_ZIP_BYTES
    member_bytes: int = MAX_ZIP_BYTES


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


def _not_unpacked(name: str) -> NotUnpacked:
    return NotUnpacked(f"{name} is not unpacked yet; loading the dataset unpacks it.")


def _local_source(path: Path, progress: Progress | None, unpack: bool = True) -> DataSource:
    try:
        exists, is_file, is_dir = path.exists(), path.is_file(), path.is_dir()
    except OSError:  # a name too long for the filesystem, a permission problem on the way
        exists = is_file = is_dir = False
    if not exists:
        raise DatasetUnavailable(
            f"The dataset path {path} does not exist; point {config.ENV_DATA_DIR} "
            f"(or --data) at {config.EXPECTED_LAYOUT}."
        )
    if is_file:
        if not zipfile.is_zipfile(path):
            raise InvalidDataset(f"{path.name} is neither a folder nor a .zip archive; expected {config.EXPECTED_LAYOUT}.")
        if not unpack and not extracted_dir(path).exists():
            raise _not_unpacked(path.name)
        root = dataset_root(extract_zip(path, progress))
        return DataSource("zip", str(path), root, f"local zip {path.name}")
    if not is_dir:  # a device, a pipe, a socket: nothing to read a dataset from (and never opened)
        raise InvalidDataset(f"{path.name} is neither a folder nor a .zip archive (it is a device, a pipe or "
                             f"another special file); expected {config.EXPECTED_LAYOUT}.")
    return DataSource("folder", str(path), dataset_root(path), f"local folder {path.name}")


def _downloaded_source(progress: Progress | None, allow_download: bool, unpack: bool = True) -> DataSource:
    datasets = config.keras_home() / "datasets"
    archive = datasets / config.DATA_FNAME
    extracted = datasets / (config.DATA_FNAME.split(".")[0] + "_extracted")
    marker = extracted / ".catdog-complete"
    if not marker.exists():
        if not archive.exists():
            if not allow_download:
                raise DatasetUnavailable(offline_message("it has not been downloaded yet"))
            _download(config.DATA_URL, archive, progress)
        if not unpack:
            raise _not_unpacked(config.DATA_FNAME)
        with exclusive(lock_path("unpack-download")):  # two loaders at once unpack it once
            if not marker.exists():
                _extract_with_keras(progress)
                marker.write_text("ok\n")
    return DataSource("download", config.DATA_URL, dataset_root(extracted), config.DATA_DESCRIPTION)


def offline_message(why: str) -> str:
    return (
        f"The cats-and-dogs dataset is not available ({why}). Download "
        f"{config.DATA_URL} on a machine with internet and set {config.ENV_DATA_DIR} to the "
        f"zip or its unpacked folder: {config.EXPECTED_LAYOUT}. Offline, the transfer recipe also needs "
        f"{config.ENV_BASE_WEIGHTS} set to a MobileNetV2 no-top .h5 weights file. Restart the app afterwards."
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
                    progress(done, total, DOWNLOADING)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, fetch)
        _downloaded_marker(target).write_text("downloaded by catdog\n")
    except OSError as exc:
        raise DatasetUnavailable(offline_message(f"the download failed: {exc}")) from None


def _downloaded_marker(archive: Path) -> Path:
    return archive.with_name(archive.name + ".catdog-downloaded")


def downloaded_here() -> bool:
    """Whether the post's archive in Keras' cache was downloaded by this app; False for a copy put
    there by hand (or by Keras for another program), which the Home page must not call a download."""
    return _downloaded_marker(config.keras_home() / "datasets" / config.DATA_FNAME).is_file()


def _extract_with_keras(progress: Progress | None) -> None:
    import keras  # heavy; only needed here

    if progress:
        progress(0, 0, "Unpacking the dataset")
    try:
        keras.utils.get_file(config.DATA_FNAME, origin=config.DATA_URL, extract=True,
                             cache_dir=str(config.keras_home()))
    except Exception as exc:  # a damaged archive or a failed re-download
        raise DatasetUnavailable(offline_message(f"unpacking failed: {exc}")) from None


# ---------------------------------------------------------------- locks and leftovers


def lock_path(name: str) -> Path:
    """A lock file in CATDOG_HOME/locks (kept apart so no listing of data ever shows one)."""
    return config.catdog_home() / "locks" / f"{name}.lock"


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a file, across threads and processes (fcntl.flock).

    The lock goes away with the process that holds it, so a killed unpacker
    never blocks the next one.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


TEMP_PREFIXES = (".unzip-", ".incomplete-", ".tmp-", ".deleting-")


def _owner_gone(name: str) -> bool:
    """True when a temporary name carries its process's tag (fileio.owner_tag) and that process is
    no longer alive on this machine."""
    found = re.findall(r"-p(\d+)-", name)
    if not found:
        return False
    try:
        os.kill(int(found[-1]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, OverflowError):
        return False  # alive but another user's, or not a pid at all
    return False


def clean_leftovers(older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove temporary files and folders that a killed process left in CATDOG_HOME.

    A temporary name says which process writes it; one whose process is gone goes at once.
    Otherwise only what is older than `older_than` seconds goes (an untagged name from an older
    version, or a pid now reused): a write in progress in another process is younger. Returns
    what was removed.
    """
    home = config.catdog_home()
    removed = []
    now = time.time()
    cache = config.cache_home()
    for folder in (home, home / "datasets", home / "uploads", home / "runs", home / "bases", cache,
                   cache / "decoded", cache / "features"):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIXES):
                continue
            try:
                if not _owner_gone(entry.name) and now - entry.lstat().st_mtime < older_than:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


# ---------------------------------------------------------------- zips


def extracted_dir(path: Path) -> Path:
    """Where a local zip is unpacked: a new folder whenever the zip file changes."""
    stat = path.stat()
    tag = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return config.catdog_home() / "datasets" / f"{path.stem[:60]}-{tag}"


def check_member_name(name: str, shown: str) -> list[str]:
    """A zip member's path parts, refusing anything that could land outside the archive's folder."""
    if "\x00" in name:
        raise InvalidDataset(f"{shown} has a member whose name holds a NUL character; it was not imported.")
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise InvalidDataset(f"{shown} contains a path outside the archive ({name[:80]}); it was not imported.")
    parts = [p for p in parts if p not in ("", ".")]
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES or any(
            len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise InvalidDataset(f"{shown} has a member with a name longer than files may have "
                             f"({name[:60]}…); shorten the folder or file names and zip it again.")
    return parts


def check_members(archive: zipfile.ZipFile, shown: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Every member checked before anything is written: count, sizes, names, encryption, compression."""
    members = archive.infolist()
    if len(members) > limits.members:
        raise InvalidDataset(f"{shown} holds {len(members):,} files, over the limit of {limits.members:,}.")
    total = 0
    for member in members:
        check_member_name(member.filename, shown)
        if member.flag_bits & 0x1:
            raise InvalidDataset(f"{shown} is password-protected (encrypted); zip the folders without a password.")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                        zipfile.ZIP_LZMA):
            raise InvalidDataset(f"{shown} uses a compression method this app cannot unpack "
                                 f"(method {member.compress_type}); zip it again with ordinary (deflate) compression.")
        if member.file_size > limits.member_bytes:
            raise InvalidDataset(f"{shown} has a file of {member.file_size / 2**20:,.0f} MB "
                                 f"({member.filename[-60:]}), over the {limits.member_bytes / 2**20:,.0f} MB limit per file.")
        total += member.file_size
    if total > limits.total_bytes:
        raise InvalidDataset(f"{shown} unpacks to {total / 2**20:,.0f} MB, over the "
                             f"{limits.total_bytes / 2**20:,.0f} MB limit.")
    return members


def unpack(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], dest: Path, shown: str,
           progress: Progress | None = None) -> None:
    """Write checked members under dest, never more bytes than each declares."""
    for i, member in enumerate(members):
        parts = check_member_name(member.filename, shown)
        if not parts:
            continue
        target = dest.joinpath(*parts)
        if member.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as src, open(target, "xb") as out:
            left = member.file_size
            while chunk := src.read(min(1 << 20, left + 1)):
                left -= len(chunk)
                if left < 0:  # zipfile checks too; this keeps a lying header from filling the disk
                    raise InvalidDataset(f"{shown} is damaged: {member.filename[-60:]} is longer than it says.")
                out.write(chunk)
        if progress and i % 200 == 0:
            progress(i, len(members), "Unpacking the dataset")


def zip_problem(exc: BaseException, shown: str) -> CatdogError:
    """Any failure while reading or unpacking a zip, as one sentence."""
    if isinstance(exc, CatdogError):
        return exc
    if isinstance(exc, (zipfile.BadZipFile, EOFError, ValueError, zipfile.LargeZipFile)):
        return InvalidDataset(f"{shown} is a damaged zip archive; zip the folders again.")
    if isinstance(exc, NotImplementedError):
        return InvalidDataset(f"{shown} uses a zip feature this app cannot unpack; zip it again with ordinary settings.")
    if isinstance(exc, RuntimeError):  # zipfile's "password required" and friends
        return InvalidDataset(f"{shown} could not be unpacked ({str(exc)[:80]}).")
    if isinstance(exc, OSError):
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return CatdogError(f"The disk is full while unpacking {shown}; nothing was kept. Free some space "
                               f"or set {config.ENV_HOME} to a bigger disk.")
        if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            return InvalidDataset(f"{shown} has a file and a folder with the same name; rename one and zip it again.")
        if exc.errno == errno.ENAMETOOLONG:
            return InvalidDataset(f"{shown} has a name longer than files may have; shorten it and zip again.")
        return CatdogError(f"Could not unpack {shown} ({exc.strerror or type(exc).__name__}); nothing was kept.")
    return CatdogError(f"Could not unpack {shown} ({type(exc).__name__}); nothing was kept.")


def extract_zip(path: Path, progress: Progress | None = None, limits: ZipLimits | None = None) -> Path:
    """Unpack a local zip once into CATDOG_HOME; refuses paths outside it and zip bombs.

    Threads and processes asking at once share one unpacking (a lock file,
    then an atomic rename); a refused or failed zip leaves nothing behind.
    """
    dest = extracted_dir(path)
    if dest.exists():
        return dest
    limits = limits or ZipLimits()
    shown = path.name[:80]
    with exclusive(lock_path(f"unpack-{dest.name[:200]}")):
        if dest.exists():  # another thread or process unpacked it while this one waited
            return dest
        tmp = None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".unzip-{owner_tag()}"))
            with zipfile.ZipFile(path) as archive:
                members = check_members(archive, shown, limits)
                unpack(archive, members, tmp, shown, progress)
            os.replace(tmp, dest)
        except BaseException as exc:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, Exception):
                raise zip_problem(exc, shown) from None
            raise
    return dest


def visible_dirs(path: Path) -> list[Path]:
    """The folders inside `path` a dataset may use: no links, hidden folders or macOS leftovers."""
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()
                  and not p.name.startswith((".", "__MACOSX")))


def dataset_root(path: Path) -> Path:
    """Descend through single wrapper folders (a zip's top folder) to the layout."""
    try:
        return _descend(path)
    except OSError as exc:  # unreadable folder, a link loop, a folder that vanished meanwhile
        raise InvalidDataset(f"The dataset folder {path.name} could not be read ({exc.strerror or exc}); "
                             f"expected {config.EXPECTED_LAYOUT}.") from None


def _descend(path: Path) -> Path:
    for _ in range(4):
        if (path / "train").is_dir():
            return path
        subdirs = visible_dirs(path)
        has_files = any(p.is_file() for p in path.iterdir() if not p.name.startswith("."))
        if len(subdirs) == 1 and not has_files:
            path = subdirs[0]
            continue
        if subdirs:
            return path  # class folders directly: split automatically
        break
    raise InvalidDataset(f"{path} holds no class folders; expected {config.EXPECTED_LAYOUT}.")

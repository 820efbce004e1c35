"""Locks that hold across threads and processes (a lock file in CATDOG_HOME/locks), and the
removal of the temporary files and folders a killed process left behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from pathlib import Path
from typing import Iterator

from .. import config

STALE_SECONDS = 3600  # temporary files older than this belong to a process that died
TEMP_PREFIXES = (".unzip-", ".incomplete-", ".tmp-", ".deleting-")


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


def _temp_folders() -> tuple[Path, ...]:
    """The folders of CATDOG_HOME and the cache where temporary names are written."""
    home, cache = config.catdog_home(), config.cache_home()
    return (home, home / "datasets", home / "uploads", home / "runs", home / "bases", cache,
            cache / "decoded", cache / "features")


def _remove_if_left(entry: Path, now: float, older_than: float) -> bool:
    """Remove a temporary file or folder whose process is gone or that is older than `older_than`."""
    try:
        if not _owner_gone(entry.name) and now - entry.lstat().st_mtime < older_than:
            return False
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()
        return True
    except OSError:
        return False


def clean_leftovers(older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove temporary files and folders that a killed process left in CATDOG_HOME.

    A temporary name says which process writes it; one whose process is gone goes at once.
    Otherwise only what is older than `older_than` seconds goes (an untagged name from an older
    version, or a pid now reused): a write in progress in another process is younger. Returns
    what was removed.
    """
    removed = []
    now = time.time()
    for folder in _temp_folders():
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        removed += [entry for entry in entries
                    if entry.name.startswith(TEMP_PREFIXES) and _remove_if_left(entry, now, older_than)]
    return removed

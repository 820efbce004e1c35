"""Worker slots: how many this machine runs, on which backend, and the lock file by which a slot's
worker says it is alive (the lock dies with its process, so no stale record can outlive a crash)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .. import config
from ..errors import CatdogError


def worker_count() -> int:
    return config.workers_setting()


def backend() -> str:
    chosen = config.backend_setting()
    if chosen not in ("local", "ray"):
        raise CatdogError(f"CATDOG_BACKEND is {chosen!r}; it must be 'local' or 'ray'.")
    return chosen


def slots() -> list[str]:
    if backend() == "ray":
        return ["ray"]
    return [str(i) for i in range(worker_count())]


def lock_file(home: Path, slot: str) -> Path:
    return home / "locks" / f"worker-{slot}.lock"


def try_lock(path: Path) -> int | None:
    """An exclusive lock on path, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def slot_alive(home: Path, slot: str) -> bool:
    """True while a worker holds this slot's lock (the lock dies with its process)."""
    fd = try_lock(lock_file(home, slot))
    if fd is None:
        return True
    os.close(fd)
    return False

"""Writing files so that nobody ever reads half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def owner_tag() -> str:
    """The part of a temporary name that says which process owns it ("p1234-"): a leftover whose
    process is gone is swept at the next start (sources.clean_leftovers), not an hour later."""
    return f"p{os.getpid()}-"


def write_atomic(target: Path, content: bytes | Callable[[BinaryIO], None]) -> None:
    """Write `content` (bytes, or a function writing to a binary file) to `target` atomically.

    The data goes to a temporary file in the target's folder, is flushed to
    disk, then renamed over `target`: readers see the old file or the whole
    new one, and a failure (an exception, a full disk) leaves no temporary file.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{target.name[:60]}-{owner_tag()}")
    try:
        with os.fdopen(fd, "wb") as out:
            if callable(content):
                content(out)
            else:
                out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keep_newest(folder: Path, pattern: str, keep: int) -> None:
    """Remove the files of `folder` matching `pattern` beyond the `keep` most recently written or
    used (a reader touches what it uses); never raises for the disk: a cache that cannot prune
    only keeps a few files more."""
    try:
        files = sorted(Path(folder).glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass

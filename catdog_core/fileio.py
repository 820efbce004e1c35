"""Writing files so that nobody ever reads half of one, and the bounds of what a cache keeps
(keep_newest on disk, Recent in memory)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO, Callable


def owner_tag() -> str:
    """The part of a temporary name that says which process owns it ("p1234-"): a leftover whose
    process is gone is swept at the next start (sources.clean_leftovers), not an hour later."""
    return f"p{os.getpid()}-"


def trim_heap() -> None:
    """Give freed heap pages back to the system (glibc's malloc_trim; nothing elsewhere). After a burst
    of large buffers, such as a student's phone photos, glibc keeps what was freed in the process's
    arenas: 30 photos given to Your classes left the web server 190 MB larger."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class QuietTrim:
    """Gives a busy process's freed heap back once it has been quiet `quiet` seconds: `busy()` at each
    unit of work (a page run), and a daemon thread calls `trim` (trim_heap) once per quiet spell, and
    again every `again` seconds while it lasts (what goes without any work of its own, such as the
    sessions Streamlit drops 120 s after their tabs closed). The web server had no such moment: 30 s
    after a 3-minute class, gc plus malloc_trim gave back 34 MB of its 109 MB growth."""

    def __init__(self, quiet: float, trim: Callable[[], None] = trim_heap, again: float = 60.0):
        self.quiet, self.trim, self.again = quiet, trim, again
        self._last = self._trimmed = 0.0
        self._pending = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def busy(self) -> None:
        with self._lock:
            self._last, self._pending = time.monotonic(), True
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, daemon=True, name="catdog-trim")
                self._thread.start()

    def due(self, now: float) -> bool:
        """Whether to trim now: quiet for `quiet` seconds, with work since the last trim or `again`
        seconds after it (then the trim is counted as done)."""
        with self._lock:
            if now - self._last < self.quiet or not (self._pending or now - self._trimmed >= self.again):
                return False
            self._pending, self._trimmed = False, now
            return True

    def _watch(self) -> None:
        while True:
            time.sleep(self.quiet / 2)
            if self.due(time.monotonic()):
                self.trim()


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


class Recent:
    """At most `size` values by name, the least recently used dropped first; safe across threads.
    The memory side of a cache kept by content, whose files keep_newest bounds."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str):
        with self._lock:
            value = self._items.get(name)
            if value is not None:
                self._items.move_to_end(name)
            return value

    def put(self, name: str, value):
        with self._lock:
            self._items[name] = value
            self._items.move_to_end(name)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class PerModel:
    """One value per live model, made once: held weakly by the model, so it goes when the model does
    (a value must not hold its model, or the model would never go). Safe across threads."""

    def __init__(self):
        self._values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __contains__(self, model) -> bool:
        with self._lock:
            return model in self._values

    def get(self, model, make: Callable):
        """The model's value, made by make(model) the first time (outside the lock: it may trace)."""
        with self._lock:
            value = self._values.get(model)
        if value is None:
            value = make(model)
            with self._lock:
                value = self._values.setdefault(model, value)
        return value


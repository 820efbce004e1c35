"""A worker's warm-up: what it prepares before the first job asks (TensorFlow started, the default
dataset decoded, a quick transfer job's features cached), and the status file through which the
app's sidebar follows it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .. import config
from ..fileio import Recent, write_atomic
from ..progress import Observer, Throttle


def warming_wanted() -> bool:
    """CATDOG_WARM=0 turns the app's warm-up off (the tests do, except the one about it)."""
    return config.warm_setting()


def warm_file(home: Path, slot: str = "0") -> Path:
    return home / "status" / ("warm.json" if slot == "0" else f"warm-{slot}.json")


_warm_read = Recent(64)  # a warm file's path -> ((size, mtime, inode), what it said): every page run asks


def _read_warm(home: Path, slot: str) -> dict:
    path = warm_file(home, slot)
    try:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        kept = _warm_read.get(str(path))
        if kept is not None and kept[0] == stamp:
            return dict(kept[1])
        status = json.loads(path.read_text(encoding="utf-8"))
        status = status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        return {}
    _warm_read.put(str(path), (stamp, status))
    return dict(status)


def warm_status(home: Path | None = None, slot: str = "0") -> dict | None:
    """What a worker's warm-up is doing, {"state", "phase", "done", "total", "pid"}, while it runs
    (None when none runs: never started, finished, failed, or its worker is gone). The sidebar
    shows the first worker's, which is the one that decodes the data."""
    home = Path(home) if home is not None else config.catdog_home()
    status = _read_warm(home, slot)
    try:
        os.kill(int(status["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return status if status.get("state") == "running" else None


def warm_state(home: Path, slot: str = "0") -> str:
    """How a worker's warm-up stands: "running", "done", "skipped", or "" (none on record)."""
    if warm_status(home, slot) is not None:
        return "running"
    state = _read_warm(home, slot).get("state")
    return state if state in ("done", "skipped") else ""


def start_tensorflow() -> None:
    """Import Keras and TensorFlow (~5 s here), which a cold worker's first job would pay. Never
    raises: where they are missing or broken, the first job says so in one sentence."""
    import importlib

    try:
        importlib.import_module("keras")
    except Exception as exc:
        print(f"could not start TensorFlow ({type(exc).__name__}: {str(exc)[:200]})", file=sys.stderr, flush=True)


class _WarmFile(Observer):
    """The warm-up's status file, and the observer its dataset and feature cache report to."""

    def __init__(self, path: Path):
        self.path = path
        self.throttle = Throttle()

    def write(self, state: str, phase: str = "", count: tuple[int, int] = (0, 0)) -> None:
        """The status now: its state, its phase, and that phase's (done, total)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps({"state": state, "phase": phase, "done": count[0], "total": count[1],
                                                "pid": os.getpid()}).encode())
        except OSError:
            pass  # the sidebar only misses a line; the warm-up goes on

    def progress(self, done, total, message=""):
        if self.throttle.due(count=(done, total)):
            self.write("running", message, (done, total))


def _prepare_quick_job(status: _WarmFile) -> None:
    """What a quick transfer job does before it trains: decode the default data, cache its
    features, store the frozen base."""
    from .. import dataset as datasets
    from ..training import warm_cache

    status.write("running", "Checking the files")
    data = datasets.load_dataset(None, allow_download=False, progress=status.progress)
    warm_cache(data, status)
    from ..models import shared_base
    from ..runs.save import store_base

    store_base(shared_base())  # the first run this worker saves only links the base's weights


def warm_up(home: Path, slot: str = "0") -> str:
    """Decode the default dataset and cache what a quick transfer job needs (see
    training.warm_cache), writing the progress where the app's sidebar shows it. Never
    downloads and never raises: returns how it ended, for the worker's log.

    Only the first worker (slot 0) decodes. Each other worker starts TensorFlow at once
    (start_tensorflow) and, once the first one's warm-up is done and no job is waiting, runs this
    on what it left on disk: it builds its own frozen base and compiles its own training step
    (~3 s), so its first job only trains. Nothing waits for that: a job that comes first is
    simply trained.
    """
    status = _WarmFile(warm_file(home, slot))
    try:
        _prepare_quick_job(status)
    except Exception as exc:  # not on disk yet, no weights, a bad folder: the first job says why
        status.write("skipped", f"{type(exc).__name__}: {str(exc)[:200]}")
        return f"warm-up skipped ({type(exc).__name__}: {str(exc)[:200]})"
    status.write("done", "Ready")
    return "warm-up done"

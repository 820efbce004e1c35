"""The web server's side of the model service: one method per request, each bounded.

Two lanes, each one process started on first use (`python -m catdog_core.service`,
spoken to over a multiprocessing.connection socket with a random key): the *quick*
lane answers what a student waits for with the mouse in hand (classify, Grad-CAM, previews, thumbnails, summaries, activations) and stays up;
the *batch* lane does the long work (checking and decoding a dataset, importing a
zip, evaluating a split, the embedding map, TFLite export) and exits when idle, so a
ten-second evaluation never queues in front of a classify. Each lane answers one
request at a time; callers wait their turn, up to the request's time limit.

Bounds: the bytes a request carries, the seconds it may take (the process is killed
past them), and requests in flight per caller (`owner`, a session). If a lane's
process dies (killed, out of memory, a native crash), the request in flight gets one
sentence (ServiceUnavailable) and the next request starts a fresh process.

Why a process of our own and not ProcessPoolExecutor: a request past its time must
be stopped, and a pool has no documented way to stop a running task's process; and a
spawned pool re-imports the parent's main script (Streamlit's, pytest's, a user's),
while `python -m` starts from catdog_core alone.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import CatdogError
from ..fileio import Recent
from .lane import FairLock, Lane, ServiceBusy, ServiceUnavailable

__all__ = ["FairLock", "ModelService", "ServiceBusy", "ServiceUnavailable", "get_service", "shutdown_service"]

MAX_REQUEST_BYTES = 256 * 1024**2  # photos, zips and frames a request may carry
MAX_PER_OWNER = 2  # requests one session may have in flight (queued or running) at once
QUICK_SECONDS = 120.0  # a classify on a cold, busy machine: model load, tracing, a queue of others
BATCH_SECONDS = 1800.0  # decoding a large upload or a download on a slow line
BATCH_IDLE = 300.0  # the batch lane's process exits after this long without work
OPENED_KEPT = 64  # models whose open_model answer this process remembers


# Asked once more when the service died under them: requests that carry no user's bytes, so a
# hostile photo that kills the service is never sent twice.
RETRIED = frozenset({"open_model", "recipe_summary", "prepare_dataset", "evaluate", "embedding_map", "suspects",
                     "ping"})


def _payload_bytes(value, depth: int = 0) -> int:
    """The bytes a request carries in photos, arrays and strings (what it costs to send)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, str):
        return len(value)
    if depth < 3 and isinstance(value, (list, tuple)):
        return sum(_payload_bytes(v, depth + 1) for v in value)
    if depth < 3 and isinstance(value, dict):
        return sum(_payload_bytes(v, depth + 1) for v in value.values())
    return 64


def _model_key(run_id: str) -> str | None:
    """A run's model file by its id, size and time (a rewritten model is another key); None if unreadable."""
    from .. import runs

    try:
        run = runs.find_run(run_id)
        stat = run.model_path.stat()
    except (CatdogError, OSError):
        return None
    return f"{run.model_path}:{stat.st_size}:{stat.st_mtime_ns}"


class ModelService:
    """What the pages ask of TensorFlow. Every method raises CatdogError with a sentence."""

    def __init__(self):
        self.quick = Lane("quick", None, QUICK_SECONDS)
        self.batch = Lane("batch", BATCH_IDLE, BATCH_SECONDS)
        self._owners: Counter = Counter()
        self._owners_lock = threading.Lock()
        self._opened = Recent(OPENED_KEPT)  # model file's key -> tasks.ModelInfo
        self._opening: dict[str, threading.Lock] = {}  # model file's key -> held while it is asked
        self._opening_lock = threading.Lock()

    def _call(self, lane: Lane, name: str, *args, owner: str | None = None, progress=None,
              seconds: float | None = None, **kwargs):
        size = _payload_bytes(args) + _payload_bytes(kwargs)
        if size > MAX_REQUEST_BYTES:
            raise CatdogError(f"That is {size / 1024**2:.0f} MB to process at once; the limit is "
                              f"{MAX_REQUEST_BYTES // 1024**2} MB, so send fewer or smaller files.")
        with self._owners_lock:
            if owner is not None and self._owners[owner] >= MAX_PER_OWNER:
                raise ServiceBusy("Your earlier requests are still being answered; wait for them, then try again.")
            self._owners[owner] += 1
        try:
            try:
                return lane.request(name, args, kwargs, seconds, progress)
            except ServiceUnavailable:
                if name not in RETRIED:
                    raise
                # The process died under a request that carries nothing of a user's (another request's
                # photo, a kill, the memory of the machine): asked once more of a fresh process.
                return lane.request(name, args, kwargs, seconds, progress)
        finally:
            with self._owners_lock:
                self._owners[owner] -= 1
                if self._owners[owner] <= 0:
                    del self._owners[owner]

    # ------------------------------------------------------------ pictures and previews

    def picture(self, data: bytes, owner: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(display copy, 160x160 model input) of untrusted bytes, through the one pixel path."""
        return self._call(self.quick, "picture", bytes(data), owner=owner)

    def pictures(self, items: list[bytes], owner: str | None = None) -> list:
        """160x160 copies of several photos; a refused one comes back as its sentence."""
        return self._call(self.quick, "pictures", [bytes(d) for d in items], owner=owner)

    def preview(self, image: np.ndarray, settings: dict, n: int = 9, owner: str | None = None) -> np.ndarray:
        return self._call(self.quick, "preview", np.asarray(image, np.uint8), dict(settings), int(n), owner=owner)

    def recipe_summary(self, name: str, num_classes: int, settings: dict | None, owner: str | None = None) -> str:
        return self._call(self.quick, "recipe_summary", name, int(num_classes), settings, owner=owner)

    # ------------------------------------------------------------ datasets

    def load_dataset(self, data: str | None = None, *, allow_download: bool = False, progress=None,
                     owner: str | None = None):
        """The dataset, decoded by the service into the disk cache and opened here from it."""
        from .. import dataset

        prepared = self._call(self.batch, "prepare_dataset", data, allow_download, owner=owner, progress=progress)
        return dataset.open_prepared(prepared.source, prepared.key, prepared.auto_split, prepared.signature)

    def import_zip(self, data: bytes, name: str, progress=None, owner: str | None = None,
                   from_photos: bool = False) -> Path:
        """An upload kept for `owner` (the session asking: only it and the teacher will see it)."""
        return self._call(self.batch, "import_zip", bytes(data), str(name), bool(from_photos), str(owner or ""),
                          owner=owner, progress=progress)

    # ------------------------------------------------------------ models

    def open_model(self, run_id: str, owner: str | None = None):
        """Load and warm a run's model; returns tasks.ModelInfo (classes, whether Grad-CAM works).

        Asked of the service once per model file (it loads and traces the model then); later asks
        are answered from this process's memory. Under a class every Classify run asked, one at a
        time behind the whole class's photos on the quick lane (bench_class: most of its p95)."""
        key = _model_key(run_id)
        if key is None:
            return self._call(self.quick, "open_model", run_id, owner=owner)
        info = self._opened.get(key)
        if info is None:
            with self._opening_lock:
                opening = self._opening.setdefault(key, threading.Lock())
            with opening:  # a class opening a new run together asks once; the others wait for its answer
                info = self._opened.get(key)
                if info is None:
                    try:
                        info = self._call(self.quick, "open_model", run_id, owner=owner)
                        self._opened.put(key, info)
                    finally:
                        with self._opening_lock:
                            self._opening.pop(key, None)
        return info

    def classify(self, run_id: str, data: bytes, heatmap: bool = False, owner: str | None = None):
        """One photo's tasks.Answer: its picture, the prediction, and the Grad-CAM overlay if asked."""
        return self._call(self.quick, "classify", run_id, bytes(data), bool(heatmap), owner=owner)

    def explain_photo(self, run_id: str, data: bytes, view: str = "occlusion", owner: str | None = None):
        """One photo's tasks.Explanation: where the model looked for its predicted class, one of
        explain.VIEWS (occlusion: ~65 forward passes, a second or two; kept for the same photo)."""
        return self._call(self.quick, "explain_photo", run_id, bytes(data), str(view), owner=owner)

    def classify_frame(self, run_id: str, frame: np.ndarray):
        return self._call(self.quick, "classify_frame", run_id, np.asarray(frame, np.uint8), seconds=10.0)

    def check_labelled(self, run_id: str, items: list[tuple[str, bytes]], heatmap: bool, owner: str | None = None):
        return self._call(self.quick, "check_labelled", run_id, [(str(n), bytes(d)) for n, d in items],
                          bool(heatmap), owner=owner)

    def activations(self, run_id: str, image: np.ndarray, settings: dict | None, owner: str | None = None):
        return self._call(self.quick, "activations", run_id, np.asarray(image, np.uint8), settings, owner=owner)

    def evaluate(self, run_id: str, data: str | None, split: str = "test", progress=None, owner: str | None = None):
        return self._call(self.batch, "evaluate", run_id, data, split, owner=owner, progress=progress)

    def embedding_map(self, run_id: str, data: str | None, method: str = "pca", owner: str | None = None):
        return self._call(self.batch, "embedding_map", run_id, data, method, owner=owner)

    def suspects(self, data: str | None, progress=None, owner: str | None = None):
        """suspects.SuspectReport of the dataset's training split: the photos whose label an
        out-of-fold model most confidently contradicts (seconds once its features are cached)."""
        return self._call(self.batch, "suspects", data, owner=owner, progress=progress)

    def tflite_zip(self, run_id: str, owner: str | None = None) -> bytes:
        return self._call(self.batch, "tflite_zip", run_id, owner=owner)

    def keras_file(self, run_id: str, owner: str | None = None) -> bytes:
        """The run as one whole .keras file's bytes (a frozen-base run is rebuilt and written)."""
        return self._call(self.batch, "keras_file", run_id, owner=owner)

    # ------------------------------------------------------------ housekeeping

    def pids(self) -> dict[str, int | None]:
        """The lanes' process ids (None: not running)."""
        return {"quick": self.quick.pid, "batch": self.batch.pid}

    def ping(self, lane: str = "quick") -> int:
        return self._call(getattr(self, lane), "ping")

    def close(self) -> None:
        self.quick.close()
        self.batch.close()


_service: ModelService | None = None
_service_lock = threading.Lock()


def get_service() -> ModelService:
    """The process's one ModelService (its lanes start on first use)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = ModelService()
        return _service


def shutdown_service() -> None:
    """Close this process's service lanes (the class server does when it stops)."""
    global _service
    with _service_lock:
        if _service is not None:
            _service.close()
            _service = None

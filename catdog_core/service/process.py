"""The service process's loop: receive a request, run the task, send the answer.

    python -m catdog_core.service SOCKET IDLE_SECONDS   # started by `client`

A fresh Python that imports TensorFlow itself and shares nothing with the web server
but one multiprocessing.connection socket (the key comes in CATDOG_SERVICE_KEY). It
ends when the connection closes (the server went away) or after IDLE_SECONDS without
a request (0: never), and takes its socket's private folder with it: a server that was
stopped or killed leaves no catdog-service-* folder behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import traceback

from ..fileio import trim_heap

PROGRESS_EVERY = 0.1  # seconds between progress messages (the last one always goes)
ENV_PREFIXES = ("CATDOG_", "KERAS_HOME")
FOLDER_PREFIX = "catdog-service-"  # the socket's private folder (the client makes it with mkdtemp)
QUIET_S = 2.0  # seconds without a request after which the lane gives its freed heap back
RELEASE_S = 20.0  # seconds without a request after which the lane lets go of what it can remake quickly


def _apply_environment(env: dict[str, str]) -> None:
    """Answer in the caller's settings (its CATDOG_HOME, data, weights): they travel with each request."""
    for name in [n for n in os.environ if n.startswith(ENV_PREFIXES)]:
        if name not in env:
            del os.environ[name]
    os.environ.update(env)


class _Progress:
    """progress(done, total, message) for a task, sent back over the pipe at most every PROGRESS_EVERY."""

    def __init__(self, send):
        self.send, self.last = send, 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY or (total and done >= total):
            self.last = now
            self.send(("progress", int(done), int(total), str(message)))


def serve(conn, idle: float | None) -> None:
    """Answer requests one at a time until the server goes away or `idle` seconds pass without one."""
    lock = threading.Lock()

    def send(message) -> None:
        with lock:
            conn.send(message)

    while True:
        try:
            if not _next_request_within(conn, idle):
                return  # idle: the next request starts a fresh process
            name, args, kwargs, env, wants_progress = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        _apply_environment(env)
        send(_answer(name, args, dict(kwargs, progress=_Progress(send)) if wants_progress else kwargs))


def _answer(name: str, args, kwargs) -> tuple:
    """("ok", result), ("error", a CatdogError) or ("failed", one line) for one request."""
    from . import tasks
    from ..errors import CatdogError

    task = tasks.REQUESTS.get(name)
    try:
        if task is None:
            raise CatdogError(f"The model service has no request called {name!r}.")
        return ("ok", task(*args, **kwargs))
    except CatdogError as exc:
        return ("error", exc)
    except Exception as exc:  # a bug or a library failure: one line to the page, the traceback to the log
        traceback.print_exc(file=sys.stderr)
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return ("failed", f"{type(exc).__name__}{': ' + first if first else ''}")


def _next_request_within(conn, idle: float | None) -> bool:
    """Whether a request arrives within `idle` seconds (None: ever). Once the lane has been quiet a
    moment its freed heap goes back to the system: glibc keeps the buffers of decoded photos, feature
    batches and maps in its arenas, which held a class's model service 235 MB larger after the class.
    Quiet for RELEASE_S, it also lets go of what it can remake in well under a second (release_memory):
    after a class, datasets' memory maps, interpreters' and eager kernels' memory held ~200 MB of the lanes."""
    if conn.poll(QUIET_S):
        return True
    trim_heap()
    if idle is not None and idle <= RELEASE_S:
        return conn.poll(max(0.0, idle - QUIET_S))
    if conn.poll(RELEASE_S - QUIET_S):
        return True
    release_memory()
    return conn.poll(None if idle is None else max(0.0, idle - RELEASE_S))


def release_memory() -> None:
    """What a quiet lane need not hold: the datasets it mapped (opened again from the disk cache
    without reading an image), the TFLite interpreters' working memory (set up again in ~0.2 s),
    TensorFlow's cache of eager kernels (Keras' clear_session: each augmentation preview builds new
    layers and left ~0.13 MB there, 300 previews 52 MB; the next request takes ~0.2 s more), freed
    heap pages. Its models, traced graphs and answers stay."""
    import gc

    from .. import dataset, features

    dataset.release()
    features.release_runners()
    if "keras" in sys.modules:  # a lane that never ran a model has no kernels to let go of
        sys.modules["keras"].backend.clear_session(free_memory=False)
    gc.collect()
    trim_heap()


def main(argv: list[str]) -> int:
    from multiprocessing.connection import Listener

    address, idle = argv[0], float(argv[1])
    key = bytes.fromhex(os.environ.pop("CATDOG_SERVICE_KEY"))
    try:
        with Listener(address, family="AF_UNIX", authkey=key) as listener:
            conn = listener.accept()  # the server that started this process: it alone has the key
        return _serve_connection(conn, idle)
    finally:
        folder = os.path.dirname(address)
        if os.path.basename(folder).startswith(FOLDER_PREFIX):  # the private folder the client made, only
            shutil.rmtree(folder, ignore_errors=True)


def _serve_connection(conn, idle: float) -> int:
    try:
        from ..sources import clean_leftovers

        clean_leftovers()  # what a killed decoder or unpacker left, if its process is gone
    except Exception:
        pass  # a home that cannot be listed: the requests will say so themselves
    with conn:
        serve(conn, idle or None)
    return 0

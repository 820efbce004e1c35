"""One lane of the model service: its process, started on demand, and the fair lock that
gives it one request at a time, first come first served.

A lane starts `python -m catdog_core.service` with a random key, speaks to it over a
multiprocessing.connection socket in a private folder, relays its progress reports,
and stops it past a request's time limit or when it is found dead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from multiprocessing.connection import Client

from .. import config
from ..errors import CatdogError
from . import process

START_MARGIN = 5.0  # a lane this close to its idle exit is restarted rather than trusted
START_SECONDS = 60.0  # for a new service process to listen (Python's start, not TensorFlow's)


class ServiceUnavailable(CatdogError):
    """The service process stopped while answering; the next request starts a new one."""


class ServiceBusy(CatdogError):
    """Too many requests waiting: the caller should try again in a moment."""


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(process.ENV_PREFIXES)}


class FairLock:
    """A lock handed to its waiters in the order they came. threading.Lock lets a newcomer take it
    ahead of threads that waited seconds: under a class some classify waited 40 s on the quick lane
    while later requests went first (bench_class). acquire, release and locked as threading.Lock's."""

    def __init__(self):
        self._guard = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def acquire(self, timeout: float = -1) -> bool:
        with self._guard:
            if not self._held and not self._waiting:
                self._held = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(None if timeout < 0 else timeout):
            return True  # handed over by release(): held now
        with self._guard:
            if turn.is_set():
                return True  # handed over just as the wait ended
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiting:
                self._waiting.popleft().set()  # stays held: the next waiter's now
            else:
                self._held = False

    def locked(self) -> bool:
        return self._held

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Lane:
    """One service process and the lock that gives it one request at a time, first come first served."""

    def __init__(self, name: str, idle: float | None, seconds: float):
        self.name, self.idle, self.seconds = name, idle, seconds
        self.lock = FairLock()
        self.process: subprocess.Popen | None = None
        self.conn = None
        self.folder: str | None = None
        self.last_used = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def _start(self) -> None:
        self._stop()
        folder = tempfile.mkdtemp(prefix=process.FOLDER_PREFIX)
        address = os.path.join(folder, "socket")
        key = secrets.token_bytes(32)
        env = config.child_environment(CATDOG_SERVICE_KEY=key.hex())
        command = [sys.executable, "-m", "catdog_core.service", address, str(self.idle or 0)]
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.folder = folder
        self._connect(address, key)

    def _connect(self, address: str, key: bytes) -> None:
        """Wait for the new process to listen, up to START_SECONDS; a process that exits first is not waited for."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                self.conn = Client(address, family="AF_UNIX", authkey=key)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._stop()
                    raise ServiceUnavailable("The model service could not be started; see the server's log.")
                time.sleep(0.05)

    def _stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(10)
            self.process = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _usable(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        return self.idle is None or time.monotonic() - self.last_used < self.idle - START_MARGIN

    def request(self, name: str, args: tuple, kwargs: dict, seconds: float | None, progress) -> object:
        """The answer to one request, asked once this caller's turn comes; progress reports go to `progress`."""
        limit = seconds or self.seconds
        deadline = time.monotonic() + limit
        if not self.lock.acquire(timeout=limit):
            raise ServiceBusy("The model service is busy with other students' requests; try again in a moment.")
        handed_off = False
        try:
            if not self._usable():
                self._start()
            self.conn.send((name, args, kwargs, _environment(), progress is not None))
            while True:
                kind, *rest = self._next_message(deadline, limit)
                if kind != "progress":
                    self.last_used = time.monotonic()
                    return self._answer(kind, rest)
                try:
                    progress(*rest)
                except BaseException:
                    # The caller gave up (a page rerun stops its script here). The answer is still
                    # coming: read it in the background so the next request gets its own.
                    threading.Thread(target=self._drain, daemon=True).start()
                    handed_off = True
                    raise
        except (BrokenPipeError, ConnectionResetError):
            raise self._died() from None
        finally:
            if not handed_off:
                self.lock.release()

    def _next_message(self, deadline: float, limit: float) -> tuple:
        """The process's next message (a progress report or the answer); the process is stopped past the deadline."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._stop()
                raise CatdogError(f"The model service took more than {limit:.0f} s and was stopped; "
                                  "try again, or with a smaller request.")
            if self.conn.poll(min(left, 0.5)):
                break
            if self.process.poll() is not None:
                raise self._died()
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise self._died() from None

    @staticmethod
    def _answer(kind: str, rest: list) -> object:
        """The request's result, or the error the service sent back in its place."""
        if kind == "ok":
            return rest[0]
        if kind == "error":
            raise rest[0]
        raise CatdogError(f"The model service could not answer ({rest[0]}).")

    def _died(self) -> ServiceUnavailable:
        self._stop()
        return ServiceUnavailable("The model service stopped while answering (it was closed, ran out of "
                                  "memory or crashed); it starts again with your next request.")

    def _drain(self) -> None:
        try:
            while True:
                kind, *_ = self.conn.recv()
                if kind != "progress":
                    self.last_used = time.monotonic()
                    return
        except (EOFError, OSError, AttributeError):
            self._stop()
        finally:
            self.lock.release()

    def close(self) -> None:
        with self.lock:
            self._stop()

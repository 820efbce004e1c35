"""Starting, waking, stopping and listing this machine's local training workers: the processes
that train the queue's jobs one at a time, so no training ever runs inside the Streamlit server.

    python -m catdog_core.jobs --slot 0    # started for you when a job is submitted
    catdog worker --status / --stop        # a person's way to list or stop them

`ensure_workers()` starts CATDOG_WORKERS of them (default 1) when none is
alive; each holds a lock file for its slot while it lives (slots), which is how the
others (and the queue) know it is alive. A worker waits CATDOG_WORKER_IDLE
seconds (default 600) for new jobs before it exits, so the next job starts
warm (loop, warmup). SIGTERM and SIGINT stop the running job after its current batch; its
finished epochs are saved as a run. A job whose worker was killed outright is
saved from its last checkpoint by the next worker (claimed).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import config
from ..words import count
from .queue import RUNNING, Queue
# What callers know as the worker's (cli, tests, the jobs package), from the modules that own it:
from .claimed import checkpoint_dir, measure_saved, recover_dead, run_one, train_here
from .loop import NICENESS, idle_seconds, lower_priority, main, release_memory, share_cores
from .slots import backend, slot_alive, slots, worker_count
from .warmup import start_tensorflow, warm_state, warm_status, warm_up, warming_wanted

__all__ = ["NICENESS", "backend", "checkpoint_dir", "describe", "ensure_workers", "idle_seconds",
           "left_running_note", "lower_priority", "main", "measure_saved", "recover_dead", "release_memory",
           "run_one", "share_cores", "shutdown_workers", "slot_alive", "slots", "start_tensorflow", "train_here",
           "wake_workers", "warm_state", "warm_status", "warm_up", "warming_wanted", "worker_alive",
           "worker_count"]

_spawned: dict[tuple[str, str], subprocess.Popen] = {}  # (home, slot) -> the worker this process started


def ensure_workers(home: Path | None = None, warm: bool = False) -> int:
    """Start a worker for every slot that has none; returns how many were started.

    A worker this process started and that is still starting up (not yet holding its slot's
    lock) counts as alive, so a caller polling this in a loop starts one, not many. With `warm`
    (the app, when its server starts), the first worker prepares the default dataset for a quick
    transfer job before anyone asks, and every other worker gets ready to train one too (see
    warm_up): a class's first thirty quick jobs do not each wait for a worker to start TensorFlow.
    """
    home = Path(home) if home is not None else config.catdog_home()
    started = 0
    for slot in slots():
        previous = _spawned.get((str(home), slot))
        if previous is not None and previous.poll() is None:
            continue  # still starting, or running
        if not slot_alive(home, slot):
            _spawned[(str(home), slot)] = _spawn(home, slot, warm)
            started += 1
    return started


def wake_workers(home: Path | None = None) -> None:
    """Tell this home's idle local workers a job is waiting (SIGUSR1), so none sleeps through its
    poll interval. Only processes that hold a worker slot's lock are signalled."""
    home = Path(home) if home is not None else config.catdog_home()
    if backend() != "local":
        return
    queue = Queue(home)
    for row in queue.workers():
        if str(row["slot"]).isdigit() and slot_alive(home, str(row["slot"])) and row["host"] == _host():
            try:
                os.kill(int(row["pid"]), signal.SIGUSR1)
            except (OSError, ValueError):
                pass


def _host() -> str:
    import socket

    return socket.gethostname()


def _spawn(home: Path, slot: str, warm: bool = False) -> subprocess.Popen:
    env = config.child_environment(CATDOG_HOME=str(home))
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"worker-{slot}.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "catdog_core.jobs", "--slot", slot]
                                + (["--warm"] if warm else []), env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=str(home))


def shutdown_workers(home: Path | None = None, timeout: float = 30.0) -> None:
    """Ask this home's workers to stop their jobs and exit, and wait for them (tests, `catdog worker --stop`)."""
    home = Path(home) if home is not None else config.catdog_home()
    queue = Queue(home)
    if not queue.exists():
        return
    queue.ask_workers_to_stop()
    queue.stop_all()
    _terminate_spawned(home)
    deadline = time.time() + timeout
    _kill_the_late(queue, home, deadline)
    _wait_for_spawned(home, deadline)


def _terminate_spawned(home: Path) -> None:
    """A worker this process started may not have listed itself yet, so it would miss a shutdown
    request and wait out its idle time: SIGTERM stops it as a signal stops any worker."""
    for (spawned_home, slot), process in list(_spawned.items()):
        if spawned_home == str(home) and process.poll() is None:
            process.terminate()


def _kill_the_late(queue: Queue, home: Path, deadline: float) -> None:
    """Each listed worker that still holds its slot at the deadline is killed."""
    for worker in queue.workers():
        while time.time() < deadline and slot_alive(home, worker["slot"]):
            time.sleep(0.1)
        if slot_alive(home, worker["slot"]):
            try:
                os.kill(worker["pid"], signal.SIGKILL)
            except OSError:
                pass


def _wait_for_spawned(home: Path, deadline: float) -> None:
    """A worker lets go of its slot's lock a moment before its process ends (TensorFlow's teardown).
    Wait for the ones this process started, so ensure_workers does not take one that is ending
    for one still starting, and start none."""
    for (spawned_home, slot), process in list(_spawned.items()):
        if spawned_home == str(home):
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_alive(home: Path | None = None) -> bool:
    """True when a local worker of this home is alive: it has TensorFlow started (and, after a
    first job, the frozen base built), so a new job is best handed to it, in the queue's order."""
    home = Path(home) if home is not None else config.catdog_home()
    return backend() == "local" and any(slot_alive(home, slot) for slot in slots())


def describe(home: Path | None = None) -> list[str]:
    """Lines about the workers, for `catdog worker --status`."""
    queue = Queue(home)
    lines = []
    for worker in queue.workers():
        alive = slot_alive(queue.home, worker["slot"])
        lines.append(f"worker {worker['slot']}: pid {worker['pid']} on {worker['host']}, "
                     f"{'alive' if alive else 'gone'}, last seen {time.time() - worker['seen']:.0f} s ago")
    running = [j for j in queue.active() if j.state == RUNNING]
    lines.append(f"{len(running)} running, {len([j for j in queue.active() if j.state != RUNNING])} queued")
    return lines


def left_running_note(home: Path | None = None) -> str | None:
    """What the terminal of a stopping web server says when training workers of its home live on (they
    outlive the server by design: a job keeps training), with the command that stops them; None when
    none is alive."""
    home = Path(home) if home is not None else config.catdog_home()
    if not (home / "locks").is_dir() or not worker_alive(home):  # a home no worker ever used: left as it is
        return None
    active = Queue(home).active()
    busy = f" ({count(len(active), 'job')} in the queue)" if active else ""
    env = "" if not config.settings().home_given else f"{config.ENV_HOME}={shlex.quote(str(home))} "
    return (f"catdog: the training worker keeps running{busy}: jobs outlive the web server. "
            f"To stop it: {env}catdog worker --stop (or {env}python -m catdog_core worker --stop)")

"""The worker process itself: its CPU priority and share of the cores, its loop over the queue
(claim, train, look less often while idle, give memory back), and the heartbeat that notes it
alive while a job trains."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .. import config
from .claimed import recover_dead, run_one
from .queue import Queue
from .slots import lock_file, try_lock, worker_count
from .warmup import start_tensorflow, warm_state, warm_up

IDLE_SECONDS = 600.0
NICENESS = 10  # below the web server and the model service: pages stay quick while a class trains
POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 2.0


def idle_seconds() -> float:
    return config.worker_idle_setting(IDLE_SECONDS)


def release_memory() -> None:
    """What an idle worker needs no longer: the datasets it mapped, the fast base's working memory,
    freed heap pages. It keeps TensorFlow started, the shared frozen base and the cached features
    (a few MB), so the next job still starts at once."""
    from .. import dataset as datasets
    from .. import features
    from ..fileio import trim_heap

    datasets.release()
    features.release_runners()
    gc.unfreeze()  # what main froze after a job: objects since freed in cycles are collected now
    gc.collect()
    trim_heap()


def share_cores(workers: int) -> int:
    """With several workers, give this one's TensorFlow its share of the cores (its thread pools'
    sizes; the default is every core for every worker). Returns the threads set, or 0 for one
    worker, which keeps TensorFlow's default. Call it before TensorFlow runs anything.

    Two workers on two cores with pools of two threads each ran a class's quick jobs slower than
    with one thread each (a job's median 2.6 s against 2.1-2.3 s, bench_classroom on 2026-11-30):
    the pools' threads outnumbered the cores.
    """
    if workers <= 1:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return threads


def lower_priority(steps: int = NICENESS) -> int:
    """Run this process at a lower CPU priority (os.nice); returns the niceness it has now."""
    try:
        return os.nice(steps)
    except OSError:  # not allowed here (some containers): run at the usual priority
        return os.nice(0)


def main(slot: str = "0", idle: float | None = None, warm: bool = False) -> int:
    """The worker's loop; returns its exit code. `warm`: run warm_up before the first job."""
    wake = threading.Event()
    # Before this worker is listed anywhere: SIGUSR1's default action would end the process.
    signal.signal(signal.SIGUSR1, lambda signum, frame: wake.set())  # wake_workers: a job is waiting
    lower_priority()
    home = config.catdog_home()
    fd = try_lock(lock_file(home, slot))
    if fd is None:
        return 0  # another worker has this slot
    loop = _Loop(Queue(home), home, slot, wake)
    loop.queue.register_worker(slot)
    from ..sources import clean_leftovers

    clean_leftovers()  # what a killed process left half-written (older than an hour)
    loop.idle = idle_seconds() if idle is None else idle
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, loop.on_signal)
    try:
        if slot == "ray":
            from .raybackend import dispatch

            return dispatch(loop.queue, loop.me, loop.stopping, loop.idle)
        loop.start(warm)
        loop.run()
        return 0
    finally:
        loop.queue.unregister_worker(slot)
        os.close(fd)


class _Loop:
    """One worker's life on the queue: start TensorFlow (and warm up), then claim and run jobs one
    at a time, looking less and less often while idle, until idle too long, told to stop, or
    signalled."""

    def __init__(self, queue: Queue, home: Path, slot: str, wake: threading.Event):
        self.queue, self.home, self.slot, self.wake = queue, home, slot, wake
        self.me = f"{slot}:{os.getpid()}"
        self.idle = 0.0
        self.stopping = threading.Event()
        self.job_stop: threading.Event | None = None  # the running job's stop event
        self.follow = False  # warm up once the first worker has (see warm_up)
        self.released = True  # memory given back since the last job or warm-up

    def on_signal(self, signum, frame) -> None:
        self.stopping.set()
        self.wake.set()
        stop = self.job_stop
        if stop is not None:
            stop.set()  # the running job ends after its current batch and is saved

    def start(self, warm: bool) -> None:
        try:
            share_cores(worker_count())
        except Exception as exc:  # TensorFlow missing or broken: each job then says so in one sentence
            print(f"could not set TensorFlow's threads ({type(exc).__name__}: {str(exc)[:200]})",
                  file=sys.stderr, flush=True)
        self.follow = warm and self.slot != "0"
        if warm and self.slot == "0":
            print(warm_up(self.home), file=sys.stderr, flush=True)
        elif self.follow:
            start_tensorflow()
        self.released = not warm

    def run(self) -> None:
        last_work = time.monotonic()
        pause = POLL_SECONDS
        while not self.stopping.is_set():
            if self.queue.worker_seen(self.slot):
                break
            recover_dead(self.queue, self.me)
            job = self.queue.claim(self.me)
            if job is None:
                if self._followed_warm_up():
                    continue
                if time.monotonic() - last_work > self.idle:
                    break
                self._wait(pause)
                pause = min(pause * 1.5, MAX_POLL_SECONDS)  # an idle worker looks less and less often
                continue
            pause = POLL_SECONDS
            self._run_job(job)
            last_work = time.monotonic()

    def _followed_warm_up(self) -> bool:
        """Whether this later worker just learnt that the first one's warm-up ended (and warmed up too)."""
        if not self.follow:
            return False
        first = warm_state(self.home)
        if first not in ("done", "skipped"):
            return False
        self.follow = False
        if first == "done":
            print(warm_up(self.home, self.slot), file=sys.stderr, flush=True)
            self.released = False
        return True

    def _wait(self, pause: float) -> None:
        if not self.released:
            release_memory()
            self.released = True
        if not self.stopping.is_set():
            self.wake.wait(pause)
            self.wake.clear()

    def _run_job(self, job) -> None:
        self.follow = False  # a job has built what the warm-up would have
        stop = threading.Event()
        if job.stop_requested:
            stop.set()
        self.job_stop = stop
        beat = _Heartbeat(self.queue, self.slot, stop)
        beat.start()
        try:
            run_one(self.queue, job, stop)
        finally:
            beat.done.set()
            self.job_stop = None
        # run_one has collected the job's garbage; what is left (TensorFlow, the shared base, the
        # kept heads: ~340,000 objects) is frozen out of the collector's walks until the worker is
        # idle (release_memory), so each later job's collections take ~3 ms, not ~150 ms.
        gc.freeze()
        self.released = False


class _Heartbeat(threading.Thread):
    """While a job runs: notes the worker alive and passes a shutdown request on as a stop."""

    def __init__(self, queue: Queue, slot: str, stop: threading.Event):
        super().__init__(daemon=True, name="catdog-heartbeat")
        self.queue, self.slot, self.stop, self.done = queue, slot, stop, threading.Event()

    def run(self):
        while not self.done.wait(2.0):
            try:
                if self.queue.worker_seen(self.slot):
                    self.stop.set()
            except Exception:
                pass

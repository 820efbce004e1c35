"""The local worker: a process that trains the queue's jobs one at a time, so no
training ever runs inside the Streamlit server.

    python -m catdog_core.jobs --slot 0    # started for you when a job is submitted
    catdog worker --status / --stop        # a person's way to list or stop them

`ensure_workers()` starts CATDOG_WORKERS of them (default 1) when none is
alive; each holds a lock file for its slot while it lives, which is how the
others (and the queue) know it is alive. A worker waits CATDOG_WORKER_IDLE
seconds (default 600) for new jobs before it exits, so the next job starts
warm. SIGTERM and SIGINT stop the running job after its current batch; its
finished epochs are saved as a run. A job whose worker was killed outright is
saved from its last checkpoint by the next worker.
"""

from __future__ import annotations

import fcntl
import gc
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import config
from ..words import count
from ..errors import CatdogError
from ..fileio import Recent
from ..progress import phases
from .queue import DONE, FAILED, RUNNING, STOPPED, JobState, Queue
from ..jobspec import AUGCHECK_KIND, CURVE_KIND, SHORTCUT_KIND

IDLE_SECONDS = 600.0
NICENESS = 10  # below the web server and the model service: pages stay quick while a class trains
POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 2.0
WRITE_EVERY = 0.25  # seconds between progress writes (epochs are always written at once)


def worker_count() -> int:
    return config.workers_setting()


def idle_seconds() -> float:
    return config.worker_idle_setting(IDLE_SECONDS)


def backend() -> str:
    chosen = config.backend_setting()
    if chosen not in ("local", "ray"):
        raise CatdogError(f"CATDOG_BACKEND is {chosen!r}; it must be 'local' or 'ray'.")
    return chosen


def _lock_file(home: Path, slot: str) -> Path:
    return home / "locks" / f"worker-{slot}.lock"


def _try_lock(path: Path) -> int | None:
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
    fd = _try_lock(_lock_file(home, slot))
    if fd is None:
        return True
    os.close(fd)
    return False


def slots() -> list[str]:
    if backend() == "ray":
        return ["ray"]
    return [str(i) for i in range(worker_count())]


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


def warming_wanted() -> bool:
    """CATDOG_WARM=0 turns the app's warm-up off (the tests do, except the one about it)."""
    return config.warm_setting()


def _spawn(home: Path, slot: str, warm: bool = False) -> subprocess.Popen:
    env = config.child_environment(CATDOG_HOME=str(home))
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"worker-{slot}.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "catdog_core.jobs", "--slot", slot]
                                + (["--warm"] if warm else []), env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=str(home))


# ---------------------------------------------------------------- warming up


def _warm_file(home: Path, slot: str = "0") -> Path:
    return home / "status" / ("warm.json" if slot == "0" else f"warm-{slot}.json")


_warm_read = Recent(64)  # a warm file's path -> ((size, mtime, inode), what it said): every page run asks


def _read_warm(home: Path, slot: str) -> dict:
    import json

    path = _warm_file(home, slot)
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
    import json

    from ..fileio import write_atomic

    target = _warm_file(home, slot)
    last = [0.0]

    def write(state: str, phase: str = "", done: int = 0, total: int = 0, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - last[0] < WRITE_EVERY:
            return
        last[0] = now
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, json.dumps({"state": state, "phase": phase, "done": done, "total": total,
                                             "pid": os.getpid()}).encode())
        except OSError:
            pass

    class WarmObserver:
        def on_phase(self, message, done=0, total=0):
            write("running", message, done, total, force=not total or done in (0, total))

        def on_batch(self, report): ...

        def on_epoch(self, report): ...

    try:
        from .. import dataset as datasets
        from ..training import warm_cache

        write("running", "Checking the files")
        data = datasets.load_dataset(None, allow_download=False, progress=phases(WarmObserver().on_phase))
        warm_cache(data, WarmObserver())
        from ..models import shared_base
        from ..runs.save import store_base

        store_base(shared_base())  # the first run this worker saves only links the base's weights
    except Exception as exc:  # not on disk yet, no weights, a bad folder: the first job says why
        write("skipped", f"{type(exc).__name__}: {str(exc)[:200]}")
        return f"warm-up skipped ({type(exc).__name__}: {str(exc)[:200]})"
    write("done", "Ready")
    return "warm-up done"


# ---------------------------------------------------------------- inside the worker


def shutdown_workers(home: Path | None = None, timeout: float = 30.0) -> None:
    """Ask this home's workers to stop their jobs and exit, and wait for them (tests, `catdog worker --stop`)."""
    home = Path(home) if home is not None else config.catdog_home()
    queue = Queue(home)
    if not queue.exists():
        return
    queue.ask_workers_to_stop()
    queue.stop_all()
    # A worker this process started may not have listed itself yet, so it would miss the request
    # above and wait out its idle time: SIGTERM stops it as a signal stops any worker.
    for (spawned_home, slot), process in list(_spawned.items()):
        if spawned_home == str(home) and process.poll() is None:
            process.terminate()
    deadline = time.time() + timeout
    for worker in queue.workers():
        while time.time() < deadline and slot_alive(home, worker["slot"]):
            time.sleep(0.1)
        if slot_alive(home, worker["slot"]):
            try:
                os.kill(worker["pid"], signal.SIGKILL)
            except OSError:
                pass
    # A worker lets go of its slot's lock a moment before its process ends (TensorFlow's teardown).
    # Wait for the ones this process started, so ensure_workers does not take one that is ending
    # for one still starting, and start none.
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


def train_here(queue: Queue, job_id: int) -> threading.Thread | None:
    """Claim a queued job for this process and train it in a thread (the command line, when no
    worker is alive: no second process has to start TensorFlow, and none stays behind holding
    memory). The job is in the queue like any other, so the app shows it and a stop asked for
    there stops it; this process holds a lock file of its own while it trains, so workers know
    it is alive (and save its finished epochs if it is killed). None if the job was taken."""
    slot = f"here-{os.getpid()}"
    fd = _try_lock(_lock_file(queue.home, slot))
    if fd is None:
        return None
    job = queue.claim(f"{slot}:{os.getpid()}", job_id)
    if job is None:
        os.close(fd)
        return None

    def work():
        try:
            run_one(queue, job, threading.Event())
        finally:
            os.close(fd)
            _lock_file(queue.home, slot).unlink(missing_ok=True)

    thread = threading.Thread(target=work, name=f"catdog-job-{job_id}", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------- inside the worker


def checkpoint_dir(home: Path, job_id: int) -> Path:
    return home / "jobs" / str(job_id)


class _DbObserver:
    """training.Observer writing to the queue: phases and batches at most every WRITE_EVERY s,
    every finished epoch at once; a stop asked for in the queue sets the stop event."""

    def __init__(self, queue: Queue, job_id: int, stop: threading.Event):
        self.queue, self.job_id, self.stop = queue, job_id, stop
        self.last = 0.0
        self.progress: dict = {}

    def _write(self, force: bool = False, **phase) -> None:
        now = time.monotonic()
        if not force and now - self.last < WRITE_EVERY:
            return
        self.last = now
        if self.queue.update(self.job_id, progress=self.progress, **phase):
            self.stop.set()

    def on_phase(self, message, done=0, total=0):
        self._write(force=not total or done in (0, total), phase=message, done=done, total=total)

    def on_plan(self, r):
        self.progress = r.to_dict()  # the epochs planned; the phase stays what it is
        self._write(force=True)

    def on_batch(self, r):
        self.progress = r.to_dict()
        self._write(force=r.step == r.steps, phase="Training")

    def on_epoch(self, r):
        self.queue.add_epoch(self.job_id, r.to_dict())
        self._write(force=True)


def _outcome(run) -> tuple[str, str]:
    if run is None:
        return STOPPED, "Stopped before the first epoch finished: nothing was saved"
    if run.stopped:
        return STOPPED, f"Stopped after {count(run.epochs, 'epoch')}"
    return DONE, "Finished"


def measure_saved(run, spec) -> None:
    """What the Evaluate page (and Classify's "none of the above") shows of a run, measured once, here at the worker's low priority right
    after the job ended (its data and base are still in this process): pages then read it from disk
    instead of asking the model service, thirty students at once. A failure only leaves it to the
    service, on the first visit."""
    from .. import dataset as datasets
    from .. import evaluate, novelty, runs

    try:
        data = datasets.load_dataset(spec.data)
        for split in ("test", "validation"):  # validation: the temperature of calibration.py
            if evaluate.remembered(run, data.key, split) is None:  # a frozen-base run's came with it (run_job)
                evaluate.measure_saved(run, runs.load_model(run), data, split)
        novelty.reference_for(novelty.base_extractor(), data)  # "none of the above" on Classify (kept: at once)
    except Exception:  # never the job's outcome: it is recorded already
        pass


def _run_shortcut(spec, observer, stop: threading.Event, report) -> tuple[str, str]:
    """A planted shortcut (kind shortcut, catdog_core.shortcut): its answer is the job's one record."""
    from .. import dataset as datasets
    from ..shortcut import Stamp, run_shortcut

    observer.on_phase("Loading the dataset")
    data = datasets.load_dataset(spec.data, progress=phases(observer.on_phase))
    if stop.is_set():
        return STOPPED, "Stopped before it began"
    result = run_shortcut(data, Stamp(**dict(spec.stamp)), weights=spec.weights,
                          progress=phases(observer.on_phase))
    report(1, result.to_dict())
    return DONE, result.sentence()


def run_one(queue: Queue, job: JobState, stop: threading.Event) -> None:
    """Train one claimed job to its end and record how it ended; never raises."""
    from .run import run_job

    observer = _DbObserver(queue, job.job_id, stop)
    ckpt = checkpoint_dir(queue.home, job.job_id)
    try:
        if job.spec.kind in (CURVE_KIND, AUGCHECK_KIND, SHORTCUT_KIND):  # answers, not a run
            if job.spec.kind == CURVE_KIND:
                from ..learningcurve import run_curve_job as run_points
            elif job.spec.kind == AUGCHECK_KIND:
                from ..augcheck import run_check_job as run_points
            else:
                run_points = _run_shortcut

            state, phase = run_points(job.spec, observer, stop,
                                      lambda number, point: queue.add_epoch(job.job_id, {**point, "epoch": number}))
            queue.finish(job.job_id, state, phase)
            return
        run = run_job(job.spec, observer, stop, extra={"label": job.spec.label, "owner": job.owner,
                                                               "job": job.job_id}, checkpoint=ckpt)
        state, phase = _outcome(run)
        queue.finish(job.job_id, state, phase, run.run_id if run else None, run.test_accuracy if run else None)
        if run is not None:
            measure_saved(run, job.spec)
    except CatdogError as exc:
        queue.finish(job.job_id, FAILED, "Failed", error=str(exc))
    except Exception as exc:  # one job's failure never takes the worker down
        queue.finish(job.job_id, FAILED, "Failed",
                     error=f"Training failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}).")
    finally:
        shutil.rmtree(ckpt, ignore_errors=True)
        # Free the finished job's models; not Keras' clear_session, which would also drop the shared
        # frozen base (models.shared_base) the next job reuses.
        gc.collect()


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


def recover_dead(queue: Queue, me: str) -> None:
    """Jobs left 'running' by a worker that no longer lives: their finished epochs become a run."""
    from .run import salvage

    my_slot = me.split(":", 1)[0]
    for job in queue.running_on(""):
        slot = job.worker.split(":", 1)[0]
        if job.worker == me or (slot != my_slot and slot_alive(queue.home, slot)):
            continue  # its worker lives (this slot's lock is mine: another pid on it has died)
        ckpt = checkpoint_dir(queue.home, job.job_id)
        reason = ""
        try:
            run = salvage(job.spec, ckpt, extra={"label": job.spec.label, "owner": job.owner,
                                                         "job": job.job_id})
        except Exception as exc:  # a checkpoint that cannot be read: the job failed
            run, reason = None, f" ({type(exc).__name__})"
        if run is None:
            queue.finish(job.job_id, FAILED, "Failed",
                         error="The training worker stopped (it was killed or crashed) before an epoch finished"
                               f"{reason}; nothing was saved.")
        else:
            queue.finish(job.job_id, STOPPED, f"The worker stopped during epoch {run.epochs + 1}; "
                                              f"the {run.epochs} finished epochs were saved",
                         run.run_id, run.test_accuracy)
        shutil.rmtree(ckpt, ignore_errors=True)


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
    fd = _try_lock(_lock_file(home, slot))
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
    env = "" if os.environ.get(config.ENV_HOME) is None else f"{config.ENV_HOME}={shlex.quote(str(home))} "
    return (f"catdog: the training worker keeps running{busy}: jobs outlive the web server. "
            f"To stop it: {env}catdog worker --stop (or {env}python -m catdog_core worker --stop)")

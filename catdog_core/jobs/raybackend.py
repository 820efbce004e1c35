"""The Ray backend: the queue's jobs trained as Ray tasks on a cluster.

    CATDOG_BACKEND=ray RAY_ADDRESS=head-node:6379 streamlit run app.py

The queue stays the same SQLite file; one dispatcher process (the worker in
slot "ray") claims jobs as the cluster has room (one CPU, or one GPU where the
cluster offers them, per job), sends each as a task, streams its progress back
through a small actor into the queue (so pages show it as they do locally),
passes Stop on, and writes each finished run into CATDOG_HOME atomically.

What a task needs on the node that runs it: the dataset at the path the job
names (a shared folder, or the post's download, which each node fetches once);
uploaded class zips are sent along with the task. Caches (decoded images, the
converted MobileNetV2, features) live in CATDOG_RAY_HOME on each node
(default: this server's CATDOG_HOME, or its CATDOG_CACHE where one is set:
right for one machine or a shared disk).

This module is the dispatcher's side; what runs on a node is raytask's.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..words import count
from ..errors import CatdogError
from .queue import DONE, FAILED, STOPPED, Queue
from .raytask import progress_actor, train_task
from ..progress import JobState, Phase

POLL_SECONDS = 0.3
STOP_WAIT_SECONDS = 120.0


def _connect():
    address = config.ray_address_setting()
    if not address:
        raise CatdogError("CATDOG_BACKEND=ray needs RAY_ADDRESS, the cluster's head (e.g. 127.0.0.1:6379).")
    if address.split(":")[0] in ("127.0.0.1", "localhost"):
        # A head on this machine: keep this driver on loopback too (Ray would otherwise look for
        # the head at the machine's network address).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise CatdogError("CATDOG_BACKEND=ray needs Ray: pip install -r requirements-ray.txt") from None
    if not ray.is_initialized():
        package = str(Path(__file__).resolve().parents[1])
        env = {"CATDOG_HOME": config.ray_home_setting() or str(config.catdog_home()),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        if not config.ray_home_setting():  # this machine's cache, not a second one
            env.update(config.variables_set(config.ENV_CACHE))
        env.update(config.variables_set(config.ENV_BASE_WEIGHTS, "KERAS_HOME"))
        ray.init(address=address, namespace="catdog", log_to_driver=False, logging_level="ERROR",
                 runtime_env={"py_modules": [package], "env_vars": env,
                              "excludes": ["__pycache__", "*.pyc"]})
    return ray


def _upload_of(spec) -> tuple[str, bytes] | None:
    """An uploaded class zip named by the job, to send with the task."""
    if not spec.data:
        return None
    path = Path(spec.data)
    try:
        if path.is_file() and path.parent.resolve() == (config.catdog_home() / "uploads").resolve():
            return path.name, path.read_bytes()
    except OSError:
        return None
    return None


def _apply(queue: Queue, job_id: int, events: list) -> None:
    progress = plan = None
    for event in events:
        kind = event[0]
        if kind == "phase":
            queue.update(job_id, phase=event[1], done=event[2], total=event[3])
        elif kind == "plan":
            plan = event[1]
        elif kind == "batch":
            progress = event[1]
        elif kind == "epoch":
            queue.add_epoch(job_id, event[1])
    if progress is not None:
        queue.update(job_id, phase=Phase.TRAINING, progress=progress)
    elif plan is not None:
        queue.update(job_id, progress=plan)


def _cluster_error(exc: Exception) -> str:
    """What a task raised, as the job's one sentence."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()[-1][:300] if str(cause).strip() else type(cause).__name__
    return text if isinstance(cause, CatdogError) else f"Training failed on the cluster ({type(cause).__name__}: {text})."


def _finish_returned(queue: Queue, job_id: int, out: dict) -> None:
    """A task's answer recorded: nothing saved, a run folder refused, or the run now in CATDOG_HOME."""
    from .. import runs

    if out.get("run") is None:
        queue.finish(job_id, STOPPED, "Stopped before the first epoch finished: nothing was saved")
        return
    try:
        run = runs.import_run(out["zip"], out["run"])
    except CatdogError as exc:
        queue.finish(job_id, FAILED, Phase.FAILED, error=str(exc))
        return
    state, phase = (STOPPED, f"Stopped after {count(run.epochs, 'epoch')}") if run.stopped else (DONE, "Finished")
    queue.finish(job_id, state, phase, run.run_id, run.test_accuracy)


@dataclass
class _Sent:
    """A job sent to the cluster: its task's result, its progress actor, the job as claimed."""
    ref: object
    actor: object
    job: JobState


class _Dispatcher:
    """The jobs on the cluster: sends queued ones while it has room, streams their reports into
    the queue, passes Stop on, and records each task's end."""

    def __init__(self, queue: Queue, me: str, ray):
        self.queue, self.me, self.ray = queue, me, ray
        self.progress = progress_actor(ray)
        self.task = ray.remote(train_task)
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.capacity = max(1, self.gpus or int(resources.get("CPU", 1)))  # one job per GPU, else per CPU
        self.running: dict[int, _Sent] = {}
        self.stop_sent: set[int] = set()

    def send_waiting(self) -> None:
        while len(self.running) < self.capacity:
            job = self.queue.claim(self.me)
            if job is None:
                break
            self._send(job)

    def _send(self, job: JobState) -> None:
        actor = self.progress.remote()
        if job.stop_requested:
            actor.request_stop.remote()
        options = {"num_gpus": 1} if self.gpus else {"num_cpus": 1}
        extra = {"label": job.spec.label, "owner": job.owner, "job": job.job_id, "backend": "ray"}
        ref = self.task.options(**options).remote(job.spec.to_dict(), actor, _upload_of(job.spec), extra)
        self.queue.update(job.job_id, phase="Sent to the Ray cluster")
        self.running[job.job_id] = _Sent(ref, actor, job)

    def collect_ended(self) -> bool:
        """Pass on the stops asked for, stream reports, record the tasks that ended; whether any did."""
        ended = False
        for job_id, sent in list(self.running.items()):
            current = self.queue.get(job_id)
            if current is not None and current.stop_requested and job_id not in self.stop_sent:
                sent.actor.request_stop.remote()
                self.stop_sent.add(job_id)
            if self._collect(job_id):
                self.running.pop(job_id)
                ended = True
        return ended

    def stop_all(self) -> None:
        """Every running job asked to stop, and collected as it ends (for up to STOP_WAIT_SECONDS)."""
        for sent in self.running.values():
            sent.actor.request_stop.remote()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self.running and time.monotonic() < deadline:
            for job_id in list(self.running):
                if self._collect(job_id, wait=0.5):
                    self.running.pop(job_id)

    def _collect(self, job_id: int, wait: float = 0.0) -> bool:
        """The job's reports written into the queue; if its task ended, how it ended too (True)."""
        sent = self.running[job_id]
        ready, _ = self.ray.wait([sent.ref], timeout=wait)
        _apply(self.queue, job_id, self.ray.get(sent.actor.take.remote()))
        if not ready:
            return False
        try:
            out = self.ray.get(sent.ref)
        except Exception as exc:  # the task raised: its message, in one sentence
            self.queue.finish(job_id, FAILED, Phase.FAILED, error=_cluster_error(exc))
            return True
        _finish_returned(self.queue, job_id, out)
        return True


def _fail_waiting(queue: Queue, me: str, error: str) -> None:
    """Say why on every waiting job instead of leaving them queued forever."""
    job = queue.claim(me)
    while job is not None:
        queue.finish(job.job_id, FAILED, Phase.FAILED, error=error)
        job = queue.claim(me)


def dispatch(queue: Queue, me: str, stopping: threading.Event, idle: float) -> int:
    """The dispatcher's loop: claim, send, stream, collect. Returns the worker's exit code."""
    try:
        ray = _connect()
    except CatdogError as exc:
        _fail_waiting(queue, me, str(exc))
        return 2
    cluster = _Dispatcher(queue, me, ray)
    last_work = time.monotonic()
    while not (stopping.is_set() or queue.worker_seen("ray")):
        cluster.send_waiting()
        if cluster.collect_ended():
            last_work = time.monotonic()
        if not cluster.running and time.monotonic() - last_work > idle:
            return 0
        stopping.wait(POLL_SECONDS)
    cluster.stop_all()
    return 0

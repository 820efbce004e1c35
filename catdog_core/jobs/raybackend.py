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
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from .. import config
from ..words import count
from ..errors import CatdogError
from .queue import DONE, FAILED, STOPPED, JobState, Queue

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
        if not config.ray_home_setting() and os.environ.get(config.ENV_CACHE):
            env[config.ENV_CACHE] = os.environ[config.ENV_CACHE]  # this machine's cache, not a second one
        for name in ("CATDOG_BASE_WEIGHTS", "KERAS_HOME"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        ray.init(address=address, namespace="catdog", log_to_driver=False, logging_level="ERROR",
                 runtime_env={"py_modules": [package], "env_vars": env,
                              "excludes": ["__pycache__", "*.pyc"]})
    return ray


def _progress_actor(ray):
    @ray.remote(num_cpus=0)
    class Progress:
        """What a task reports, held until the dispatcher takes it; and the stop flag."""

        def __init__(self):
            self.events, self.stop = [], False

        def push(self, events):
            self.events.extend(events)

        def take(self):
            out, self.events = self.events, []
            return out

        def request_stop(self):
            self.stop = True

        def should_stop(self):
            return self.stop

    return Progress


class _ActorObserver:
    """training.Observer inside a Ray task: batches events to the actor every 0.25 s and
    checks the stop flag as often."""

    def __init__(self, ray, actor, stop: threading.Event):
        self.ray, self.actor, self.stop = ray, actor, stop
        self.pending: list = []
        self.last = 0.0

    def _flush(self, force: bool = False):
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        if self.pending:
            self.actor.push.remote(self.pending)
            self.pending = []
        if self.ray.get(self.actor.should_stop.remote()):
            self.stop.set()

    def on_phase(self, message, done=0, total=0):
        self.pending.append(("phase", message, done, total))
        self._flush(force=not total)

    def on_plan(self, r):
        self.pending.append(("plan", r.to_dict()))
        self._flush(force=True)

    def on_batch(self, r):
        self.pending.append(("batch", r.to_dict()))
        self._flush()

    def on_epoch(self, r):
        self.pending.append(("epoch", r.to_dict()))
        self._flush(force=True)


def train_task(spec_dict: dict, actor, upload: tuple[str, bytes] | None, extra: dict) -> dict:
    """One job, on whichever node Ray chose: train, then hand the run folder back as a zip."""
    import ray

    from .run import run_job
    from ..jobspec import JobSpec

    spec = JobSpec.from_dict(spec_dict)
    if upload is not None:  # the class zip a student uploaded to the server
        name, data = upload
        target = config.catdog_home() / "uploads" / name
        if not target.is_file():
            from ..fileio import write_atomic

            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
        spec = JobSpec.from_dict({**spec_dict, "data": str(target)})
    stop = threading.Event()
    observer = _ActorObserver(ray, actor, stop)
    with tempfile.TemporaryDirectory() as tmp:
        run = run_job(spec, observer, stop, extra=extra, runs_root=Path(tmp))
        observer._flush(force=True)
        if run is None:
            return {"run": None}
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(run.path.iterdir()):
                archive.write(path, path.name)
        return {"run": run.run_id, "zip": packed.getvalue()}


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
        queue.update(job_id, phase="Training", progress=progress)
    elif plan is not None:
        queue.update(job_id, progress=plan)


def dispatch(queue: Queue, me: str, stopping: threading.Event, idle: float) -> int:
    """The dispatcher's loop: claim, send, stream, collect. Returns the worker's exit code."""
    from .. import runs

    try:
        ray = _connect()
    except CatdogError as exc:
        job = queue.claim(me)
        while job is not None:  # say why on every waiting job instead of leaving them queued forever
            queue.finish(job.job_id, FAILED, "Failed", error=str(exc))
            job = queue.claim(me)
        return 2
    Progress = _progress_actor(ray)
    task = ray.remote(train_task)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    capacity = max(1, gpus or int(resources.get("CPU", 1)))
    running: dict[int, tuple] = {}
    last_work = time.monotonic()
    stop_sent: set[int] = set()

    def collect(job_id: int, ref, actor, job: JobState, wait: float = 0.0) -> bool:
        ready, _ = ray.wait([ref], timeout=wait)
        _apply(queue, job_id, ray.get(actor.take.remote()))
        if not ready:
            return False
        try:
            out = ray.get(ref)
        except Exception as exc:  # the task raised: its message, in one sentence
            cause = getattr(exc, "cause", None) or exc
            text = str(cause).strip().splitlines()[-1][:300] if str(cause).strip() else type(cause).__name__
            queue.finish(job_id, FAILED, "Failed", error=text if isinstance(cause, CatdogError)
                         else f"Training failed on the cluster ({type(cause).__name__}: {text}).")
            return True
        if out.get("run") is None:
            queue.finish(job_id, STOPPED, "Stopped before the first epoch finished: nothing was saved")
            return True
        try:
            run = runs.import_run(out["zip"], out["run"])
        except CatdogError as exc:
            queue.finish(job_id, FAILED, "Failed", error=str(exc))
            return True
        state, phase = (STOPPED, f"Stopped after {count(run.epochs, 'epoch')}") if run.stopped else (DONE, "Finished")
        queue.finish(job_id, state, phase, run.run_id, run.test_accuracy)
        return True

    while True:
        if stopping.is_set() or queue.worker_seen("ray"):
            for job_id, (ref, actor, job) in running.items():
                actor.request_stop.remote()
            deadline = time.monotonic() + STOP_WAIT_SECONDS
            while running and time.monotonic() < deadline:
                for job_id, item in list(running.items()):
                    if collect(job_id, *item, wait=0.5):
                        running.pop(job_id)
            return 0
        while len(running) < capacity:
            job = queue.claim(me)
            if job is None:
                break
            actor = Progress.remote()
            if job.stop_requested:
                actor.request_stop.remote()
            options = {"num_gpus": 1} if gpus else {"num_cpus": 1}
            extra = {"label": job.spec.label, "owner": job.owner, "job": job.job_id, "backend": "ray"}
            ref = task.options(**options).remote(job.spec.to_dict(), actor, _upload_of(job.spec), extra)
            queue.update(job.job_id, phase="Sent to the Ray cluster")
            running[job.job_id] = (ref, actor, job)
        for job_id, (ref, actor, job) in list(running.items()):
            current = queue.get(job_id)
            if current is not None and current.stop_requested and job_id not in stop_sent:
                actor.request_stop.remote()
                stop_sent.add(job_id)
            if collect(job_id, ref, actor, job):
                running.pop(job_id)
                last_work = time.monotonic()
        if not running and time.monotonic() - last_work > idle:
            return 0
        stopping.wait(POLL_SECONDS)

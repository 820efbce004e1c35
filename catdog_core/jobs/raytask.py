"""What runs on a Ray node for one job: the task that trains it and hands its run folder back, the
observer through which it reports, and the small actor that holds those reports (and the stop
flag) until the dispatcher (raybackend) takes them."""

from __future__ import annotations

import io
import tempfile
import threading
import zipfile
from pathlib import Path

from .. import config
from ..progress import Observer, Throttle


def progress_actor(ray):
    """The actor class a job's reports go through (defined here: `ray` is imported only when asked)."""
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


class _ActorObserver(Observer):
    """training.Observer inside a Ray task: batches events to the actor every 0.25 s and
    checks the stop flag as often."""

    def __init__(self, ray, actor, stop: threading.Event):
        self.ray, self.actor, self.stop = ray, actor, stop
        self.pending: list = []
        self.throttle = Throttle()

    def flush(self, force: bool = False, count: tuple[int, int] | None = None):
        if not self.throttle.due(force, count):
            return
        if self.pending:
            self.actor.push.remote(self.pending)
            self.pending = []
        if self.ray.get(self.actor.should_stop.remote()):
            self.stop.set()

    def progress(self, done, total, message=""):
        self.pending.append(("phase", message, done, total))
        self.flush(count=(done, total))

    def on_plan(self, r):
        self.pending.append(("plan", r.to_dict()))
        self.flush(force=True)

    def on_batch(self, r):
        self.pending.append(("batch", r.to_dict()))
        self.flush()

    def on_epoch(self, r):
        self.pending.append(("epoch", r.to_dict()))
        self.flush(force=True)


def _spec_on_this_node(spec_dict: dict, upload: tuple[str, bytes] | None):
    """The job's spec, naming this node's copy of the class zip a student uploaded to the server."""
    from ..jobspec import JobSpec

    spec = JobSpec.from_dict(spec_dict)  # checked before anything is written
    if upload is None:
        return spec
    name, data = upload
    target = config.catdog_home() / "uploads" / name
    if not target.is_file():
        from ..fileio import write_atomic

        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    return JobSpec.from_dict({**spec_dict, "data": str(target)})


def _zipped(folder: Path) -> bytes:
    """A run folder's files, stored (not compressed) in one zip."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return packed.getvalue()


def train_task(spec_dict: dict, actor, upload: tuple[str, bytes] | None, extra: dict) -> dict:
    """One job, on whichever node Ray chose: train, then hand the run folder back as a zip."""
    import ray

    from .run import run_job

    spec = _spec_on_this_node(spec_dict, upload)
    stop = threading.Event()
    observer = _ActorObserver(ray, actor, stop)
    with tempfile.TemporaryDirectory() as tmp:
        run = run_job(spec, observer, stop, extra=extra, runs_root=Path(tmp))
        observer.flush(force=True)
        if run is None:
            return {"run": None}
        return {"run": run.run_id, "zip": _zipped(run.path)}

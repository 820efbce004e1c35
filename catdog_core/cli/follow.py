"""Following queued jobs from the command line: their place in the queue, their batches, how they ended."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import CatdogError
from .progress import Bar


def result_line(run) -> str:
    from ..metrics import verdict

    return (f"run {run.run_id}: val_acc {verdict(run.val_accuracy, run.val_count)}; "
            f"test_acc {verdict(run.test_accuracy, run.test_count)}")


@dataclass
class _Shown:
    """What the terminal has said of each job so far: its epochs, and its last place in the queue."""
    epochs: dict[int, int]
    places: dict[int, int] = field(default_factory=dict)


def follow(queue, job_ids: list[int], bar: Bar) -> list:
    """Show the jobs' progress until every one has ended; returns their final states.

    Ctrl-C or SIGTERM asks them to stop after the current batch (the finished
    epochs are saved by the worker) and keeps following; a second one leaves at once.
    """
    from .. import jobs

    shown = _Shown({i: 0 for i in job_ids})
    with _stopping_on_signals(queue, job_ids, bar):
        while True:
            states = [queue.get(i) for i in job_ids]
            for job in states:
                if job is not None:
                    _show(queue, job, shown, bar)
            if all(job is None or job.state in jobs.FINISHED for job in states):
                return states
            if any(job is not None and job.state == jobs.QUEUED for job in states):
                jobs.ensure_workers(queue.home)  # a worker that exited on idle comes back
            time.sleep(0.2)


@contextmanager
def _stopping_on_signals(queue, job_ids: list[int], bar: Bar):
    """While following: the first Ctrl-C or SIGTERM stops the jobs, a second one leaves."""
    import signal

    asked = []

    def on_signal(signum, frame):
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)
        queue.stop_many(job_ids)
        bar.line("stopping after the current batch; the finished epochs are kept (press Ctrl-C again to leave)")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show(queue, job, shown: _Shown, bar: Bar) -> None:
    """What is new of one job: its finished epochs, then its place in the queue or its progress."""
    from .. import jobs

    _show_epochs(job, shown, bar)
    if job.state == jobs.QUEUED and shown.places.get(job.job_id) != job.queue_position:
        shown.places[job.job_id] = job.queue_position
        running = queue.current()
        ahead = f"; now training: job {running.job_id} ({running.title})" if running else ""
        bar.line(f"job {job.job_id} waits in the queue at position {job.queue_position}{ahead}")
    elif job.state == jobs.RUNNING:
        _show_running(job, bar)


def _show_epochs(job, shown: _Shown, bar: Bar) -> None:
    for report in job.history[shown.epochs[job.job_id]:]:
        bar.line(f"epoch {report['epoch']}/{report['epochs']}: loss {report['loss']:.3f} "
                 f"acc {report['accuracy']:.3f} val_loss {report['val_loss']:.3f} "
                 f"val_acc {report['val_accuracy']:.3f} ({report['seconds']:.1f} s)")
    shown.epochs[job.job_id] = len(job.history)


def _show_running(job, bar: Bar) -> None:
    now = job.now()
    batch = now.batch
    bar(now.done, now.total, now.phase if batch is None else
        f"epoch {batch.epoch}  loss {batch.loss:.3f}  acc {batch.accuracy:.3f}")


def ended(job, bar: Bar):
    """The saved run of a finished job, or None after saying why there is none."""
    from .. import jobs, runs

    if job.state == jobs.FAILED:
        raise CatdogError(job.error or "training failed")
    if not job.run_id:
        bar.line(f"{job.phase}: nothing saved")
        return None
    return runs.find_run(job.run_id)

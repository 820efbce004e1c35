"""Following queued jobs from the command line: their place in the queue, their batches, how they ended."""

from __future__ import annotations

import time

from ..errors import CatdogError
from .progress import Bar


def result_line(run) -> str:
    from ..metrics import verdict

    return (f"run {run.run_id}: val_acc {verdict(run.val_accuracy, run.val_count)}; "
            f"test_acc {verdict(run.test_accuracy, run.test_count)}")


def follow(queue, job_ids: list[int], bar: Bar) -> list:
    """Show the jobs' progress until every one has ended; returns their final states.

    Ctrl-C or SIGTERM asks them to stop after the current batch (the finished
    epochs are saved by the worker) and keeps following; a second one leaves at once.
    """
    import signal

    from .. import jobs

    asked = []

    def on_signal(signum, frame):
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)
        queue.stop_many(job_ids)
        bar.line("stopping after the current batch; the finished epochs are kept (press Ctrl-C again to leave)")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    shown: dict[int, int] = {i: 0 for i in job_ids}
    waiting: dict[int, int] = {}
    try:
        while True:
            states = [queue.get(i) for i in job_ids]
            for job in states:
                if job is None:
                    continue
                for report in job.history[shown[job.job_id]:]:
                    bar.line(f"epoch {report['epoch']}/{report['epochs']}: loss {report['loss']:.3f} "
                             f"acc {report['accuracy']:.3f} val_loss {report['val_loss']:.3f} "
                             f"val_acc {report['val_accuracy']:.3f} ({report['seconds']:.1f} s)")
                shown[job.job_id] = len(job.history)
                if job.state == jobs.QUEUED and waiting.get(job.job_id) != job.queue_position:
                    waiting[job.job_id] = job.queue_position
                    running = queue.current()
                    ahead = f"; now training: job {running.job_id} ({running.title})" if running else ""
                    bar.line(f"job {job.job_id} waits in the queue at position {job.queue_position}{ahead}")
                elif job.state == jobs.RUNNING:
                    batch = job.batch
                    if job.phase == "Training" and batch is not None and batch.step:  # step 0: only the plan
                        bar(batch.step, batch.steps, f"epoch {batch.epoch}  loss {batch.loss:.3f}  "
                                                     f"acc {batch.accuracy:.3f}")
                    else:
                        bar(job.phase_done, job.phase_total, job.phase)
            if all(job is None or job.state in jobs.FINISHED for job in states):
                return states
            if any(job is not None and job.state == jobs.QUEUED for job in states):
                jobs.ensure_workers(queue.home)  # a worker that exited on idle comes back
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ended(job, bar: Bar):
    """The saved run of a finished job, or None after saying why there is none."""
    from .. import jobs, runs

    if job.state == jobs.FAILED:
        raise CatdogError(job.error or "training failed")
    if not job.run_id:
        bar.line(f"{job.phase}: nothing saved")
        return None
    return runs.find_run(job.run_id)

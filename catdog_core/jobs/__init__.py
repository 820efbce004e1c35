"""Training jobs: a queue every process on the machine shares, and the backends
that train it (a local worker process by default; a Ray cluster with
CATDOG_BACKEND=ray). Nothing trains inside the Streamlit server: pages and the
command line submit jobs and read their progress.
"""

from __future__ import annotations

from pathlib import Path

from ..jobspec import (AUGCHECK_KIND, BOUNDS, CURVE_BASELINE_MAX, CURVE_KIND, FINE_TUNE_AT, MAX_EPOCHS, MIN_STEPS, QUICK, VARIANTS,  # noqa: F401
                   REPRODUCE_LABEL, SHORTCUT_KIND, BatchReport, JobSpec, augcheck_spec, curve_spec, planned_epochs,
                   check_spec, post_specs, quick_spec, resolved, shortcut_spec)
from .queue import (  # noqa: F401
    DONE, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, Estimate, JobState, Queue, estimate_left,
)
from ..owners import Budget
from .run import run_job, salvage  # noqa: F401
from .worker import (backend, ensure_workers, left_running_note, shutdown_workers, wake_workers,  # noqa: F401
                     warm_status, warming_wanted)


def get_queue(home: Path | None = None) -> Queue:
    """This CATDOG_HOME's queue (cheap: every call reads the shared file)."""
    return Queue(home)


def submit(spec: JobSpec, owner: str = "", group: str = "", home: Path | None = None,
           budget: Budget | None = None) -> int:
    """Queue a job, with this process's data and weights settings written in, and make sure a
    worker is alive to train it. Returns the job's id (an identical queued job's, on a double click).
    With a `budget` (a student's), refused with a sentence past the owner's share."""
    queue = Queue(home)
    job_id = queue.submit(resolved(spec), owner, group, budget)
    if not ensure_workers(queue.home):
        wake_workers(queue.home)
    return job_id


def submit_here(spec: JobSpec, owner: str = "", home: Path | None = None) -> tuple[int, object]:
    """Queue a job and train it in this process, unless a local worker is alive (then it trains the
    job, in the queue's order; on Ray, the cluster does). Returns (job id, the training thread or None)."""
    from .worker import train_here, worker_alive

    queue = Queue(home)
    job_id = queue.submit(resolved(spec), owner)
    thread = None if worker_alive(queue.home) or backend() != "local" else train_here(queue, job_id)
    if thread is None and not ensure_workers(queue.home):
        wake_workers(queue.home)
    return job_id, thread


def submit_group(specs: list[JobSpec], owner: str = "", label: str = "", home: Path | None = None,
                 budget: Budget | None = None) -> tuple[str, list[int]]:
    """Several jobs that stop as one (the post's four models), queued all or none; returns (group, ids)."""
    import secrets

    group = f"{label or 'group'}:{secrets.token_hex(4)}"
    queue = Queue(home)
    ids = queue.submit_many([resolved(spec) for spec in specs], owner, group, budget)
    if not ensure_workers(queue.home):
        wake_workers(queue.home)
    return group, ids

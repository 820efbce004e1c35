"""The queue of training jobs: one SQLite file in CATDOG_HOME that every process
on the machine shares (the Streamlit server, the command line, the workers).

Pages and the command line only submit jobs and read them; worker processes
claim queued jobs, write their progress (phase, batches, one row per finished
epoch) and finish them. The queue survives a server restart; a job whose
worker died is found by its worker's lock file, and its finished epochs are
saved from the checkpoint written after each of them.

This module owns what is done to jobs (submit, claim, stop, finish, forget); the file's
tables live in `store`, and a job as read back, with its time left, in `state`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from .. import config
from ..owners import TERMINAL, Actor, Budget, check_budget, job_epochs
from ..jobspec import JobSpec
from ..progress import DONE, FAILED, QUEUED, RUNNING, STOPPED, Estimate, JobState, estimate_left
from .store import connect, job_states

__all__ = ["DONE", "FAILED", "FINISHED", "KEEP_FINISHED", "QUEUED", "RUNNING", "STOPPED", "Estimate", "JobState",
           "Queue", "estimate_left"]  # the states and shapes callers import from here, with the queue

FINISHED = (DONE, STOPPED, FAILED)
KEEP_FINISHED = 500  # finished jobs remembered; older ones are forgotten (their runs stay)


def _epochs(spec: JobSpec) -> int:
    return job_epochs(spec.epochs, spec.fine_tune_epochs, len(spec.sizes) or len(spec.sweep_values))


def _dedupe(spec: JobSpec, owner: str) -> str:
    return hashlib.sha1(f"{owner}|{json.dumps(spec.to_dict(), sort_keys=True)}".encode()).hexdigest()


class Queue:
    """The jobs of one CATDOG_HOME. Every call opens its own connection: safe from any thread."""

    def __init__(self, home: Path | None = None):
        self.home = Path(home) if home is not None else config.catdog_home()
        self.path = self.home / "queue.sqlite3"
        self._ready = False

    # ---- plumbing
    def _db(self) -> sqlite3.Connection:
        db = connect(self.path, create=not self._ready)  # the tables, once per Queue
        self._ready = True
        return db

    def exists(self) -> bool:
        return self.path.is_file()

    # ---- what pages and the command line call
    def submit(self, spec: JobSpec, owner: str = "", group: str = "", budget: Budget | None = None) -> int:
        """Queue a job; the same spec from the same owner while one is queued or running is that job
        (a double click never queues twice). With a `budget`, refused past the owner's share."""
        return self.submit_many([spec], owner, group, budget)[0]

    def submit_many(self, specs: list[JobSpec], owner: str = "", group: str = "",
                    budget: Budget | None = None) -> list[int]:
        """Queue jobs in one transaction: all of them or, past the owner's `budget`, none."""
        with closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")  # the budget is read and spent by one writer at a time
            try:
                ids = self._insert(db, specs, owner, group, budget)
                db.execute("COMMIT")
                return ids
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _insert(self, db: sqlite3.Connection, specs: list[JobSpec], owner: str, group: str,
                budget: Budget | None) -> list[int]:
        found, new = {}, []
        for spec in specs:
            key = _dedupe(spec, owner)
            same = db.execute("SELECT id FROM jobs WHERE dedupe = ? AND state IN (?, ?) ORDER BY id LIMIT 1",
                              (key, QUEUED, RUNNING)).fetchone()
            if same is not None:
                found[key] = same["id"]
            elif key not in found:
                found[key] = None
                new.append((key, spec))
        if budget is not None and new:
            active = [JobSpec.from_dict(json.loads(r["spec"])) for r in db.execute(
                "SELECT spec FROM jobs WHERE owner = ? AND state IN (?, ?)", (owner, QUEUED, RUNNING))]
            check_budget(budget, len(active), sum(map(_epochs, active)), len(new), sum(_epochs(s) for _, s in new))
        for key, spec in new:
            found[key] = db.execute(
                "INSERT INTO jobs (spec, owner, grp, dedupe, state, submitted) VALUES (?, ?, ?, ?, ?, ?)",
                (json.dumps(spec.to_dict()), owner, group, key, QUEUED, time.time())).lastrowid
        return [int(found[_dedupe(spec, owner)]) for spec in specs]

    def get(self, job_id: int) -> JobState | None:
        if not self.exists():
            return None
        with closing(self._db()) as db:
            rows = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchall()
            found = job_states(db, rows)
        return found[0] if found else None

    def jobs(self, limit: int = 200, active_only: bool = False) -> list[JobState]:
        """Jobs newest first (active ones: in queue order, running first)."""
        if not self.exists():
            return []
        with closing(self._db()) as db:
            if active_only:
                rows = db.execute("SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY state = ? DESC, id",
                                  (RUNNING, QUEUED, RUNNING)).fetchall()
            else:
                rows = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            return job_states(db, rows)

    def active(self) -> list[JobState]:
        return self.jobs(active_only=True)

    def current(self) -> JobState | None:
        return next((j for j in self.active() if j.state == RUNNING), None)

    def group(self, group: str) -> list[JobState]:
        if not group or not self.exists():
            return []
        with closing(self._db()) as db:
            return job_states(db, db.execute("SELECT * FROM jobs WHERE grp = ? ORDER BY id", (group,)).fetchall())

    def stop(self, job_id: int, actor: Actor = TERMINAL) -> None:
        """A queued job is cancelled; a running one stops after its current batch. Refused
        (owners.NotYours) when `actor` may not stop this job's owner's work."""
        job = self.get(job_id)
        if job is None:
            return
        actor.check(job.owner, "stop this job")
        with closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE jobs SET state = ?, phase = 'Cancelled before it started', finished = ?, "
                       "stop_requested = 1 WHERE id = ? AND state = ?", (STOPPED, time.time(), job_id, QUEUED))
            db.execute("UPDATE jobs SET stop_requested = 1 WHERE id = ? AND state = ?", (job_id, RUNNING))
            db.execute("COMMIT")

    def stop_many(self, job_ids, actor: Actor = TERMINAL) -> None:
        for job_id in list(job_ids):
            self.stop(job_id, actor)

    def stop_group(self, group: str, actor: Actor = TERMINAL) -> None:
        self.stop_many((j.job_id for j in self.group(group) if j.active), actor)

    def stop_all(self, actor: Actor = TERMINAL) -> int:
        """Stop every active job `actor` may stop (the teacher: all; a student: their own); how many."""
        mine = [j.job_id for j in self.active() if actor.may(j.owner)]
        self.stop_many(mine, actor)
        return len(mine)

    def wait(self, job_id: int, timeout: float | None = None, poll: float = 0.1) -> JobState | None:
        deadline = None if timeout is None else time.time() + timeout
        while True:
            job = self.get(job_id)
            if job is None or job.state in FINISHED or (deadline and time.time() > deadline):
                return job
            time.sleep(poll)

    # ---- what workers call
    def claim(self, worker: str, job_id: int | None = None) -> JobState | None:
        """The oldest queued job (or this one, if still queued), now running on `worker`;
        None when there is none."""
        with closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            if job_id is None:
                row = db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY id LIMIT 1", (QUEUED,)).fetchone()
            else:
                row = db.execute("SELECT id FROM jobs WHERE state = ? AND id = ?", (QUEUED, job_id)).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute("UPDATE jobs SET state = ?, started = ?, worker = ?, phase = 'Starting' WHERE id = ?",
                       (RUNNING, time.time(), worker, row["id"]))
            db.execute("COMMIT")
            return job_states(db, db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchall())[0]

    def update(self, job_id: int, *, phase: str | None = None, done: int = 0, total: int = 0,
               progress: dict | None = None) -> bool:
        """Write a running job's phase and batch progress; returns whether a stop was asked for."""
        with closing(self._db()) as db:
            if phase is not None:
                db.execute("UPDATE jobs SET phase = ?, phase_done = ?, phase_total = ? WHERE id = ?",
                           (phase, done, total, job_id))
            if progress is not None:
                db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))
            row = db.execute("SELECT stop_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["stop_requested"])

    def add_epoch(self, job_id: int, report: dict) -> None:
        with closing(self._db()) as db:
            db.execute("INSERT OR REPLACE INTO epochs (job_id, epoch, report) VALUES (?, ?, ?)",
                       (job_id, int(report["epoch"]), json.dumps(report)))

    def finish(self, job_id: int, state: str, phase: str, run_id: str | None = None,
               test_accuracy: float | None = None, error: str | None = None) -> None:
        with closing(self._db()) as db:
            db.execute("UPDATE jobs SET state = ?, phase = ?, run_id = ?, test_accuracy = ?, error = ?, finished = ? "
                       "WHERE id = ?", (state, phase, run_id, test_accuracy, error, time.time(), job_id))
        self.forget_old()

    def forget_old(self, keep: int = KEEP_FINISHED) -> None:
        with closing(self._db()) as db:
            old = [r["id"] for r in db.execute(
                "SELECT id FROM jobs WHERE state IN (?, ?, ?) ORDER BY id DESC LIMIT -1 OFFSET ?",
                (*FINISHED, keep))]
            if old:
                marks = ",".join("?" * len(old))
                db.execute(f"DELETE FROM epochs WHERE job_id IN ({marks})", old)
                db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", old)

    def running_on(self, worker_prefix: str) -> list[JobState]:
        with closing(self._db()) as db:
            return job_states(db, db.execute("SELECT * FROM jobs WHERE state = ? AND worker LIKE ?",
                                             (RUNNING, worker_prefix + "%")).fetchall())

    # ---- the workers' own table
    def register_worker(self, slot: str) -> None:
        import socket

        now = time.time()
        with closing(self._db()) as db:
            db.execute("INSERT OR REPLACE INTO workers (slot, pid, host, started, seen, shutdown) "
                       "VALUES (?, ?, ?, ?, ?, 0)", (slot, os.getpid(), socket.gethostname(), now, now))

    def worker_seen(self, slot: str) -> bool:
        """Note that the worker is alive; returns whether it was asked to shut down."""
        with closing(self._db()) as db:
            db.execute("UPDATE workers SET seen = ? WHERE slot = ? AND pid = ?", (time.time(), slot, os.getpid()))
            row = db.execute("SELECT shutdown FROM workers WHERE slot = ?", (slot,)).fetchone()
        return bool(row and row["shutdown"])

    def unregister_worker(self, slot: str) -> None:
        with closing(self._db()) as db:
            db.execute("DELETE FROM workers WHERE slot = ? AND pid = ?", (slot, os.getpid()))

    def workers(self) -> list[dict]:
        if not self.exists():
            return []
        with closing(self._db()) as db:
            return [dict(r) for r in db.execute("SELECT * FROM workers ORDER BY slot")]

    def ask_workers_to_stop(self) -> None:
        if self.exists():
            with closing(self._db()) as db:
                db.execute("UPDATE workers SET shutdown = 1")

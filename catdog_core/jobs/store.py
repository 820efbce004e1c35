"""The queue's SQLite file: its tables, a connection to it, and its rows read back as JobStates."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..jobspec import QUEUED, BatchReport, JobSpec
from ..progress import JobState

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    grp TEXT NOT NULL DEFAULT '',
    dedupe TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    submitted REAL NOT NULL,
    started REAL,
    finished REAL,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    phase TEXT NOT NULL DEFAULT 'Waiting in the queue',
    phase_done INTEGER NOT NULL DEFAULT 0,
    phase_total INTEGER NOT NULL DEFAULT 0,
    progress TEXT NOT NULL DEFAULT '{}',
    run_id TEXT,
    test_accuracy REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS epochs (
    job_id INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    report TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
CREATE TABLE IF NOT EXISTS workers (
    slot TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started REAL NOT NULL,
    seen REAL NOT NULL,
    shutdown INTEGER NOT NULL DEFAULT 0
);
"""


def connect(path: Path, create: bool = False) -> sqlite3.Connection:
    """A connection to the queue's file; with `create`, its folder and tables are made first."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 30000")
    if create:
        db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the worker's writes
        db.executescript(SCHEMA)
    return db


def job_state(row: sqlite3.Row, history: list[dict], position: int) -> JobState:
    """One row of the jobs table, with its epochs and its place in the queue."""
    progress = json.loads(row["progress"] or "{}")
    return JobState(
        job_id=row["id"], spec=JobSpec.from_dict(json.loads(row["spec"])), state=row["state"],
        phase=row["phase"], phase_done=row["phase_done"], phase_total=row["phase_total"],
        history=history, run_id=row["run_id"], test_accuracy=row["test_accuracy"], error=row["error"],
        submitted=row["submitted"], started=row["started"], finished=row["finished"],
        queue_position=position, owner=row["owner"], group=row["grp"],
        stop_requested=bool(row["stop_requested"]), worker=row["worker"],
        batch=BatchReport.from_dict(progress) if progress else None,
    )


def job_states(db: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[JobState]:
    """Rows of the jobs table as JobStates: each with its epochs (one query for all) and its place."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    history: dict[int, list[dict]] = {i: [] for i in ids}
    marks = ",".join("?" * len(ids))
    for e in db.execute(f"SELECT job_id, report FROM epochs WHERE job_id IN ({marks}) ORDER BY job_id, epoch", ids):
        history[e["job_id"]].append(json.loads(e["report"]))
    queued = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY id", (QUEUED,))]
    position = {job_id: i for i, job_id in enumerate(queued, start=1)}
    return [job_state(r, history[r["id"]], position.get(r["id"], 0)) for r in rows]

"""Faults while saving and training: nothing half-written is ever listed or
loaded, earlier runs stay intact, damaged folders are skipped with a warning."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from catdog_core import augment, jobs, runs
from catdog_core.errors import CatdogError
from conftest import REPO



@pytest.fixture(scope="module")
def trained(trained_transfer):
    """One small transfer result, reused to save runs under each test's own CATDOG_HOME."""
    return trained_transfer


def test_worker_killed_between_model_and_history_leaves_no_run(trained, synthetic_data, isolated_home,
                                                              shared_weights):
    data, result = trained
    earlier = runs.save_run(result, data.describe())
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from catdog_core import augment, dataset, runs, training
        from catdog_core.jobs import JobSpec
        from catdog_core.runs import save as saving
        data = dataset.load_dataset({str(synthetic_data)!r})
        result = training.train(JobSpec("transfer", 1, augment.NO_AUGMENTATION, min_steps=0), data)
        real_write = saving.write_json
        def die(path, value):
            if path.name == runs.HISTORY_FILE:
                os._exit(9)  # the power goes out: no cleanup, no exception handlers
            real_write(path, value)
        saving.write_json = die
        runs.save_run(result, data.describe())
    """)
    done = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 9, done.stderr[-2000:]
    leftovers = [p.name for p in runs.runs_dir().iterdir() if p.name.startswith(".incomplete-")]
    assert len(leftovers) == 1 and (runs.runs_dir() / leftovers[0] / runs.HEAD_FILE).exists()
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [earlier.run_id]
    assert listing.problems == []  # a dot-folder is an unfinished save, not a damaged run
    assert runs.find_run("latest").run_id == earlier.run_id
    assert runs.load_model(runs.find_run(earlier.run_id)) is not None


def test_full_disk_while_saving_keeps_earlier_runs(trained, monkeypatch):
    data, result = trained
    earlier = runs.save_run(result, data.describe())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    import numpy

    monkeypatch.setattr(numpy, "savez", full)  # the head's weights: what a frozen-base run writes
    with pytest.raises(CatdogError) as caught:
        runs.save_run(result, data.describe())
    message = str(caught.value)
    assert "No space left on device" in message and "earlier runs are untouched" in message
    assert "\n" not in message
    assert [r.run_id for r in runs.list_runs().runs] == [earlier.run_id]
    assert not [p for p in runs.runs_dir().iterdir() if p.name.startswith(".")]


def test_read_only_runs_folder_is_a_clear_error(trained, monkeypatch):
    data, result = trained
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if runs.runs_dir() in (self, *self.parents):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(CatdogError, match="CATDOG_HOME"):
        runs.save_run(result, data.describe())


def test_damaged_run_folders_are_skipped_with_a_warning(trained):
    data, result = trained
    good = runs.save_run(result, data.describe())
    no_model = runs.save_run(result, data.describe())
    bad_meta = runs.save_run(result, data.describe())
    no_model.model_path.unlink()
    (bad_meta.path / runs.META_FILE).write_text("{not json")
    unmarked = runs.runs_dir() / "20990101-000000-transfer-dead"
    unmarked.mkdir()
    (unmarked / runs.META_FILE).write_text(json.dumps({"recipe": "transfer"}))

    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [good.run_id]
    assert len(listing.problems) == 3
    assert any(no_model.run_id in p and f"{runs.HEAD_FILE} is missing" in p for p in listing.problems)
    assert any(bad_meta.run_id in p and "unreadable" in p for p in listing.problems)
    assert any("COMPLETE" in p for p in listing.problems)
    with pytest.raises(CatdogError):
        runs.find_run(no_model.run_id)


def test_a_job_whose_save_fails_reports_it_and_the_queue_goes_on(synthetic_data, monkeypatch):
    import threading

    from catdog_core.jobs import worker

    queue = jobs.get_queue()
    real_save = runs.save_run
    calls = []

    def flaky_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise CatdogError("Could not save the run (No space left on device); earlier runs are untouched.")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(runs, "save_run", flaky_save)
    spec = jobs.JobSpec("transfer", 1, augment.NO_AUGMENTATION, str(synthetic_data), min_steps=0)
    first, second = queue.submit(spec, owner="a"), queue.submit(spec, owner="b")
    for _ in range(2):  # the worker's own loop body, in this process so the fault can be injected
        worker.run_one(queue, queue.claim("test:1"), threading.Event())
    failed = queue.get(first)
    assert failed.state == jobs.FAILED and "No space left" in failed.error
    done = queue.get(second)
    assert done.state == jobs.DONE and done.run_id
    assert [r.run_id for r in runs.list_runs().runs] == [done.run_id]

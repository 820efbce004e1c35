"""catdog_core.jobs: the SQLite queue every process shares and the worker processes that train it.

Every test here submits real jobs to real worker processes (started by
`jobs.submit`, as the app and the command line do), on the small synthetic
dataset; conftest stops the workers after each test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from catdog_core import dataset, jobs, runs
from catdog_core.augment import NO_AUGMENTATION
from catdog_core.jobs import DONE, FAILED, QUEUED, RUNNING, STOPPED, BatchReport, JobSpec, JobState, worker
from catdog_core.jobs import run as job_run

from conftest import REPO, subprocess_env

TIMEOUT = 180


def wait_until(predicate, timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def spec(data, recipe="baseline", epochs=1, **kw) -> JobSpec:
    return JobSpec(recipe, epochs, NO_AUGMENTATION, str(data), min_steps=0, **kw)


def test_jobs_run_one_at_a_time_in_order_in_another_process(synthetic_data):
    queue = jobs.get_queue()
    first = jobs.submit(spec(synthetic_data, label="first"), owner="alice")
    second = jobs.submit(spec(synthetic_data, label="second"), owner="bob")
    third = jobs.submit(spec(synthetic_data, label="third"), owner="carol")
    assert queue.get(third).state == QUEUED and queue.get(third).owner == "carol"

    wait_until(lambda: queue.get(first).state == RUNNING, what="the first job to start")
    assert queue.get(second).queue_position == 1 and queue.get(third).queue_position == 2
    assert queue.current().job_id == first
    assert queue.get(first).worker.split(":")[1] != str(os.getpid())  # trained by a worker, not here

    states = [queue.wait(j, timeout=TIMEOUT) for j in (first, second, third)]
    assert [s.state for s in states] == [DONE, DONE, DONE]
    for earlier, later in zip(states, states[1:]):  # strictly one after another, in the order submitted
        assert earlier.finished <= later.started
    assert all(s.queue_position == 0 and len(s.history) == 1 and s.run_id for s in states)
    saved = {r.run_id: r for r in runs.list_runs().runs}
    assert [saved[s.run_id].label for s in states] == ["first", "second", "third"]
    assert saved[states[1].run_id].extra["owner"] == "bob"
    assert queue.current() is None


def test_the_same_job_twice_from_one_owner_is_queued_once(synthetic_data):
    queue = jobs.get_queue()
    blocker = queue.submit(spec(synthetic_data, epochs=30), owner="teacher")  # no worker yet: all stay queued
    first = queue.submit(spec(synthetic_data, label="double click"), owner="student")
    again = queue.submit(spec(synthetic_data, label="double click"), owner="student")
    other = queue.submit(spec(synthetic_data, label="double click"), owner="someone else")
    assert first == again and other != first
    assert [j.job_id for j in queue.active()] == [blocker, first, other]
    queue.stop_all()
    assert queue.active() == []


def test_stopping_a_queued_job_cancels_it_and_stop_all_asks_everyone(synthetic_data):
    queue = jobs.get_queue()
    first = jobs.submit(spec(synthetic_data, epochs=40))
    second = queue.submit(spec(synthetic_data, label="second"))
    third = queue.submit(spec(synthetic_data, label="third"))
    wait_until(lambda: queue.get(first).state == RUNNING, what="the first job to start")
    queue.stop(second)
    cancelled = queue.get(second)
    assert cancelled.state == STOPPED and cancelled.started is None and not cancelled.active
    assert "Cancelled" in cancelled.phase
    assert queue.get(third).queue_position == 1  # moved up
    queue.stop_all()
    assert queue.wait(first, timeout=TIMEOUT).state == STOPPED
    assert queue.get(third).state == STOPPED and queue.get(third).started is None
    queue.stop(second)  # stopping a finished job again is harmless
    assert queue.get(second).state == STOPPED


def test_a_group_stops_as_one(synthetic_data):
    group, ids = jobs.submit_group([spec(synthetic_data, recipe=r, epochs=40) for r in ("baseline", "augmented")],
                                   owner="teacher", label=jobs.REPRODUCE_LABEL)
    queue = jobs.get_queue()
    wait_until(lambda: queue.get(ids[0]).state == RUNNING, what="the group's first job")
    queue.stop_group(group)
    finished = [queue.wait(i, timeout=TIMEOUT) for i in ids]
    assert [j.state for j in finished] == [STOPPED, STOPPED]
    assert finished[1].started is None  # never started


def test_stopping_a_running_job_keeps_finished_epochs_and_saves(synthetic_data):
    queue = jobs.get_queue()
    job_id = jobs.submit(spec(synthetic_data, epochs=60))
    wait_until(lambda: len(queue.get(job_id).history) >= 2, what="two epochs")
    queue.stop(job_id)
    job = queue.wait(job_id, timeout=TIMEOUT)
    assert job.state == STOPPED and job.error is None
    assert 2 <= len(job.history) < 60
    assert job.phase == f"Stopped after {len(job.history)} epochs"
    run = runs.find_run(job.run_id)
    assert run.stopped and run.epochs == len(job.history) and run.epochs_requested == 60
    assert [h["epoch"] for h in run.history] == list(range(1, len(job.history) + 1))


def test_stopping_before_the_first_epoch_saves_nothing(synthetic_data):
    queue = jobs.get_queue()
    job_id = queue.submit(spec(synthetic_data, epochs=30))
    queue.stop(job_id)  # asked before any worker ran it: cancelled
    jobs.ensure_workers()
    job = queue.wait(job_id, timeout=TIMEOUT)
    assert job.state == STOPPED and job.history == [] and job.run_id is None
    assert runs.list_runs().runs == []


def test_a_failing_job_does_not_stop_the_worker(synthetic_data, tmp_path):
    queue = jobs.get_queue()
    bad = jobs.submit(JobSpec("baseline", 1, NO_AUGMENTATION, str(tmp_path / "no-such-folder"), min_steps=0))
    good = jobs.submit(spec(synthetic_data))
    failed = queue.wait(bad, timeout=TIMEOUT)
    assert failed.state == FAILED and failed.phase == "Failed"
    assert failed.error.startswith("The dataset path") and "does not exist" in failed.error
    assert "Traceback" not in failed.error
    assert queue.wait(good, timeout=TIMEOUT).state == DONE


def test_an_unexpected_error_is_one_sentence_and_the_worker_goes_on(synthetic_data, monkeypatch):
    queue = jobs.get_queue()
    job_id = queue.submit(spec(synthetic_data))

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(job_run, "run_job", boom)  # what the worker calls
    job = queue.claim("test:1")
    worker.run_one(queue, job, threading.Event())  # the worker's own handling, in this process
    failed = queue.get(job_id)
    assert failed.state == FAILED
    assert failed.error == "Training failed unexpectedly (RuntimeError: out of memory)."


def test_job_reports_progress_while_running(synthetic_data):
    queue = jobs.get_queue()
    job_id = jobs.submit(spec(synthetic_data, epochs=3))
    seen = set()

    def progressed():
        job = queue.get(job_id)
        if job.state == RUNNING and job.batch is not None:
            seen.add((job.batch.epoch, job.batch.step, job.batch.steps))
        return job.state in jobs.FINISHED

    wait_until(progressed, what="the job to finish")
    job = queue.get(job_id)
    assert job.state == DONE and [h["epoch"] for h in job.history] == [1, 2, 3]
    # (1, 0, 2), if the poll saw it: the plan, before the first batch (training.Observer.on_plan)
    assert seen and all(steps == 2 and 1 <= step <= 2 for epoch, step, steps in seen if (epoch, step) != (1, 0))
    assert job.test_accuracy is not None and job.phase == "Finished"


def test_the_queue_outlives_the_processes_that_used_it(synthetic_data):
    # What the server wrote is in the file: a new Queue (a restarted server) sees it, and a
    # worker started later trains what waited.
    first = jobs.get_queue().submit(spec(synthetic_data, label="before the restart"))
    restarted = jobs.Queue()
    assert [j.job_id for j in restarted.active()] == [first]
    jobs.ensure_workers()
    assert restarted.wait(first, timeout=TIMEOUT).state == DONE


def test_workers_start_again_right_after_a_shutdown(synthetic_data):
    """A worker lets go of its slot a moment before its process ends (TensorFlow's teardown). A
    shutdown waits for the processes it started, so starting workers at once starts one, not none
    (a worker still ending had passed for one still starting)."""
    queue = jobs.get_queue()
    assert queue.wait(jobs.submit(spec(synthetic_data)), timeout=TIMEOUT).state == DONE
    worker.shutdown_workers()
    assert all(process.poll() is not None for (home, _), process in worker._spawned.items()
               if home == str(queue.home))
    assert jobs.ensure_workers() == 1
    assert queue.wait(jobs.submit(spec(synthetic_data, epochs=2)), timeout=TIMEOUT).state == DONE


def test_several_workers_share_the_cores_and_one_keeps_tensorflows_default():
    probe = ("import json, os; from catdog_core.jobs.worker import share_cores; import tensorflow as tf; "
             "n = share_cores(int(os.environ['N'])); t = tf.config.threading; "
             "print(json.dumps([n, t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads(), "
             "len(os.sched_getaffinity(0))]))")
    for workers in (1, 2):
        done = subprocess.run([sys.executable, "-c", probe], env=subprocess_env(N=str(workers)), cwd=REPO,
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr[-2000:]
        threads, intra, inter, cores = json.loads(done.stdout.splitlines()[-1])
        if workers == 1:
            assert (threads, intra, inter) == (0, 0, 0)  # 0: TensorFlow picks (every core)
        else:
            assert threads == intra == inter == max(1, cores // 2)


def _worker_pid(queue) -> int:
    return wait_until(lambda: next((w["pid"] for w in queue.workers()), None), what="a registered worker")


def test_workers_train_at_a_lower_cpu_priority_than_the_server(synthetic_data):
    """So that pages and the model service stay quick while a class trains."""
    queue = jobs.get_queue()
    job_id = jobs.submit(spec(synthetic_data))
    pid = _worker_pid(queue)
    assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + worker.NICENESS
    assert queue.wait(job_id, timeout=TIMEOUT).state == DONE


def test_a_killed_worker_loses_only_the_running_epoch(synthetic_data):
    queue = jobs.get_queue()
    job_id = jobs.submit(spec(synthetic_data, epochs=200))
    wait_until(lambda: len(queue.get(job_id).history) >= 3, what="three epochs")
    os.kill(_worker_pid(queue), signal.SIGKILL)  # no cleanup, no handlers: the power goes out
    wait_until(lambda: not worker.slot_alive(queue.home, "0"), what="the worker to be gone")
    done_before = len(queue.get(job_id).history)
    jobs.ensure_workers()  # the next worker finds the job and saves its finished epochs
    job = queue.wait(job_id, timeout=TIMEOUT)
    assert job.state == STOPPED and "worker stopped" in job.phase
    run = runs.find_run(job.run_id)
    assert run.stopped and done_before <= run.epochs <= done_before + 1
    assert run.test_accuracy is not None
    assert runs.load_model(run).output_shape[-1] == 2


def test_sigterm_stops_the_job_after_its_batch_and_saves_it(synthetic_data):
    queue = jobs.get_queue()
    job_id = jobs.submit(spec(synthetic_data, epochs=200))
    wait_until(lambda: len(queue.get(job_id).history) >= 2, what="two epochs")
    os.kill(_worker_pid(queue), signal.SIGTERM)
    job = queue.wait(job_id, timeout=TIMEOUT)
    assert job.state == STOPPED and job.run_id
    assert runs.find_run(job.run_id).epochs >= 2
    wait_until(lambda: not worker.slot_alive(queue.home, "0"), what="the worker to exit")


def test_the_command_line_joins_the_queue(synthetic_data, shared_weights):
    queue = jobs.get_queue()
    running = jobs.submit(spec(synthetic_data, epochs=40, label="the app's job"), owner="session ab12")
    wait_until(lambda: queue.get(running).state == RUNNING, what="the app's job to start")
    env = subprocess_env(CATDOG_DATA_DIR=str(synthetic_data))
    cli = subprocess.Popen([sys.executable, "-m", "catdog_core", "train", "--recipe", "baseline", "--epochs", "1",
                            "--min-steps", "0", "--json"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(queue.active()) == 2, what="the command line's job in the queue")
    queue.stop(running)
    out, err = cli.communicate(timeout=TIMEOUT)
    assert cli.returncode == 0, err[-2000:]
    assert "waits in the queue at position 1; now training: job" in err and "the app's job" in err
    assert "Traceback" not in err and "tensorflow" not in err.lower()
    assert out.strip().splitlines()[-1].startswith('{"run"')


def test_the_command_line_trains_in_its_own_process_when_no_worker_is_alive(synthetic_data):
    """No second process starts TensorFlow for a command-line job, and none stays behind holding
    memory; the job is still in the queue (the app shows it), trained by the command's own pid."""
    queue = jobs.get_queue()
    env = subprocess_env(CATDOG_DATA_DIR=str(synthetic_data))
    done = subprocess.run([sys.executable, "-m", "catdog_core", "train", "--recipe", "baseline", "--epochs", "1",
                           "--min-steps", "0", "--json"], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    (job,) = queue.jobs()
    assert job.state == DONE and job.run_id == json.loads(done.stdout.splitlines()[-1])["run"]
    assert job.worker.startswith("here-") and job.owner.startswith("command line (pid ")
    assert job.worker.split(":")[1] in job.owner  # the command's own process trained it
    assert queue.workers() == [] and not any(worker.slot_alive(queue.home, s) for s in worker.slots())
    assert not list((queue.home / "locks").glob("worker-here-*"))  # its lock file went with it


@pytest.mark.long  # 119 s in CI, the slowest test outside the browser flow; bench_quick measures the same warm-up
def test_a_warm_worker_prepares_the_default_dataset_before_any_job(synthetic_data, shared_weights):
    """What the app starts with its server: the worker decodes the default data and caches the
    frozen base's features, reporting where the sidebar shows it; a quick job then only trains."""
    from catdog_core import features

    env = subprocess_env(CATDOG_DATA_DIR=str(synthetic_data))
    done = subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--warm", "--idle", "0"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and "warm-up done" in done.stderr, done.stderr[-2000:]
    status = json.loads((jobs.get_queue().home / "status" / "warm.json").read_text())
    assert status["state"] == "done" and jobs.warm_status() is None  # nothing to show once done
    data = dataset.load_dataset(synthetic_data)
    cached = list((features.cache_dir() / "features").glob(f"*-{data.key}-*.npy"))
    assert sorted(p.name.rsplit("-", 1)[1] for p in cached) == ["test.npy", "train.npy", "validation.npy"]
    # The base's weights are stored for runs to link: the first quick run saves in milliseconds.
    assert len(list((jobs.get_queue().home / "bases").glob("*.weights.h5"))) == 1
    # A second worker warms up from what the first one left: no second decode, no second pass.
    status_dir = jobs.get_queue().home / "status"
    # This dataset's files and the conversion marker only: the other test process shares the cache
    # and writes (and prunes) its own datasets' files meanwhile.
    before = {p: p.stat().st_ino for p in features.cache_dir().rglob("*")
              if p.is_file() and (data.key in p.name or p.name.startswith("converted-"))}
    assert any("decoded" in str(p) for p in before) and len(before) >= 5
    env2 = dict(env, CATDOG_WORKERS="2")
    done = subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--slot", "1", "--warm", "--idle", "0"],
                          env=env2, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and "warm-up done" in done.stderr, done.stderr[-2000:]
    assert json.loads((status_dir / "warm-1.json").read_text())["state"] == "done"
    assert {p: p.stat().st_ino for p in before} == before  # read (and touched), not written again
    # While the first worker's warm-up runs, a second one waits for nothing: idle, it exits on time.
    (status_dir / "warm-1.json").unlink()
    (status_dir / "warm.json").write_text(json.dumps({"state": "running", "phase": "Checking the files",
                                                       "done": 0, "total": 0, "pid": os.getpid()}))
    done = subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--slot", "1", "--warm", "--idle", "0"],
                          env=env2, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and "warm-up" not in done.stderr, done.stderr[-2000:]
    assert not (status_dir / "warm-1.json").exists()
    # Missing data is skipped with a reason, never a crash or a download.
    env = subprocess_env(CATDOG_DATA_DIR=str(synthetic_data.parent / "nowhere"))
    done = subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--warm", "--idle", "0"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and "warm-up skipped (DatasetUnavailable" in done.stderr, done.stderr[-2000:]


def test_an_idle_worker_gives_what_it_froze_back_to_the_collector():
    """A busy worker freezes its long-lived objects after each job (cheap collections); once idle it
    unfreezes and collects, so nothing that died in a cycle while frozen stays for good."""
    import gc

    class Cycle:
        def __init__(self):
            self.me = self

    gc.collect()
    probe = Cycle()
    alive = __import__("weakref").ref(probe)
    gc.freeze()
    del probe
    gc.collect()
    assert alive() is not None  # frozen: the collector does not see it
    worker.release_memory()
    assert gc.get_freeze_count() == 0 and alive() is None


def test_two_workers_train_two_jobs_at_once(synthetic_data, monkeypatch):
    monkeypatch.setenv("CATDOG_WORKERS", "2")
    queue = jobs.get_queue()
    ids = [jobs.submit(spec(synthetic_data, epochs=4, label=f"job {i}")) for i in range(2)]
    both = [queue.wait(i, timeout=TIMEOUT) for i in ids]
    assert [j.state for j in both] == [DONE, DONE]
    assert both[1].started < both[0].finished  # they overlapped
    assert {j.worker.split(":")[0] for j in both} == {"0", "1"}


def test_eta_counts_down_within_an_epoch_and_keeps_stages_apart():
    job = JobState(1, JobSpec("transfer", 5, fine_tune_epochs=2))
    assert job.eta() is None  # queued
    job.state = RUNNING
    assert job.eta() is None  # no batch timed yet
    # Epoch 1 of 5 frozen ones, 10 steps, 4 done in 2 s: 0.5 s a step.
    batch = BatchReport(epoch=1, step=4, steps=10, loss=0.5, accuracy=0.5, epochs=7, stage="frozen", seconds=2.0)
    job.batch = batch
    first = job.eta()
    assert first.seconds == pytest.approx(6 * 0.5 + 4 * 5.0) and not first.whole  # fine-tuning not timed yet
    job.batch = replace(batch, step=8, seconds=4.0)
    assert job.eta().seconds < first.seconds  # it counts down as batches finish
    # Two frozen epochs took 4 s each: the third is half done.
    job.history = [{"stage": "frozen", "seconds": 4.0}] * 2
    job.batch = replace(batch, epoch=3, step=5, seconds=2.0)
    assert job.eta().seconds == pytest.approx(2.0 + 2 * 4.0)
    # Fine-tuning: 20 s an epoch is measured on its own batches, not on the fast frozen epochs.
    job.history += [{"stage": "frozen", "seconds": 4.0}] * 3
    job.batch = replace(batch, stage="fine-tune", epoch=6, step=2, seconds=4.0)
    fine = job.eta()
    assert fine.whole and fine.seconds == pytest.approx(8 * 2.0 + 1 * 20.0)
    # Views drawn at different moments show one figure: the estimate counts down from the report's time.
    job.batch = replace(job.batch, at=1000.0)
    assert job.eta(now=1000.0).seconds == pytest.approx(fine.seconds)
    assert job.eta(now=1005.0).seconds == pytest.approx(fine.seconds - 5.0)
    assert job.eta(now=1e6).seconds == 0.0
    job.state = DONE
    assert job.eta() is None


def test_quick_spec_is_the_quick_preset():
    quick = jobs.quick_spec("/data")
    assert quick.recipe == "transfer" and quick.epochs == jobs.QUICK.epochs and quick.data == "/data"
    assert quick.settings.is_identity and quick.use_cache and quick.learning_rate == jobs.QUICK.learning_rate
    assert JobSpec.from_dict(quick.to_dict()) == quick  # what the queue and Ray tasks carry

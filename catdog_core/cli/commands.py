"""The command line's commands, one function each: arguments in, an exit code out.

COMMANDS names them all. The commands that go through the training queue (train, reproduce,
worker, jobs) are here; the others live beside this module by what they do: reports (info, runs,
evaluate), predicting (predict), exports (export, script, map), augment_check, classroom.
"""

from __future__ import annotations

import json
import os
import sys
import time

from .augment_check import augment_text, cmd_augment_check
from .classroom import cmd_classroom
from .exports import cmd_export, cmd_map, cmd_script
from .follow import ended, follow, result_line
from .predicting import PREDICT_BATCH, cmd_predict
from .progress import Bar, pct
from .reports import cmd_evaluate, cmd_info, cmd_runs

__all__ = ["COMMANDS", "PREDICT_BATCH", "augment_text", "cmd_augment_check", "cmd_classroom", "cmd_evaluate",
           "cmd_export", "cmd_info", "cmd_jobs", "cmd_map", "cmd_predict", "cmd_reproduce", "cmd_runs", "cmd_script",
           "cmd_train", "cmd_worker"]


def cmd_train(args) -> int:
    from .. import jobs
    from ..augment import AugmentSettings

    if args.quick:
        epochs = jobs.QUICK.epochs if args.epochs is None else args.epochs
        settings, learning_rate = jobs.QUICK.settings, jobs.QUICK.learning_rate
    else:
        learning_rate = None
        epochs = 20 if args.epochs is None else args.epochs
        settings = AugmentSettings(flip=args.flip, rotation=args.rotation)
    spec = jobs.JobSpec(args.recipe, epochs, settings, args.data, use_cache=not args.no_cache,
                        learning_rate=learning_rate, fine_tune_epochs=args.fine_tune_epochs,
                        fine_tune_at=args.fine_tune_at, label=jobs.quick_spec().label if args.quick else "",
                        min_steps=max(0, args.min_steps), variants=args.variants)
    jobs.check_spec(spec)  # refused before the dataset is decoded (`or 20` once took 0 as 20)
    bar = Bar()
    started = time.perf_counter()
    queue = jobs.get_queue()
    # Trained here unless a worker is alive: no second TensorFlow start, no worker left behind.
    job_id, here = jobs.submit_here(spec, owner=f"command line (pid {os.getpid()})")
    (job,) = follow(queue, [job_id], bar)
    if here is not None:
        here.join()
    run = ended(job, bar)
    if run is None:
        return 1
    seconds = time.perf_counter() - started
    for note in run.notes:
        bar.line(f"note: {note}")
    bar.line(f"{result_line(run)}; {seconds:.1f} s ({run.path})")
    if args.json:
        print(json.dumps({"run": run.run_id, "recipe": run.recipe, "epochs": run.epochs, "stopped": run.stopped,
                          "val_accuracy": run.val_accuracy, "val_count": run.val_count,
                          "test_accuracy": run.test_accuracy, "test_count": run.test_count,
                          "seconds": round(seconds, 2), "job": job_id}))
    return 0


def cmd_reproduce(args) -> int:
    """The post's four models as one group of jobs, then a table beside the post's numbers."""
    from .. import jobs, runs

    bar = Bar()
    specs = jobs.post_specs(args.data, 20 if args.epochs is None else args.epochs,
                                min_steps=max(0, args.min_steps))
    _, ids = jobs.submit_group(specs, owner=f"command line (pid {os.getpid()})", label=jobs.REPRODUCE_LABEL)
    bar.line(f"queued jobs {', '.join(map(str, ids))}: the post's four models, one after another")
    states = follow(jobs.get_queue(), ids, bar)
    failed = [job for job in states if job is not None and job.state == jobs.FAILED]
    for job in failed:
        bar.line(f"job {job.job_id} ({job.spec.recipe}) failed: {job.error}")
    listing = runs.list_runs().runs
    by_id = {run.run_id: run for run in listing}
    rows = runs.post_comparison(listing, jobs.REPRODUCE_LABEL)
    bar.line(f"{'model':28} {'post val':>9} {'our val':>8} {'our test':>9} {'s/epoch':>8}")
    for row in rows:
        run = by_id.get(row["run"])
        per_epoch = sum(h["seconds"] for h in run.history) / max(1, len(run.history)) if run else float("nan")
        bar.line(f"{row['model']:28} {pct(row['post val acc']):>9} {pct(row['our val acc']):>8} "
                 f"{pct(row['our test acc']):>9} {per_epoch:8.1f}")
    if args.json:
        print(json.dumps(rows))
    return 1 if failed else 0


def cmd_worker(args) -> int:
    """Run (or look at, or stop) the training workers of this CATDOG_HOME."""
    from ..jobs import worker

    if args.stop:
        worker.shutdown_workers()
        print("workers asked to stop; running jobs keep their finished epochs", file=sys.stderr)
        return 0
    if args.status:
        for line in worker.describe():
            print(line)
        return 0
    return worker.main(args.slot, args.idle, warm=args.warm)


def cmd_jobs(args) -> int:
    """The queue: running and queued jobs, and the latest finished ones; --stop ID or --stop-all."""
    from .. import jobs

    queue = jobs.get_queue()
    if args.stop_all:
        queue.stop_all()
    for job_id in args.stop or []:
        queue.stop(job_id)
    listed = queue.jobs(limit=args.limit)
    for job in reversed(listed):
        where = (f"position {job.queue_position}" if job.state == jobs.QUEUED else
                 f"epoch {job.batch.epoch if job.batch else 0}/{job.epochs_total}" if job.state == jobs.RUNNING else
                 job.run_id or job.error or job.phase)
        print(f"{job.job_id:>5}  {job.state:<8} {job.title[:40]:<40} {job.owner[:28]:<28} {where}")
    if args.json:
        print(json.dumps([{"job": j.job_id, "state": j.state, "recipe": j.spec.recipe, "owner": j.owner,
                           "position": j.queue_position, "run": j.run_id, "error": j.error} for j in listed]))
    return 0


COMMANDS = {"info": cmd_info, "train": cmd_train, "reproduce": cmd_reproduce, "runs": cmd_runs,
            "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "worker": cmd_worker,
            "script": cmd_script, "map": cmd_map, "augment-check": cmd_augment_check,
            "jobs": cmd_jobs, "classroom": cmd_classroom}

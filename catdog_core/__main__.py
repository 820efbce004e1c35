"""The command line: look at the data, train, evaluate and predict without a browser.

    python -m catdog_core info
    python -m catdog_core train --recipe transfer --epochs 2 [--quick] [--json]
    python -m catdog_core runs
    python -m catdog_core evaluate latest
    python -m catdog_core predict latest photo.jpg ... [--explain OUTDIR]
    python -m catdog_core export latest --format tflite --out exported/
    python -m catdog_core script latest --out retrain.py
    python -m catdog_core map latest --out map.html

Errors a user can cause end with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal

from . import config  # noqa: E402
from .errors import CatdogError  # noqa: E402


class Bar:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    open_line = False  # a bar is drawn and its line not yet ended

    def __init__(self, stream=None):
        # sys.stderr is looked up now, not when this module loaded: quiet mode replaces it.
        self.stream, self.last, self.shown = stream or sys.stderr, 0.0, False

    def __call__(self, done: int, total: int, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1 and done != total:
            return
        self.last = now
        if total:
            filled = int(30 * done / total)
            text = f"\r{message[:40]:<40} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
        else:
            text = f"\r{message[:40]:<40}"
        self.stream.write(text.ljust(90))
        self.stream.flush()
        self.shown = Bar.open_line = True

    @classmethod
    def end_open_line(cls) -> None:
        """Finish a half-drawn bar so an error message starts on its own line."""
        if cls.open_line:
            sys.stderr.write("\n")
            cls.open_line = False

    def line(self, text: str) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 90 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = Bar.open_line = False


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def cmd_info(args) -> int:
    from . import dataset

    bar = Bar()
    data = dataset.load_dataset(args.data, progress=bar)
    counts = dataset.label_counts(data)
    bar.line(f"source: {data.source.description} ({data.source.root})")
    for split, per_class in counts.items():
        bar.line(f"{split:>10}: " + ", ".join(f"{n} {c}" for c, n in per_class.items()))
    tied = dataset.majority_classes(data)
    guess = tied[0] if len(tied) == 1 else f"any one of {', '.join(tied)} (tied)"
    bar.line(f"majority-class baseline: {dataset.majority_baseline(data):.0%} (always answering {guess})")
    bar.line(f"skipped files: {len(data.skipped)}")
    for s in data.skipped[:20]:
        bar.line(f"  {s.path}: {s.reason}")
    for note in data.notes:
        bar.line(f"note: {note}")
    if args.json:
        print(json.dumps({"source": data.source.description, "root": str(data.source.root),
                          "classes": list(data.class_names), "counts": counts,
                          "skipped": [{"file": s.path, "reason": s.reason} for s in data.skipped]}))
    return 0


def _result_line(run) -> str:
    from .metrics import verdict

    return (f"run {run.run_id}: val_acc {verdict(run.val_accuracy, run.val_count)}; "
            f"test_acc {verdict(run.test_accuracy, run.test_count)}")


def _follow(queue, job_ids: list[int], bar: Bar) -> list:
    """Show the jobs' progress until every one has ended; returns their final states.

    Ctrl-C or SIGTERM asks them to stop after the current batch (the finished
    epochs are saved by the worker) and keeps following; a second one leaves at once.
    """
    import signal

    from . import jobs

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
                    if job.phase == "Training" and batch is not None and batch.steps:
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


def _ended(job, bar: Bar):
    """The saved run of a finished job, or None after saying why there is none."""
    from . import jobs, runs

    if job.state == jobs.FAILED:
        raise CatdogError(job.error or "training failed")
    if not job.run_id:
        bar.line(f"{job.phase}: nothing saved")
        return None
    return runs.find_run(job.run_id)


def cmd_train(args) -> int:
    from . import jobs, training
    from .augment import AugmentSettings

    if args.quick:
        epochs = training.QUICK.epochs if args.epochs is None else args.epochs
        settings, learning_rate = training.QUICK.settings, training.QUICK.learning_rate
    else:
        learning_rate = None
        epochs = 20 if args.epochs is None else args.epochs
        settings = AugmentSettings(flip=args.flip, rotation=args.rotation)
    if not 1 <= epochs <= training.MAX_EPOCHS:  # refuse before decoding the dataset (`or 20` took 0 as 20)
        raise CatdogError(f"Epochs must be a whole number from 1 to {training.MAX_EPOCHS}, not {epochs}.")
    spec = jobs.JobSpec(args.recipe, epochs, settings, args.data, use_cache=not args.no_cache,
                            learning_rate=learning_rate, fine_tune_epochs=args.fine_tune_epochs,
                            fine_tune_at=args.fine_tune_at, label="quick" if args.quick else "",
                            min_steps=max(0, args.min_steps))
    bar = Bar()
    started = time.perf_counter()
    queue = jobs.get_queue()
    job_id = jobs.submit(spec, owner=f"command line (pid {os.getpid()})")
    (job,) = _follow(queue, [job_id], bar)
    run = _ended(job, bar)
    if run is None:
        return 1
    seconds = time.perf_counter() - started
    for note in run.notes:
        bar.line(f"note: {note}")
    bar.line(f"{_result_line(run)}; {seconds:.1f} s ({run.path})")
    if args.json:
        print(json.dumps({"run": run.run_id, "recipe": run.recipe, "epochs": run.epochs, "stopped": run.stopped,
                          "val_accuracy": run.val_accuracy, "val_count": run.val_count,
                          "test_accuracy": run.test_accuracy, "test_count": run.test_count,
                          "seconds": round(seconds, 2), "job": job_id}))
    return 0


def cmd_reproduce(args) -> int:
    """The post's four models as one group of jobs, then a table beside the post's numbers."""
    from . import jobs, runs

    bar = Bar()
    specs = jobs.post_specs(args.data, 20 if args.epochs is None else args.epochs,
                                min_steps=max(0, args.min_steps))
    _, ids = jobs.submit_group(specs, owner=f"command line (pid {os.getpid()})", label=jobs.REPRODUCE_LABEL)
    bar.line(f"queued jobs {', '.join(map(str, ids))}: the post's four models, one after another")
    states = _follow(jobs.get_queue(), ids, bar)
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
        bar.line(f"{row['model']:28} {_pct(row['post val acc']):>9} {_pct(row['our val acc']):>8} "
                 f"{_pct(row['our test acc']):>9} {per_epoch:8.1f}")
    if args.json:
        print(json.dumps(rows))
    return 1 if failed else 0


def cmd_script(args) -> int:
    """A standalone Python script that retrains a run's recipe and settings (no catdog needed)."""
    from pathlib import Path

    from . import codegen, runs
    from .fileio import write_atomic

    run = runs.find_run(args.run)
    code = codegen.for_run(run)
    if not args.out:
        print(code)
        return 0
    target = Path(args.out)
    try:
        write_atomic(target, code.encode("utf-8"))
    except OSError as exc:
        raise CatdogError(f"Cannot write {target} ({exc.strerror or exc}).") from None
    print(f"wrote {target}: python {target} --data FOLDER --epochs N", file=sys.stderr)
    return 0


def cmd_map(args) -> int:
    """The embedding map of a run as a self-contained HTML page."""
    from pathlib import Path

    from . import dataset, embedding, runs

    run = runs.find_run(args.run)
    bar = Bar()
    data = dataset.load_dataset(args.data, progress=bar)
    fig, seconds = embedding.build(run, data, args.method)
    try:
        embedding.write_html(fig, Path(args.out))
    except OSError as exc:
        raise CatdogError(f"Cannot write {args.out} ({exc.strerror or exc}).") from None
    count = len(data.validation) + len(data.test)
    bar.line(f"wrote {args.out}: {count} images of run {run.run_id} mapped in {seconds:.1f} s")
    if args.json:
        print(json.dumps({"run": run.run_id, "out": str(args.out), "images": count, "seconds": round(seconds, 2)}))
    return 0


def cmd_worker(args) -> int:
    """Run (or look at, or stop) the training workers of this CATDOG_HOME."""
    from .jobs import worker

    if args.stop:
        worker.shutdown_workers()
        print("workers asked to stop; running jobs keep their finished epochs", file=sys.stderr)
        return 0
    if args.status:
        for line in worker.describe():
            print(line)
        return 0
    return worker.main(args.slot, args.idle)


def cmd_jobs(args) -> int:
    """The queue: running and queued jobs, and the latest finished ones; --stop ID or --stop-all."""
    from . import jobs

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


def cmd_runs(args) -> int:
    from . import runs

    listing = runs.list_runs()
    for run in listing.runs:
        row = run.row()
        print(f"{row['run']:<40} {row['recipe']:<10} epochs {row['epochs']!s:<6} "
              f"val {_pct(run.val_accuracy):>6} test {_pct(run.test_accuracy):>6}")
    for problem in listing.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not listing.runs:
        print(f"no runs yet in {runs.runs_dir()}", file=sys.stderr)
    return 0


def _confusion_lines(ev) -> list[str]:
    """The confusion matrix as a small text table: rows true, columns predicted."""
    names = [n[:12] for n in ev.class_names]
    width = max(6, *(len(n) for n in names))
    lines = [f"confusion ({ev.split}; rows true, columns predicted):",
             " " * (width + 2) + " ".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, ev.confusion):
        lines.append(f"{name:>{width}}: " + " ".join(f"{int(c):>{width}}" for c in row))
    return lines


def cmd_evaluate(args) -> int:
    from . import dataset, evaluate, metrics, runs

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    bar = Bar()
    data = dataset.load_dataset(args.data, progress=bar)
    results, counts, detail = {}, {}, None
    for split in ("validation", "test"):
        if not len(data.split(split)):
            continue
        detail = evaluate.evaluate_run(model, data, run.class_names, split)  # refuses other classes
        results[f"{split}_accuracy"] = detail.accuracy
        counts[split] = detail.count
    bar.line(f"run {run.run_id} ({run.recipe}) answered:")
    for split, count in counts.items():
        bar.line(f"  {split}: {metrics.verdict(results[f'{split}_accuracy'], count)}")
    # Per class and confusion for the last split evaluated: test, or validation when test is empty.
    print(f"per class ({detail.split}): " + ", ".join(f"{n} {_pct(a)}" for n, a in detail.per_class.items()),
          file=sys.stderr)
    for line in _confusion_lines(detail):
        print(line, file=sys.stderr)
    if args.json:
        print(json.dumps({"run": run.run_id, "recipe": run.recipe, **results,
                          **{f"{s}_count": c for s, c in counts.items()},
                          **{f"{s}_interval": list(metrics.interval(results[f"{s}_accuracy"], c))
                             for s, c in counts.items()},
                          "split": detail.split, "per_class": detail.per_class,
                          "confusion": detail.confusion.tolist()}))
    return 0


def _read_image_file(path) -> bytes:
    """An image file's bytes, refusing what is not a plain file or is too big, before reading it."""
    import stat

    from .images import MAX_UPLOAD_BYTES

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CatdogError("no such file.") from None
    except OSError as exc:
        raise CatdogError(f"cannot read it ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise CatdogError("it is a folder, not an image file.")
    if not stat.S_ISREG(st.st_mode):
        raise CatdogError("it is not a regular file (a pipe or a device), so it is not read.")
    if st.st_size > MAX_UPLOAD_BYTES:
        raise CatdogError(f"the file is over the {MAX_UPLOAD_BYTES // 2**20} MB limit.")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            return f.read(MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise CatdogError(f"cannot read it ({exc.strerror or exc}).") from None


def cmd_predict(args) -> int:
    from pathlib import Path

    from . import predict, runs

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    print(f"run {run.run_id} ({run.recipe}, classes {', '.join(run.class_names)}) answers:", file=sys.stderr)
    explain_dir = _explain_dir(model, args.explain) if args.explain else None
    failures = 0
    for name in args.images:
        try:
            path = Path(name)
            shown, pred = predict.classify_bytes(model, _read_image_file(path), run.class_names)
            written = _write_gradcam(model, shown, explain_dir / f"{path.stem}_gradcam.png") if explain_dir else None
        except CatdogError as exc:
            failures += 1
            print(json.dumps({"file": name, "run": run.run_id, "error": str(exc)}) if args.json
                  else f"{name}: error: {exc}")
            continue
        if args.json:
            line = {"file": name, "run": run.run_id, "label": pred.label, "probabilities": pred.probabilities}
            print(json.dumps({**line, "explain": str(written)} if written else line))
        else:
            print(f"{name}: {pred.label} ({pred.confidence:.1%})" + (f"; Grad-CAM in {written}" if written else ""))
    return 1 if failures else 0


def _explain_dir(model, folder: str):
    """The --explain folder, created; refuses models Grad-CAM cannot explain before any work."""
    from pathlib import Path

    from . import explain

    if not explain.supports(model):
        raise CatdogError(explain.UNSUPPORTED)
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatdogError(f"Cannot write Grad-CAM images to {path} ({exc.strerror or exc}); "
                          "choose a folder you can write to.") from None
    return path


def _write_gradcam(model, image, target):
    """The Grad-CAM overlay of the predicted class as a PNG, written under a temporary name first."""
    from PIL import Image

    from . import explain
    from .fileio import write_atomic

    painted = explain.overlay(image, explain.grad_cam(model, image))
    try:
        write_atomic(target, lambda f: Image.fromarray(painted).save(f, format="PNG"))
    except OSError as exc:
        raise CatdogError(f"Could not write {target} ({exc.strerror or exc}).") from None
    return target


def cmd_export(args) -> int:
    from pathlib import Path

    from . import export, runs

    run = runs.find_run(args.run)
    if args.format == "tflite":
        print("Converting to TensorFlow Lite (a few seconds for MobileNetV2)...", file=sys.stderr)
    model_file = export.export_run(run, args.format, Path(args.out), output=args.output)
    files = [str(model_file), str(export.labels_path(model_file))]
    for f in files:
        print(f"wrote {f}")
    if args.json:
        print(json.dumps({"run": run.run_id, "format": args.format, "output": args.output, "files": files}))
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other user error: exit code 2 and one line on stderr."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    from .models import RECIPES
    from .training import FINE_TUNE_AT, MIN_STEPS

    p = _Parser(prog="catdog", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, help_text):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--json", action="store_true", help="end with one machine-readable JSON line")
        cmd.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
        cmd.add_argument("--data", default=None,
                         help=f"dataset folder or zip (default: ${config.ENV_DATA_DIR}, else download)")
        return cmd

    add("info", "data source, counts per split and class, skipped files")
    t = add("train", "train a recipe and save the run")
    t.add_argument("--recipe", choices=list(RECIPES), default="transfer")
    t.add_argument("--epochs", type=int, default=None, help="default 20 (10 with --quick)")
    t.add_argument("--quick", action="store_true", help="no augmentation, cached features (transfer)")
    t.add_argument("--flip", choices=["none", "horizontal", "vertical", "both"], default="both")
    t.add_argument("--rotation", type=float, default=0.2)
    t.add_argument("--no-cache", action="store_true", help="train the whole model as the post does")
    t.add_argument("--fine-tune-epochs", type=int, default=0,
                   help="after the frozen stage, train the top of MobileNetV2 this many more epochs")
    t.add_argument("--fine-tune-at", type=int, default=FINE_TUNE_AT, help="first MobileNetV2 layer to unfreeze")
    t.add_argument("--min-steps", type=int, default=MIN_STEPS,
                   help=f"optimizer steps a small dataset still gets, in more epochs (default {MIN_STEPS})")
    r = add("reproduce", "train the post's four models with its settings and compare")
    r.add_argument("--epochs", type=int, default=None, help="default: the post's 20")
    r.add_argument("--min-steps", type=int, default=MIN_STEPS, help=argparse.SUPPRESS)
    add("runs", "list saved runs")
    e = add("evaluate", "accuracy of a saved run on validation and test")
    e.add_argument("run", help="run id, a run folder, 'latest' or 'latest:RECIPE'")
    pr = add("predict", "classify image files with a saved run")
    pr.add_argument("run")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--explain", metavar="OUTDIR", default=None,
                    help="also write a Grad-CAM overlay per image to OUTDIR/<name>_gradcam.png (transfer runs)")
    x = add("export", "write a saved run as a .keras file or a TensorFlow Lite model, with labels.txt")
    x.add_argument("run", help="run id, a run folder, 'latest' or 'latest:RECIPE'")
    x.add_argument("--format", choices=["keras", "tflite"], default="keras")
    x.add_argument("--output", choices=["logits", "probabilities"], default="logits",
                   help="what the exported model returns (default: logits, one score per class)")
    x.add_argument("--out", required=True,
                   help="keras: a .keras path or a folder; tflite: a folder (gets model.tflite)")
    sc = add("script", "write a standalone Python script that retrains a run's recipe on any data folder")
    sc.add_argument("run", help="run id, a run folder, 'latest' or 'best'")
    sc.add_argument("--out", default=None, help="the .py file to write (default: print it)")
    mp = add("map", "write the embedding map of a run (held-out images by features) as an HTML page")
    mp.add_argument("run", help="run id, a run folder, 'latest' or 'best'")
    mp.add_argument("--out", required=True, help="the .html file to write")
    mp.add_argument("--method", choices=["pca", "umap"], default="pca", help="umap needs umap-learn")
    w = add("worker", "train queued jobs (started for you when a job is submitted)")
    w.add_argument("--slot", default="0", help=argparse.SUPPRESS)
    w.add_argument("--idle", type=float, default=None, help="seconds to wait for new jobs before exiting")
    w.add_argument("--stop", action="store_true", help="ask this home's workers to stop and exit")
    w.add_argument("--status", action="store_true", help="list this home's workers")
    j = add("jobs", "the training queue: running, queued and recent jobs")
    j.add_argument("--stop", type=int, nargs="+", metavar="ID", help="stop these jobs (queued ones are cancelled)")
    j.add_argument("--stop-all", action="store_true", help="stop every queued and running job")
    j.add_argument("--limit", type=int, default=20, help="how many jobs to list (default 20)")
    return p


COMMANDS = {"info": cmd_info, "train": cmd_train, "reproduce": cmd_reproduce, "runs": cmd_runs,
            "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "worker": cmd_worker,
            "script": cmd_script, "map": cmd_map,
            "jobs": cmd_jobs}


def _quiet() -> None:
    """Keep TensorFlow's, absl's and TFLite's start-up lines off the terminal.

    They are written by C++ straight to file descriptor 2, so that descriptor goes to
    /dev/null and Python's own stderr (progress bars, errors, tracebacks) to a copy of
    the terminal. `--verbose` leaves everything as it is.
    """
    import logging
    import warnings

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="tensorflow|keras|absl")
    try:
        terminal = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
    except OSError:  # no file descriptors to juggle (an embedded interpreter): stay as is
        pass


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.verbose and args.command != "worker" and argv is None:
        _quiet()
    try:
        return COMMANDS[args.command](args)
    except CatdogError as exc:
        Bar.end_open_line()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

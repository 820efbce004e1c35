"""The command line: look at the data, train, evaluate and predict without a browser.

    python -m catdog_core info
    python -m catdog_core train --recipe transfer --epochs 2 [--quick] [--json]
    python -m catdog_core runs
    python -m catdog_core evaluate latest
    python -m catdog_core predict latest photo.jpg ...

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

    def __init__(self, stream=sys.stderr):
        self.stream, self.last, self.shown = stream, 0.0, False

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
        self.shown = True

    def line(self, text: str) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 90 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = False


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
    bar.line(f"majority-class baseline: {dataset.majority_baseline(data):.0%}")
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


class _CliObserver:
    def __init__(self, bar: Bar):
        self.bar = bar

    def on_phase(self, message, done=0, total=0):
        self.bar(done, total, message)

    def on_batch(self, r):
        self.bar(r.step, r.steps, f"epoch {r.epoch}  loss {r.loss:.3f}  acc {r.accuracy:.3f}")

    def on_epoch(self, r):
        self.bar.line(f"epoch {r.epoch}/{r.epochs}: loss {r.loss:.3f} acc {r.accuracy:.3f} "
                      f"val_loss {r.val_loss:.3f} val_acc {r.val_accuracy:.3f} ({r.seconds:.1f} s)")


def cmd_train(args) -> int:
    import signal
    import threading

    from . import dataset, runs, training
    from .augment import AugmentSettings

    if args.quick:
        epochs = args.epochs or training.QUICK.epochs
        settings, learning_rate = training.QUICK.settings, training.QUICK.learning_rate
    else:
        learning_rate = None
        epochs = args.epochs or 20
        settings = AugmentSettings(flip=args.flip, rotation=args.rotation)
    bar = Bar()
    started = time.perf_counter()
    data = dataset.load_dataset(args.data, progress=bar)
    stop = threading.Event()
    # Ctrl-C stops after the current batch and keeps the finished epochs.
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        result = training.train(args.recipe, data, epochs, settings, observer=_CliObserver(bar), stop=stop,
                                use_cache=not args.no_cache, learning_rate=learning_rate,
                                fine_tune_epochs=args.fine_tune_epochs, fine_tune_at=args.fine_tune_at)
    finally:
        signal.signal(signal.SIGINT, previous)
    if not result.epochs_done:
        bar.line("no epoch finished: nothing saved")
        return 1
    run = runs.save_run(result, data.describe(), {"label": "quick" if args.quick else ""})
    seconds = time.perf_counter() - started
    bar.line(f"run {run.run_id}: val_acc {_pct(result.val_accuracy)}, test_acc {_pct(result.test_accuracy)}, "
             f"{seconds:.1f} s ({run.path})")
    if args.json:
        print(json.dumps({"run": run.run_id, "recipe": result.recipe, "epochs": result.epochs_done,
                          "val_accuracy": result.val_accuracy, "test_accuracy": result.test_accuracy,
                          "seconds": round(seconds, 2)}))
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


def cmd_evaluate(args) -> int:
    from . import dataset, predict, runs

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    data = dataset.load_dataset(args.data, progress=Bar())
    if tuple(data.class_names) != tuple(run.class_names):
        raise CatdogError(f"Run {run.run_id} knows classes {list(run.class_names)} but the dataset has "
                          f"{list(data.class_names)}.")
    results = {}
    for split in ("validation", "test"):
        part = data.split(split)
        if not len(part):
            continue
        preds = []
        for start in range(0, len(part), 128):
            preds += predict.classify_batch(model, part.images[start:start + 128], run.class_names)
        correct = sum(p.label == run.class_names[l] for p, l in zip(preds, part.labels))
        results[f"{split}_accuracy"] = correct / len(part)
    print(f"run {run.run_id} ({run.recipe}): " + ", ".join(f"{k} {_pct(v)}" for k, v in results.items()),
          file=sys.stderr)
    if args.json:
        print(json.dumps({"run": run.run_id, "recipe": run.recipe, **results}))
    return 0


def cmd_predict(args) -> int:
    from pathlib import Path

    from . import predict, runs
    from .images import MAX_UPLOAD_BYTES

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    failures = 0
    for name in args.images:
        try:
            path = Path(name)
            if not path.is_file():
                raise CatdogError("no such file.")
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise CatdogError(f"the file is over the {MAX_UPLOAD_BYTES // 2**20} MB limit.")
            _, pred = predict.classify_bytes(model, path.read_bytes(), run.class_names)
        except CatdogError as exc:
            failures += 1
            print(json.dumps({"file": name, "error": str(exc)}) if args.json else f"{name}: error: {exc}")
            continue
        if args.json:
            print(json.dumps({"file": name, "label": pred.label, "probabilities": pred.probabilities}))
        else:
            print(f"{name}: {pred.label} ({pred.confidence:.1%})")
    return 1 if failures else 0


def parser() -> argparse.ArgumentParser:
    from .models import RECIPES

    p = argparse.ArgumentParser(prog="python -m catdog_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, help_text):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--json", action="store_true", help="end with one machine-readable JSON line")
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
    t.add_argument("--fine-tune-at", type=int, default=100, help="first MobileNetV2 layer to unfreeze")
    add("runs", "list saved runs")
    e = add("evaluate", "accuracy of a saved run on validation and test")
    e.add_argument("run", help="run id, a run folder, 'latest' or 'latest:RECIPE'")
    pr = add("predict", "classify image files with a saved run")
    pr.add_argument("run")
    pr.add_argument("images", nargs="+")
    return p


COMMANDS = {"info": cmd_info, "train": cmd_train, "runs": cmd_runs, "evaluate": cmd_evaluate, "predict": cmd_predict}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CatdogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

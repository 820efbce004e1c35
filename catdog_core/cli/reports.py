"""The commands that report and change nothing: the data (`info`), the saved runs (`runs`) and one
run's answers on validation and test (`evaluate`)."""

from __future__ import annotations

import json
import sys

from .progress import Bar, pct


def cmd_info(args) -> int:
    from .. import dataset

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


def cmd_runs(args) -> int:
    from .. import runs

    listing = runs.list_runs()
    if args.json:  # one JSON document: every run, and the folders skipped with why
        print(json.dumps({"runs": [{"run": run.run_id, "recipe": run.recipe, "epochs": run.epochs,
                                    "stopped": run.stopped, "val_accuracy": run.val_accuracy,
                                    "val_count": run.val_count, "test_accuracy": run.test_accuracy,
                                    "test_count": run.test_count, "classes": list(run.class_names),
                                    "label": run.label, "created": run.created, "path": str(run.path)}
                                   for run in listing.runs],
                          "problems": list(listing.problems)}))
        return 0
    for run in listing.runs:
        row = run.row()
        print(f"{row['run']:<40} {row['recipe']:<10} epochs {row['epochs']!s:<6} "
              f"val {pct(run.val_accuracy):>6} test {pct(run.test_accuracy):>6}")
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
    from .. import calibration, dataset, evaluate, metrics, runs

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    bar = Bar()
    data = dataset.load_dataset(args.data, progress=bar)
    results, counts, detail, measured = {}, {}, None, {}
    for split in ("validation", "test"):
        if not len(data.split(split)):
            continue
        detail = measured[split] = evaluate.evaluate_run(model, data, run.class_names, split)  # refuses other classes
        results[f"{split}_accuracy"] = detail.accuracy
        counts[split] = detail.count
    checked = calibration.of_evaluations(measured.get("test"), measured.get("validation"))
    bar.line(f"run {run.run_id} ({run.recipe}) answered:")
    for split, count in counts.items():
        bar.line(f"  {split}: {metrics.verdict(results[f'{split}_accuracy'], count)}")
    # Per class and confusion for the last split evaluated: test, or validation when test is empty.
    print(f"per class ({detail.split}): " + ", ".join(f"{n} {pct(a)}" for n, a in detail.per_class.items()),
          file=sys.stderr)
    for line in _confusion_lines(detail):
        print(line, file=sys.stderr)
    if checked is not None:
        print(checked.summary(), file=sys.stderr)
    if args.json:
        print(json.dumps({"run": run.run_id, "recipe": run.recipe, **results,
                          **(checked.to_dict() if checked is not None else
                             {"calibration_error": None, "calibration_error_after": None, "temperature": None}),
                          **{f"{s}_count": c for s, c in counts.items()},
                          **{f"{s}_interval": list(metrics.interval(results[f"{s}_accuracy"], c))
                             for s, c in counts.items()},
                          "split": detail.split, "per_class": detail.per_class,
                          "confusion": detail.confusion.tolist()}))
    return 0

"""The command line's commands, one function each: arguments in, an exit code out."""

from __future__ import annotations

import json
import os
import sys
import time

from ..errors import CatdogError
from .classroom import cmd_classroom
from .follow import ended, follow, result_line
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


def cmd_script(args) -> int:
    """A standalone Python script that retrains a run's recipe and settings (no catdog needed)."""
    from pathlib import Path

    from .. import codegen, runs
    from ..fileio import write_atomic

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


def cmd_augment_check(args) -> int:
    """Does augmentation help the transfer head? With --sweep, at each of --values."""
    from .. import augcheck, dataset
    from ..augment import AugmentSettings
    from ..errors import InvalidSettings

    settings = AugmentSettings(flip=args.flip, rotation=args.rotation, zoom=args.zoom, translation=args.translation,
                               contrast=args.contrast, brightness=args.brightness, seed=args.seed)
    if args.sweep:
        if not args.values:
            raise InvalidSettings("--sweep needs --values, e.g. --sweep rotation --values 0 0.1 0.2 0.3.")
        values = args.values if args.sweep == "flip" else [_number(v, "--values") for v in args.values]
        plan = augcheck.sweep_values(settings, args.sweep, values)
    else:
        if settings.is_identity:
            raise InvalidSettings("These settings change nothing: give a flip or a rotation, zoom, ... above 0.")
        plan = [settings]
    bar = Bar()
    data = dataset.load_dataset(args.data, progress=bar)
    started = time.perf_counter()
    found = augcheck.check_many(data, plan, variants=args.variants, seeds=args.seeds,
                                on_phase=lambda m, d=0, t=0: bar(d, t, m))
    seconds = time.perf_counter() - started
    bar.line(f"{'setting':<32} {'with':>15} {'without':>15}  verdict")
    for settings_, result in zip(plan, found):
        shown = f"{args.sweep} {getattr(settings_, args.sweep)}" if args.sweep else augment_text(settings_)
        bar.line(f"{shown[:32]:<32} {pct(result.with_mean):>8} ± {result.with_spread * 100:4.1f} "
                 f"{pct(result.without_mean):>8} ± {result.without_spread * 100:4.1f}  {result.verdict}")
    bar.line(f"{data.source.description}: {len(data.train)} training photos × {args.variants} copies, "
             f"{args.seeds} seeds, {len(data.validation)} validation photos; {seconds:.1f} s")
    if args.json:
        rows = [{**r.summary(), "settings": r.settings} for r in found]
        last = {**rows[-1], "seconds": round(seconds, 2)}
        if args.sweep:
            last["sweep"] = [{"value": getattr(p, args.sweep), **r} for p, r in zip(plan, rows)]
        print(json.dumps(last))
    return 0


def augment_text(settings) -> str:
    from ..augment import describe

    return describe(settings)


def _number(text: str, what: str) -> float:
    from ..errors import InvalidSettings

    try:
        return float(text)
    except ValueError:
        raise InvalidSettings(f"{what} takes numbers here, not {text[:40]!r}.") from None


def cmd_map(args) -> int:
    """The embedding map of a run as a self-contained HTML page."""
    from pathlib import Path

    from .. import dataset, embedding, runs

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


def _read_image_file(path) -> bytes:
    """An image file's bytes, refusing what is not a plain file or is too big, before reading it."""
    import stat

    from ..images import MAX_UPLOAD_BYTES

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


PREDICT_BATCH = 64  # files read, decoded and classified together (a folder of photos in seconds)


def _classify_many(model, class_names, names: list[str], run=None) -> tuple[dict, dict]:
    """Each file's Prediction, or the CatdogError saying why it has none, classified in batches:
    the files of a batch decode together through the batched pixel path (images.model_inputs, the
    same pixels as one at a time) and the model answers them in one call. With a run, the second
    dict holds each answered file's novelty.Verdict (none when its data is not known here)."""
    import numpy as np

    from .. import images, predict
    from ..errors import InvalidImage

    from .. import novelty

    out: dict = {}
    verdicts: dict = {}
    unique = list(dict.fromkeys(names))
    for start in range(0, len(unique), PREDICT_BATCH):
        chunk = unique[start:start + PREDICT_BATCH]
        items = []
        for i, name in enumerate(chunk):
            try:
                items.append((i, _read_image_file(name)))
            except CatdogError as exc:
                out[name] = exc
        decoded, raw = {}, dict(items)
        for i, result in images.model_inputs(items):
            if not isinstance(result, str):
                decoded[i] = result
                continue
            try:  # a refused file, once more alone: the very sentence a single upload gets
                decoded[i] = images.model_input(raw[i])
            except InvalidImage as exc:
                out[chunk[i]] = exc
        if decoded:
            order = sorted(decoded)
            batch = np.stack([decoded[i] for i in order])
            for i, pred in zip(order, predict.classify_batch(model, batch, class_names)):
                out[chunk[i]] = pred
            found = novelty.judge(run, batch) if run is not None else None
            for i, verdict in zip(order, found or ()):
                verdicts[chunk[i]] = verdict
    return out, verdicts


def cmd_predict(args) -> int:
    from pathlib import Path

    from .. import predict, runs

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    print(f"run {run.run_id} ({run.recipe}, classes {', '.join(run.class_names)}) answers:", file=sys.stderr)
    explain_dir = _explain_dir(model, args.explain) if args.explain else None
    failures = 0
    answered, verdicts = ({}, {}) if explain_dir else _classify_many(model, run.class_names, args.images, run)
    for name in args.images:
        try:
            path = Path(name)
            if explain_dir:
                shown, pred = predict.classify_bytes(model, _read_image_file(path), run.class_names)
                written = _write_gradcam(model, shown, explain_dir / f"{path.stem}_gradcam.png")
            else:
                pred, written = answered[name], None
                if isinstance(pred, CatdogError):
                    raise pred
        except CatdogError as exc:
            failures += 1
            print(json.dumps({"file": name, "run": run.run_id, "error": str(exc)}) if args.json
                  else f"{name}: error: {exc}")
            continue
        verdict = verdicts.get(name)
        if args.json:
            line = {"file": name, "run": run.run_id, "label": pred.label, "probabilities": pred.probabilities,
                    **(verdict.to_dict() if verdict is not None else {"out_of_distribution": None, "ood_score": None})}
            print(json.dumps({**line, "explain": str(written)} if written else line))
        else:
            unlike = " (none of the above? it does not look like the training photos)" \
                if verdict is not None and verdict.out_of_distribution else ""
            print(f"{name}: {pred.label} ({pred.confidence:.1%}){unlike}"
                  + (f"; Grad-CAM in {written}" if written else ""))
    return 2 if failures else 0  # every file answered; a bad one is a user's mistake, like a bad path


def _explain_dir(model, folder: str):
    """The --explain folder, created; refuses models Grad-CAM cannot explain before any work."""
    from pathlib import Path

    from .. import explain

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

    from .. import explain
    from ..fileio import write_atomic

    painted = explain.overlay(image, explain.grad_cam(model, image))
    try:
        write_atomic(target, lambda f: Image.fromarray(painted).save(f, format="PNG"))
    except OSError as exc:
        raise CatdogError(f"Could not write {target} ({exc.strerror or exc}).") from None
    return target


def cmd_export(args) -> int:
    from pathlib import Path

    from .. import export, runs

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


COMMANDS = {"info": cmd_info, "train": cmd_train, "reproduce": cmd_reproduce, "runs": cmd_runs,
            "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "worker": cmd_worker,
            "script": cmd_script, "map": cmd_map, "augment-check": cmd_augment_check,
            "jobs": cmd_jobs, "classroom": cmd_classroom}

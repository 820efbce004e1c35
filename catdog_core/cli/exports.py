"""The commands that write a saved run out as a file: `export` (a .keras or TensorFlow Lite model
with labels.txt), `script` (a standalone retraining script) and `map` (its embedding map as HTML)."""

from __future__ import annotations

import json
import sys

from ..errors import CatdogError
from .progress import Bar


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

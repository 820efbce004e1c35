"""`catdog predict`: image files in, one answer each. Files are read with care (no folders, pipes
or oversized files), decoded and classified in batches, and with --explain each gets a Grad-CAM
overlay instead."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

from ..errors import CatdogError

PREDICT_BATCH = 64  # files read, decoded and classified together (a folder of photos in seconds)


@dataclass
class Answers:
    """What classifying files found, by file name: its Prediction or the CatdogError saying why it
    has none, and, with a run whose data is known here, each answered file's novelty.Verdict."""

    predictions: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)


def cmd_predict(args) -> int:
    from .. import runs

    run = runs.find_run(args.run)
    model = runs.load_model(run)
    print(f"run {run.run_id} ({run.recipe}, classes {', '.join(run.class_names)}) answers:", file=sys.stderr)
    explain_dir = _explain_dir(model, args.explain) if args.explain else None
    failures = 0
    answers = Answers() if explain_dir else _classify_many(model, run.class_names, args.images, run)
    for name in args.images:
        try:
            if explain_dir:
                pred, written = _classify_and_explain(model, run, name, explain_dir)
            else:
                pred, written = answers.predictions[name], None
                if isinstance(pred, CatdogError):
                    raise pred
        except CatdogError as exc:
            failures += 1
            print(json.dumps({"file": name, "run": run.run_id, "error": str(exc)}) if args.json
                  else f"{name}: error: {exc}")
            continue
        _print_answer(args, run, name, pred, answers.verdicts.get(name), written)
    return 2 if failures else 0  # every file answered; a bad one is a user's mistake, like a bad path


def _print_answer(args, run, name: str, pred, verdict, written) -> None:
    """One file's answer: a JSON line, or its label and confidence (and whether it looks unlike
    the training photos, and where its Grad-CAM went)."""
    if args.json:
        line = {"file": name, "run": run.run_id, "label": pred.label, "probabilities": pred.probabilities,
                **(verdict.to_dict() if verdict is not None else {"out_of_distribution": None, "ood_score": None})}
        print(json.dumps({**line, "explain": str(written)} if written else line))
        return
    unlike = " (none of the above? it does not look like the training photos)" \
        if verdict is not None and verdict.out_of_distribution else ""
    print(f"{name}: {pred.label} ({pred.confidence:.1%}){unlike}"
          + (f"; Grad-CAM in {written}" if written else ""))


# ---------------------------------------------------------------- reading and classifying files


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


def _classify_many(model, class_names, names: list[str], run=None) -> Answers:
    """Each file's answer, classified in batches of PREDICT_BATCH: the files of a batch decode
    together through the batched pixel path (images.model_inputs, the same pixels as one at a
    time) and the model answers them in one call."""
    answers = Answers()
    unique = list(dict.fromkeys(names))
    for start in range(0, len(unique), PREDICT_BATCH):
        chunk = unique[start:start + PREDICT_BATCH]
        decoded = _decode(chunk, _read(chunk, answers), answers)
        if decoded:
            _classify(model, class_names, run, chunk, decoded, answers)
    return answers


def _read(chunk: list[str], answers: Answers) -> list[tuple[int, bytes]]:
    """The bytes of each file of `chunk` that can be read, by its place; why not for the others."""
    items = []
    for i, name in enumerate(chunk):
        try:
            items.append((i, _read_image_file(name)))
        except CatdogError as exc:
            answers.predictions[name] = exc
    return items


def _decode(chunk: list[str], items: list[tuple[int, bytes]], answers: Answers) -> dict:
    """The model's input pixels of each file that decodes, by its place; why not for the others."""
    from .. import images
    from ..errors import InvalidImage

    decoded, raw = {}, dict(items)
    for i, result in images.model_inputs(items):
        if not isinstance(result, str):
            decoded[i] = result
            continue
        try:  # a refused file, once more alone: the very sentence a single upload gets
            decoded[i] = images.model_input(raw[i])
        except InvalidImage as exc:
            answers.predictions[chunk[i]] = exc
    return decoded


def _classify(model, class_names, run, chunk: list[str], decoded: dict, answers: Answers) -> None:
    """The decoded files' predictions in one call of the model, and their novelty verdicts."""
    import numpy as np

    from .. import novelty, predict

    order = sorted(decoded)
    batch = np.stack([decoded[i] for i in order])
    for i, pred in zip(order, predict.classify_batch(model, batch, class_names)):
        answers.predictions[chunk[i]] = pred
    found = novelty.judge(run, batch) if run is not None else None
    for i, verdict in zip(order, found or ()):
        answers.verdicts[chunk[i]] = verdict


# ---------------------------------------------------------------- --explain: Grad-CAM overlays


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


def _classify_and_explain(model, run, name: str, explain_dir):
    """One file classified alone, and its Grad-CAM overlay written beside the others."""
    from pathlib import Path

    from .. import predict

    path = Path(name)
    shown, pred = predict.classify_bytes(model, _read_image_file(path), run.class_names)
    return pred, _write_gradcam(model, shown, explain_dir / f"{path.stem}_gradcam.png")


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

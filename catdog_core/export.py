"""Exporting a saved run for use outside this project: the Keras file as is, or
a TensorFlow Lite model for phones and small boards, each with a labels.txt.

Every file is written under a temporary name in its destination folder and
renamed into place, so an existing export is replaced whole or left untouched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import CatdogError
from .fileio import write_atomic

FORMATS = ("keras", "tflite")
LABELS_FILE = "labels.txt"
TFLITE_FILE = "model.tflite"


def labels_path(model_path: Path) -> Path:
    """The labels.txt written beside an exported model."""
    return Path(model_path).parent / LABELS_FILE


def _destination(run, fmt: str, out: Path) -> Path:
    """The model file an export to `out` writes: `out` itself, or a file inside the folder `out`."""
    suffix = ".keras" if fmt == "keras" else ".tflite"
    if out.suffix.lower() == suffix and not out.is_dir():
        return out
    if out.exists() and not out.is_dir():
        raise CatdogError(f"{out} is an existing file, not a folder; give a folder or a path ending in {suffix}.")
    return out / (f"{run.run_id}.keras" if fmt == "keras" else TFLITE_FILE)


def _unwritable(where: Path, exc: OSError) -> CatdogError:
    return CatdogError(f"Cannot write the export to {where} ({exc.strerror or exc}); choose a folder you can write to.")


def _tflite_bytes(model) -> bytes:
    from .features import tflite_bytes

    try:
        return tflite_bytes(model)
    except Exception as exc:
        raise CatdogError(f"TensorFlow Lite could not convert this model "
                          f"({str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__}).") from None


def export_run(run, fmt: str, out: str | os.PathLike) -> Path:
    """Write the run's model as `fmt` to `out` with labels.txt beside it; returns the model file.

    keras: `out` is a path ending in .keras, or a folder that gets <run id>.keras.
    tflite: `out` is a folder that gets model.tflite (or a path ending in .tflite).
    """
    from . import runs

    if fmt not in FORMATS:
        raise CatdogError(f"Unknown export format {fmt!r}; choose {' or '.join(FORMATS)}.")
    target = _destination(run, fmt, Path(out).expanduser())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(target.parent, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None

    if fmt == "keras":
        def model_content(f):
            with open(run.model_path, "rb") as src:
                shutil.copyfileobj(src, f)
    else:
        model_content = _tflite_bytes(runs.load_model(run))  # before any file is touched: a failed conversion writes nothing
    labels = "".join(f"{name}\n" for name in run.class_names).encode("utf-8")
    try:
        write_atomic(target, model_content)
        write_atomic(labels_path(target), labels)
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None
    return target


def read_labels(path: str | os.PathLike) -> list[str]:
    """The class names of a labels.txt, in model output order."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def load_tflite(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """An exported model.tflite as a function: uint8 images (N, 160, 160, 3) -> logits (N, classes)."""
    from .features import tflite_runner

    try:
        return tflite_runner(path)
    except (ImportError, ValueError, RuntimeError, OSError) as exc:
        raise CatdogError(f"{path} is not a TensorFlow Lite model this can run ({str(exc)[:120]}).") from None

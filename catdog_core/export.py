"""Exporting a saved run for use outside this project: a Keras file, or a
TensorFlow Lite model for phones and small boards, each with a labels.txt.

What is exported is the inference model: no random layers, so calling it as
``model(x)`` twice gives the same answer. It takes raw 0..255 RGB pixels,
float32, shaped (N, 160, 160, 3), and returns logits (one score per class,
in labels.txt order), or probabilities with ``output="probabilities"``.

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
OUTPUTS = ("logits", "probabilities")
_RANDOM_LAYERS = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                  "RandomBrightness")
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


def has_random_layers(model) -> bool:
    """True when calling the model can change its answer (augmentation layers inside)."""
    for layer in getattr(model, "layers", ()):
        if type(layer).__name__ in _RANDOM_LAYERS or has_random_layers(layer):
            return True
    return False


def inference_model(run, output: str = "logits"):
    """The run's model ready to ship: random layers removed, logits or probabilities out.

    Runs saved by this version hold the inference model already. An older run
    whose file kept its augmentation is rebuilt without it, layer weights
    copied by name.
    """
    from . import models, runs

    if output not in OUTPUTS:
        raise CatdogError(f"Unknown output {output!r}; choose {' or '.join(OUTPUTS)}.")
    model = runs.load_model(run)
    if has_random_layers(model):
        clean = models.build(run.recipe, len(run.class_names), pretrained=False).inference
        for layer in clean.layers:
            try:
                layer.set_weights(model.get_layer(layer.name).get_weights())
            except ValueError:
                pass  # an input layer, or one the old file does not have
        model = clean
    return models.with_probabilities(model) if output == "probabilities" else model


def export_run(run, fmt: str, out: str | os.PathLike, output: str = "logits") -> Path:
    """Write the run's inference model as `fmt` to `out` with labels.txt beside it; returns the model file.

    keras: `out` is a path ending in .keras, or a folder that gets <run id>.keras.
    tflite: `out` is a folder that gets model.tflite (or a path ending in .tflite).
    """
    if fmt not in FORMATS:
        raise CatdogError(f"Unknown export format {fmt!r}; choose {' or '.join(FORMATS)}.")
    target = _destination(run, fmt, Path(out).expanduser())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(target.parent, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None

    model = inference_model(run, output)  # before any file is touched: a failure writes nothing
    if fmt == "keras":
        def model_content(f):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.keras"
                model.save(path)
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, f)
    else:
        model_content = _tflite_bytes(model)
    labels = "".join(f"{name}\n" for name in run.class_names).encode("utf-8")
    try:
        write_atomic(target, model_content)
        write_atomic(labels_path(target), labels)
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None
    return target


def keras_bytes(run) -> bytes:
    """The run as one whole .keras file (what a download gives): its own file when it has one,
    else its model rebuilt and written by Keras."""
    import tempfile

    if run.model_format == "keras":
        return run.model_path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        return export_run(run, "keras", Path(tmp) / f"{run.run_id}.keras").read_bytes()


def tflite_zip(run) -> bytes:
    """The run as a TensorFlow Lite model and its labels, zipped for one download."""
    import io
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        model_file = export_run(run, "tflite", tmp)
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(model_file, TFLITE_FILE)
            archive.write(labels_path(model_file), LABELS_FILE)
    return packed.getvalue()


def read_labels(path: str | os.PathLike) -> list[str]:
    """The class names of a labels.txt, in model output order."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def load_tflite(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """An exported model.tflite as a function: 0..255 images (N, 160, 160, 3) -> its outputs (N, classes)."""
    from .features import tflite_runner

    try:
        return tflite_runner(path)
    except (ImportError, ValueError, RuntimeError, OSError) as exc:
        raise CatdogError(f"{path} is not a TensorFlow Lite model this can run ({str(exc)[:120]}).") from None

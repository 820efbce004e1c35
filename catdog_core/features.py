"""Fast forward passes of the frozen MobileNetV2: what the feature cache runs on.

On this project's 2-core CPUs, TensorFlow Lite with its XNNPACK kernels runs
MobileNetV2 about 2.5x faster than TensorFlow does (same float32 values to
~1e-4). The frozen part of the transfer model (preprocess, base, pooling) is
converted once per weights file, written to ``CATDOG_HOME/cache`` atomically,
and reused by every later run and process. Where TFLite is missing, the
same model runs as a ``tf.function``: slower, same results.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from . import config
from .fileio import write_atomic

_convert_lock = threading.Lock()


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # the maintained runtime, if installed
        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter
    except (ImportError, AttributeError):
        return None


def cache_path(weights: str) -> Path:
    """Where the converted base for these weights lives (the key changes with the file)."""
    import keras

    ident = weights
    if os.path.isfile(weights):
        stat = os.stat(weights)
        ident = f"{os.path.abspath(weights)}|{stat.st_size}|{stat.st_mtime_ns}"
    key = hashlib.sha1(f"{ident}|{keras.__version__}|{config.IMG_SIZE}".encode()).hexdigest()[:16]
    return config.catdog_home() / "cache" / f"mobilenet_v2_features-{key}.tflite"


def is_converted(weights: str) -> bool:
    return cache_path(weights).is_file()


def tflite_bytes(model) -> bytes:
    """A Keras model (inference mode) as a float32 TFLite flatbuffer.

    The model's graph is traced once and its variables folded into constants
    before conversion: ~3 s for MobileNetV2 on 2 cores, against ~11 s for
    `from_keras_model`, which writes and re-reads a SavedModel first. The
    folding helper lives in TensorFlow's internal API, so where it is missing
    the slower public converter is used instead.
    """
    import tensorflow as tf

    try:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    except ImportError:  # pragma: no cover - depends on the TensorFlow build
        convert_variables_to_constants_v2 = None
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints every captured variable while tracing
        if convert_variables_to_constants_v2 is None:
            return tf.lite.TFLiteConverter.from_keras_model(model).convert()
        spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
        return tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(graph)]).convert()


def _ensure_converted(weights: str, make_model: Callable[[], object]) -> None:
    """Convert the base for these weights unless done; one conversion at a time, never twice."""
    with _convert_lock:
        if not is_converted(weights):
            target = cache_path(weights)
            flat = tflite_bytes(make_model())
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, flat)


def tflite_runner(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """A .tflite file as a function: a float32 batch in, the model's output (a copy) out.

    The interpreter's input size follows the batch, so the last, shorter batch
    of a split works too. Raises ImportError without TFLite, ValueError or
    RuntimeError for a file that is not a TFLite model.
    """
    Interpreter = _interpreter_class()
    if Interpreter is None:
        raise ImportError("TensorFlow Lite is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 2)
    inp = interpreter.get_input_details()[0]["index"]
    outp = interpreter.get_output_details()[0]["index"]
    allocated = [None]

    def run(images: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(images, dtype=np.float32)
        if allocated[0] != batch.shape:
            interpreter.resize_tensor_input(inp, batch.shape)
            interpreter.allocate_tensors()
            allocated[0] = batch.shape
        interpreter.set_tensor(inp, batch)
        interpreter.invoke()
        return interpreter.get_tensor(outp).copy()

    return run


def convert_in_background(weights: str) -> threading.Thread | None:
    """Start the one-time conversion now (e.g. while the dataset decodes); None if not needed.

    A FeatureExtractor created meanwhile waits for it instead of converting twice.
    """
    if _interpreter_class() is None or is_converted(weights):
        return None

    def work():
        from .models import build_features

        try:
            _ensure_converted(weights, lambda: build_features(weights))
        except Exception:  # the training thread will fall back to TensorFlow
            pass

    thread = threading.Thread(target=work, name="catdog-convert", daemon=True)
    thread.start()
    return thread


class FeatureExtractor:
    """raw 0..255 images (N, 160, 160, 3) -> pooled features (N, 1280), float32."""

    def __init__(self, features_model, weights: str, convert: bool = True):
        import tensorflow as tf

        self._tf_fn = tf.function(lambda x: features_model(x, training=False), reduce_retracing=True)
        self._tflite = None
        if _interpreter_class() is None:
            return
        path = cache_path(weights)
        try:
            if convert:
                _ensure_converted(weights, lambda: features_model)
            if path.is_file():
                self._tflite = tflite_runner(path)
        except Exception:  # a failed conversion or a damaged cache file: the TF path still works
            self._tflite = None
            path.unlink(missing_ok=True)

    @property
    def engine(self) -> str:
        return "TFLite/XNNPACK" if self._tflite is not None else "TensorFlow"

    def __call__(self, images) -> np.ndarray:
        if self._tflite is None:
            return np.asarray(self._tf_fn(np.asarray(images, dtype=np.float32)))
        return self._tflite(images)

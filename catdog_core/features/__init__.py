"""The frozen MobileNetV2 that the transfer recipe trains on: fast forward
passes, and (in features.cache) its outputs cached on disk by content.

On this project's 2-core CPUs, TensorFlow Lite with its XNNPACK kernels runs
MobileNetV2 about 2.5x faster than TensorFlow does (same float32 values to
~1e-4). The frozen part of the transfer model (preprocess, base, pooling) is
converted once per machine and reused by every later run and process.

Everything here is keyed by content: the converted file by the frozen
model's configuration, the weights file's bytes and the TensorFlow and Keras
versions; the cached features by that key and the dataset's content key. A
change to any of them is a new file, never a stale one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import warnings
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from .. import config
from .cache import FEATURE_CHUNK, cached_features, clear_memory
from ..fileio import write_atomic

# The cache of a dataset's features is features.cache's, named here too: callers ask features for both.
__all__ = ["FEATURE_CHUNK", "RUN_BATCH", "FeatureExtractor", "base_key", "cache_dir", "cached_features",
           "cached_runner", "clear_memory", "converted_marker", "ensure_converted", "is_converted",
           "library_versions", "release_runners", "structure", "tflite_bytes", "tflite_interpreter_class",
           "tflite_path", "tflite_runner", "weights_digest"]

_convert_lock = threading.Lock()
_digest_memo: dict[tuple, str] = {}


def tflite_interpreter_class():
    """LiteRT's Interpreter if installed, else TensorFlow's own; None when neither can be had."""
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


def weights_digest(weights: str) -> str:
    """A weights file by its bytes ('imagenet' stands for what this Keras version downloads)."""
    if not os.path.isfile(weights):
        return weights
    st = os.stat(weights)
    memo = (os.path.abspath(weights), st.st_size, st.st_mtime_ns)
    if memo not in _digest_memo:
        with open(weights, "rb") as f:
            digest = hashlib.file_digest(f, "sha1").hexdigest()[:20]
        if len(_digest_memo) >= 512:  # one entry per file read: every saved run has a base file
            _digest_memo.clear()
        _digest_memo[memo] = digest
    return _digest_memo[memo]


_nested: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # a nested model -> its structure


def structure(model) -> list:
    """Every layer's class and configuration, without the names Keras makes up per build
    ("input_layer_3"): what the model computes, the same for every build of it. A nested model's
    (MobileNetV2's 154 layers, ~50 ms) is kept while it lives: each quick job asks about the same base."""
    out = []
    for layer in getattr(model, "layers", ()):
        if hasattr(layer, "layers"):  # a nested model: its layers say what it computes
            if layer not in _nested:
                _nested[layer] = structure(layer)
            out.append([type(layer).__name__, _nested[layer]])
            continue
        cfg = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
        out.append([type(layer).__name__, cfg])
    return out


def base_key(features_model, weights: str) -> str:
    """The content key of a frozen base: its configuration, its weights' bytes, the library versions."""
    import keras
    import tensorflow as tf

    spec = json.dumps(structure(features_model), sort_keys=True, default=str)
    ident = f"{spec}|{weights_digest(weights)}|tf {tf.__version__}|keras {keras.__version__}|{config.IMG_SIZE}"
    return hashlib.sha1(ident.encode()).hexdigest()[:16]


def converted_marker(weights: str) -> Path:
    """A note, keyed by the weights' bytes and the library versions, naming the base converted for them.

    It lets a job see that the conversion is done before it builds any model;
    the converted file itself is keyed by the full configuration as well.
    """
    ident = f"{weights_digest(weights)}|{library_versions()}|{config.IMG_SIZE}"
    return cache_dir() / f"converted-{hashlib.sha1(ident.encode()).hexdigest()[:16]}.txt"


def library_versions() -> str:
    """TensorFlow's and Keras's versions from the installed packages, without importing them
    (~3 s): a job asks whether the base is converted before it needs TensorFlow."""
    from importlib import metadata

    found = []
    for names in (("tensorflow", "tensorflow-cpu"), ("keras",)):
        for name in names:
            try:
                found.append(f"{names[0]} {metadata.version(name)}")
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            found.append(f"{names[0]} {__import__(names[0]).__version__}")
    return "|".join(found)


def is_converted(weights: str) -> bool:
    try:
        return tflite_path(converted_marker(weights).read_text().strip()).is_file()
    except (OSError, ValueError):
        return False


def cache_dir() -> Path:
    return config.cache_home()


def tflite_path(key: str) -> Path:
    return cache_dir() / f"mobilenet_v2_features-{key}.tflite"


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


def ensure_converted(key: str, model, weights: str) -> None:
    """Convert the base for this key unless done; one conversion at a time, never twice."""
    with _convert_lock:
        target = tflite_path(key)
        if not target.is_file():
            flat = tflite_bytes(model)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, flat)
        marker = converted_marker(weights)
        try:
            noted = marker.read_bytes()
        except OSError:
            noted = None
        if noted != key.encode():  # every process that builds a base asks: write only what changed
            write_atomic(marker, key.encode())


_runners: "OrderedDict[tuple, Callable]" = OrderedDict()


def cached_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """tflite_runner, kept for the process per file (an interpreter takes a moment to set up)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _convert_lock:
        if key not in _runners:
            _runners[key] = tflite_runner(path)
            while len(_runners) > 2:
                _runners.popitem(last=False)
        return _runners[key]


def release_runners() -> None:
    """Drop the interpreters kept by cached_runner (each holds a working memory for RUN_BATCH
    images, or the last smaller batch); the next call sets one up again (~0.2 s)."""
    with _convert_lock:
        _runners.clear()


RUN_BATCH = 8  # images per invoke: MobileNetV2@160 here takes ~1.45 ms an image at 8, ~1.7 at 32, ~2.1 at 128


def _interpreter(path: str | os.PathLike):
    Interpreter = tflite_interpreter_class()
    if Interpreter is None:
        raise ImportError("TensorFlow Lite is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return Interpreter(model_path=str(path), num_threads=os.cpu_count() or 2)


def tflite_runner(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """A .tflite file as a function: a float32 batch in, the model's output (a copy) out.

    A batch of RUN_BATCH or more runs RUN_BATCH images at a time (the last few padded): each
    image's output is the same bit for bit whatever the batch, and a small batch's working memory
    stays in the core's cache. A smaller batch runs at its own size. Raises ImportError without
    TFLite, ValueError or RuntimeError for a file that is not a TFLite model.
    """
    interpreter = _interpreter(path)
    inp = interpreter.get_input_details()[0]["index"]
    outp = interpreter.get_output_details()[0]["index"]
    allocated = [None]
    lock = threading.Lock()  # one interpreter runs one batch at a time

    def invoke(part: np.ndarray) -> np.ndarray:
        if allocated[0] != part.shape:
            interpreter.resize_tensor_input(inp, part.shape)
            interpreter.allocate_tensors()
            allocated[0] = part.shape
        interpreter.set_tensor(inp, part)
        interpreter.invoke()
        return interpreter.get_tensor(outp).copy()

    def run(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        n = len(images)
        if n < RUN_BATCH:
            with lock:
                return invoke(np.ascontiguousarray(images, dtype=np.float32))
        parts = []
        with lock:
            for start in range(0, n, RUN_BATCH):
                part = np.zeros((RUN_BATCH, *images.shape[1:]), np.float32)
                part[:min(RUN_BATCH, n - start)] = images[start:start + RUN_BATCH]
                parts.append(invoke(part)[:n - start])
        return np.concatenate(parts)

    return run


class FeatureExtractor:
    """raw 0..255 images (N, 160, 160, 3) -> pooled features (N, 1280), float32.

    `key` names the frozen base by content; the converted TFLite file and the
    cached features use it.
    """

    def __init__(self, features_model, weights: str, convert: bool = True):
        import tensorflow as tf

        self._tf_fn = tf.function(lambda x: features_model(x, training=False), reduce_retracing=True)
        self._tflite: Path | None = None  # the converted file, its interpreter asked of cached_runner each call
        self.key = base_key(features_model, weights)
        if tflite_interpreter_class() is None:
            return
        path = tflite_path(self.key)
        try:
            if convert:
                ensure_converted(self.key, features_model, weights)
            if path.is_file():
                cached_runner(path)
                self._tflite = path
        except Exception:  # a failed conversion or a damaged cache file: the TF path still works
            self._tflite = None
            path.unlink(missing_ok=True)

    @property
    def engine(self) -> str:
        return "TFLite/XNNPACK" if self._tflite is not None else "TensorFlow"

    def __call__(self, images) -> np.ndarray:
        if self._tflite is not None:
            try:  # not held here: release_runners lets a quiet process's interpreter go
                return cached_runner(self._tflite)(images)
            except (OSError, ValueError, RuntimeError):  # its file pruned meanwhile
                self._tflite = None
        return np.asarray(self._tf_fn(np.asarray(images, dtype=np.float32)))

"""Inference only: a trained model's probabilities for every class of one photo or a batch."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .images import load_for_model, resize_for_model
from .metrics import softmax
from .fileio import PerModel, Recent
from .models import BASE_NAME, base_source, head_on_shared_base, preprocess_layer


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]
    unlike: bool | None = None  # unlike the training photos (novelty.py): a live frame's "none of the above"

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "probabilities": self.probabilities}


_compiled = PerModel()  # model -> its one compiled forward pass
_frozen_lock = threading.Lock()


def _inference_fn(model):
    """The model as one compiled graph: ~10x faster than an eager call for one image. A head on a
    shared frozen base is answered by that base's one graph and its own Dense (nothing traced per run:
    tracing MobileNetV2 is seconds, and a class opening a dozen runs waited behind each trace)."""
    return _compiled.get(model, _compiled_forward)


def _compiled_forward(model):
    import tensorflow as tf

    shared = head_on_shared_base(model)
    if shared is not None:
        base, dense = shared

        def fn(x):
            kernel, bias = head_weights(dense)
            return pool_maps(base_maps(base, x)) @ kernel + bias
        return fn
    held = weakref.ref(model)  # the graph holds the model weakly (see PerModel)
    return tf.function(lambda x: held()(x, training=False), reduce_retracing=True)


_base_graphs = Recent(4)  # a shared base's weights digest -> its traced graph: raw pixels -> last feature maps


def base_maps(base, images) -> np.ndarray:
    """(N, H, W, 3) raw pixels -> (N, 5, 5, 1280) float32 feature maps of a shared frozen base, through one
    graph per base weights (models.base_source) that every head on that base uses."""
    import tensorflow as tf

    key = base_source(base)
    fn = _base_graphs.get(key)
    if fn is None:
        preprocess = preprocess_layer("base_preprocess")
        fn = _base_graphs.put(key, tf.function(lambda x: base(preprocess(x), training=False),
                                               reduce_retracing=True))
    return np.asarray(fn(np.asarray(images, dtype="float32")))


def pool_maps(maps: np.ndarray) -> np.ndarray:
    """The transfer recipe's GlobalMaxPooling2D on feature maps, in numpy."""
    return maps.max(axis=(1, 2))


def head_weights(dense) -> tuple[np.ndarray, np.ndarray]:
    """A Dense layer's kernel and bias as float32 arrays, as they are now (a head in training changes)."""
    kernel, bias = dense.get_weights()
    return np.asarray(kernel, np.float32), np.asarray(bias, np.float32)


def warm_up(model) -> None:
    """Trace the model's compiled graph with one blank image. Tracing MobileNetV2 is seconds of
    Python; done when the model loads, it does not land on the first photo (a busy server took
    over a minute to answer that one)."""
    logits(model, np.zeros((1, *(d or 160 for d in model.input_shape[1:])), "float32"))
    frozen_base_forward(model)  # and whether the faster engine may answer for it (two probe images)


def logits(model, images: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) raw pixels -> (N, classes) float64 logits, through the compiled graph."""
    return np.asarray(_inference_fn(model)(np.asarray(images, dtype="float32")), dtype="float64")


FAST_ENGINE = True  # False answers every photo through the model's TensorFlow graph (the benchmarks' baseline)
PROBE_TOLERANCE = 0.01  # logits: TFLite and TensorFlow agree to ~1e-4 on the same weights; another base is far off
_frozen: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> {weights: frozen-base forward or None}


def frozen_base_forward(model, weights: str | None = None):
    """A faster forward pass (~3x for one photo): the frozen base's converted TFLite copy (features), then
    the model's own Dense in numpy. None when it cannot stand in for the model: no MobileNetV2 base,
    no TFLite, the base not converted on this machine yet (training converts it; this never does, so
    it never writes another model's weights under this key), or a base that gives other logits than
    the model's own (a fine-tuned run, other weights). Checked once per model on two probe images;
    a base not converted yet is asked about again on the next call."""
    from . import config

    weights = weights or config.base_weights_setting()
    with _frozen_lock:
        known = _frozen.get(model, {})
        if weights in known:
            return known[weights]
    if not any(layer.name == BASE_NAME for layer in model.layers):
        forward = None
    else:
        candidate = _through_tflite(model, weights)
        if candidate is None:
            return None  # asked again next time: the warm-up may be converting the base right now
        forward = candidate if _agrees_on_probes(model, candidate) else None
    with _frozen_lock:
        _frozen.setdefault(model, {})[weights] = forward
    return forward


def _through_tflite(model, weights: str):
    """The base's converted TFLite copy, then the model's own Dense in numpy; None when the base is
    not converted on this machine yet, there is no TFLite, or its files cannot be read."""
    from . import features

    if features.tflite_interpreter_class() is None or not features.is_converted(weights):
        return None
    try:
        converted = features.tflite_path(features.converted_marker(weights).read_text().strip())
        features.cached_runner(converted)
        head = model.get_layer("logits")
    except (OSError, ValueError, RuntimeError):
        return None

    def through_tflite(batch: np.ndarray) -> np.ndarray:
        # The interpreter is asked for each time, never held here: a quiet model service lets it go
        # (features.release_runners) and the next photo sets it up again.
        try:
            runner = features.cached_runner(converted)
        except (OSError, ValueError, RuntimeError):  # its file pruned meanwhile: the model's own graph
            return logits(model, batch)
        kernel, bias = (np.asarray(w, np.float64) for w in head.get_weights())  # the head as it is now
        return np.asarray(runner(batch), np.float64) @ kernel + bias

    return through_tflite


def _agrees_on_probes(model, forward) -> bool:
    """Whether `forward` gives the model's own logits, within PROBE_TOLERANCE, on two probe images
    (noise and a ramp): a fine-tuned run or other weights are far off."""
    size = tuple(model.input_shape[1:3])
    rng = np.random.default_rng(0)
    probes = np.stack([rng.uniform(0, 255, (*size, 3)),
                       np.broadcast_to(np.linspace(0, 255, size[1])[None, :, None], (*size, 3))])
    try:
        ours = np.concatenate([logits(model, probe[None]) for probe in probes])  # the traced shape
        return np.allclose(forward(probes), ours, rtol=0, atol=PROBE_TOLERANCE)
    except (ValueError, RuntimeError):
        return False


def classify_batch(model, images: np.ndarray, class_names) -> list[Prediction]:
    """(N, 160, 160, 3) uint8 -> one Prediction each."""
    forward = frozen_base_forward(model) if FAST_ENGINE else None
    probs = softmax(forward(images) if forward is not None else logits(model, images))
    out = []
    for row in probs:
        best = int(np.argmax(row))
        out.append(Prediction(str(class_names[best]), float(row[best]),
                              {str(n): float(p) for n, p in zip(class_names, row)}))
    return out


def classify(model, image: np.ndarray, class_names) -> Prediction:
    """One RGB uint8 image of any size (resized here) -> Prediction."""
    if image.shape[:2] != (160, 160):
        image = resize_for_model(image)
    return classify_batch(model, image[None], class_names)[0]


def classify_bytes(model, data: bytes, class_names) -> tuple[np.ndarray, Prediction]:
    """Untrusted upload bytes -> (image to show, Prediction); raises InvalidImage."""
    shown, model_input = load_for_model(data)
    return shown, classify(model, model_input, class_names)


def tally(labels, class_names) -> str:
    """A batch in words: '9 dogs, 1 cat' (most first; a class name ending in s loses it for one)."""
    from collections import Counter

    counts = Counter(labels)
    parts = []
    for name in sorted(counts, key=lambda n: (-counts[n], list(class_names).index(n) if n in class_names else 0)):
        shown = name[:-1] if counts[name] == 1 and name.endswith("s") and len(name) > 1 else name
        parts.append(f"{counts[name]} {shown}")
    return ", ".join(parts)

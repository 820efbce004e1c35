"""Classify images with a trained model: probabilities for every class."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .images import load_for_model, resize_for_model


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "probabilities": self.probabilities}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_compiled_lock = threading.Lock()


def _inference_fn(model):
    """The model as one compiled graph: ~10x faster than an eager call for one image."""
    import tensorflow as tf

    with _compiled_lock:
        fn = _compiled.get(model)
        if fn is None:
            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
            _compiled[model] = fn
        return fn


def logits(model, images: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) raw pixels -> (N, classes) float64 logits, through the compiled graph."""
    return np.asarray(_inference_fn(model)(np.asarray(images, dtype="float32")), dtype="float64")


def classify_batch(model, images: np.ndarray, class_names) -> list[Prediction]:
    """(N, 160, 160, 3) uint8 -> one Prediction each."""
    probs = _softmax(logits(model, images))
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

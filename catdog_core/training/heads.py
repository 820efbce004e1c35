"""The frozen-base recipe's head on its own, outside its model: compiled heads kept per process
(HeadPool), the copy of every variable between two models of the same layers, and a head's
logits computed in numpy. Keras loads only when a head is first compiled here."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import numpy as np

from .. import features
from ..models import compile_model


class HeadPool:
    """Compiled heads kept per process, so a worker's next quick job skips tracing `fit`'s
    training step again (~1.2 s of a ~4 s job here).

    A job still builds its own head, seeded exactly as before. A kept head of the same layers
    and compile settings (a copy made on the first such job) takes over that head's state (its
    weights and its dropout's seed: `model.variables`) and a fresh optimizer state (the values
    its optimizer's variables had right after it was built); after training, the job's own head
    gets the trained state back. So the saved model and a seeded run are exactly what they were
    without the pool, and no job's model is ever touched by a later job. A head in use is out of
    the pool: jobs training at once in one process each get their own.
    """

    KEPT = 2

    def __init__(self):
        self._kept: "OrderedDict[str, tuple]" = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(head, learning_rate: float, steps_per_execution: int) -> str:
        shapes = [tuple(v.shape) for v in head.variables]
        return json.dumps([features.structure(head), shapes, learning_rate, steps_per_execution], default=str)

    def take(self, head, learning_rate: float, steps_per_execution: int):
        """(a compiled head of the same layers as `head`, holding its state; the token give_back needs)."""
        key = self._key(head, learning_rate, steps_per_execution)
        with self._lock:
            kept = self._kept.pop(key, None)
        if kept is None:  # a copy of the job's head, never the head itself: that one leaves with the job's model
            kept = self._compiled_copy(head, learning_rate, steps_per_execution)
        model, fresh = kept
        copy_state(head, model)
        for variable, value in zip(model.optimizer.variables, fresh):
            variable.assign(value)
        return model, (key, fresh)

    @staticmethod
    def _compiled_copy(head, learning_rate: float, steps_per_execution: int) -> tuple:
        """(a compiled clone of `head`, its optimizer's variables as they are right after building)."""
        import keras

        model = keras.models.clone_model(head)
        compile_model(model, learning_rate, steps_per_execution=steps_per_execution)
        model.optimizer.build(model.trainable_variables)
        return model, [v.numpy() for v in model.optimizer.variables]

    def give_back(self, model, token) -> None:
        key, fresh = token
        with self._lock:
            self._kept[key] = (model, fresh)
            self._kept.move_to_end(key)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)


def copy_state(source, target) -> None:
    """Every variable of one model (weights and seed states) into another of the same layers."""
    pairs = list(zip(source.variables, target.variables))
    if len(source.variables) != len(target.variables) or any(a.shape != b.shape for a, b in pairs):
        raise ValueError("the two models do not have the same layers")
    for a, b in pairs:
        b.assign(a.value)


def head_logits(head, features_x) -> np.ndarray | None:
    """A frozen-base head's logits for pooled features (Dropout is the identity when classifying),
    computed from its Dense layer's weights; None for a head of any other shape."""
    layers = [layer for layer in head.layers if type(layer).__name__ != "InputLayer"]
    if [type(layer).__name__ for layer in layers] not in (["Dropout", "Dense"], ["Dense"]):
        return None
    dense = layers[-1]
    if getattr(dense.activation, "__name__", "") != "linear":
        return None
    kernel, bias = dense.get_weights()
    return np.asarray(features_x, np.float32) @ kernel + bias

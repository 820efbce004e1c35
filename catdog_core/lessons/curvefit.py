"""One point of a learning curve, trained and measured: the frozen base's cached features a
transfer curve trains on, a fresh model of the recipe trained on a subset (every round's
shuffled batches in one long epoch, a round per call), and its accuracy on the validation split.
Keras loads only when a point trains."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import config
from ..training.batches import epoch_batches
from ..jobspec import epochs_for_steps
from ..progress import Phase, Progress

PREDICT_CHUNK = 128


@dataclass(frozen=True)
class PointSettings:
    """How every point of one curve trains: the same recipe, epochs, rate, seed and base."""
    recipe: str
    classes: int
    epochs: int
    learning_rate: float | None  # None: the recipe's own
    min_steps: int
    seed: int
    weights: str


def prepared_features(dataset, recipe: str, weights: str, progress: Progress) -> tuple:
    """For the transfer head: the cached MobileNetV2 features of the training and validation splits
    (nothing for the small CNN, which trains on the pixels)."""
    if recipe != "transfer":
        return ()
    from .. import features
    from ..augment import NO_AUGMENTATION
    from ..models import build

    progress(0, 0, Phase.BASE)
    built = build("transfer", max(2, len(dataset.class_names)), NO_AUGMENTATION, weights=weights, share_base=True)
    extract = features.FeatureExtractor(built.features, weights)
    out = []
    for split in ("train", "validation"):
        out.append(features.cached_features(extract, dataset.key, split, dataset.split(split).images,
                                            progress))
    return out[0], out[1]


def train_point(settings: PointSettings, inputs: np.ndarray, labels: np.ndarray,
                val_inputs: Callable[[slice], np.ndarray], val_labels: np.ndarray, stop: threading.Event,
                progress: Progress | None = None) -> tuple[float, int] | None:
    """Train one model on the subset; (validation accuracy, optimizer steps), or None when stopped."""
    import keras

    from ..augment import NO_AUGMENTATION
    from ..models import build, compile_model, shared_base

    batch_size, transfer = config.BATCH_SIZE, settings.recipe == "transfer"
    rounds = epochs_for_steps(settings.epochs, len(labels), batch_size, settings.min_steps)
    if transfer:
        shared_base(settings.weights)  # made before seeding, as training.train does, so a point repeats exactly
    keras.utils.set_random_seed(settings.seed)
    built = build(settings.recipe, settings.classes, NO_AUGMENTATION, weights=settings.weights,
                  learning_rate=settings.learning_rate, share_base=transfer)
    rate = settings.learning_rate or built.recipe.learning_rate

    # Every round's shuffled batches in one tf.data pipeline and one long epoch, run a round per
    # call: a tiny subset trains its 100 steps in a second, not 100 epochs of Keras' overhead.
    learner = built.head if transfer else built.model
    per_round = math.ceil(len(labels) / batch_size)
    total = rounds * per_round
    compile_model(learner, rate, steps_per_execution=per_round)
    learner.fit(epoch_batches(inputs, labels, batch_size, settings.seed, range(rounds)), epochs=1,
                steps_per_epoch=total, verbose=0, shuffle=False, callbacks=[_stopper(stop, progress, per_round, total)])
    if stop.is_set():
        return None
    return _accuracy(learner.predict_on_batch, val_inputs, val_labels), total


def _stopper(stop: threading.Event, progress: Progress | None, per_round: int, total: int):
    """The callback fit calls once a round (steps_per_execution): it reports the steps done and
    stops fit when asked."""
    import keras

    class Stopper(keras.callbacks.Callback):
        calls = 0

        def on_train_batch_end(self, batch, logs=None):
            Stopper.calls += 1
            if progress:  # the observer hears of a stop here
                progress(min(Stopper.calls * per_round, total), total, Phase.TRAINING)
            if stop.is_set():
                self.model.stop_training = True

    return Stopper()


def _accuracy(predict, inputs: Callable[[slice], np.ndarray], labels: np.ndarray) -> float:
    right = 0
    for start in range(0, len(labels), PREDICT_CHUNK):
        part = slice(start, start + PREDICT_CHUNK)
        logits = np.asarray(predict(inputs(part)))
        right += int(np.sum(np.argmax(logits, axis=-1) == labels[part]))
    return right / max(1, len(labels))

"""Training: fit a recipe on the splits, report every batch and epoch to an
observer, stop cleanly when asked, and cache what a frozen base computes.

Two paths give the same model:
- plain: the whole Keras model trains on raw images, as in the post;
- cached (recipes with a frozen base): MobileNetV2's pooled output is computed
  once per image for validation and test (and for train when augmentation is
  off), kept for the process, and only the head trains on it. With
  augmentation on, each epoch's augmented train images still pass through the
  base, so every epoch sees new variants exactly as in the post.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import config, features
from .augment import AugmentSettings, NO_AUGMENTATION
from .dataset import Dataset
from .errors import InvalidSettings
from .models import BASE_NAME, BuiltModel, build, get_recipe

MAX_EPOCHS = 200
FINE_TUNE_AT = 100  # as in TensorFlow's transfer-learning tutorial: the top ~55 of 154 layers train
FEATURE_CHUNK = 128  # images per forward pass of the frozen base (larger is ~7 % faster on CPU)
FAST_AFTER_IMAGES = 1500  # base forward passes per run from which converting to TFLite pays off


@dataclass(frozen=True)
class BatchReport:
    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps: int
    loss: float
    accuracy: float


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    stage: str = "train"  # "frozen" / "fine-tune" for the transfer recipe

    def to_dict(self) -> dict:
        return asdict(self)


class Observer:
    """Override what you need; every method is called from the training thread."""

    def on_phase(self, message: str, done: int = 0, total: int = 0) -> None: ...

    def on_batch(self, report: BatchReport) -> None: ...

    def on_epoch(self, report: EpochReport) -> None: ...


@dataclass(frozen=True)
class QuickPreset:
    """"Press Train, see a good model": cached features, no augmentation."""

    epochs: int = 10
    settings: AugmentSettings = NO_AUGMENTATION
    learning_rate: float = 3e-4  # steadier than Adam's 1e-3 over 10 epochs (96 % vs 93-95 % val)


QUICK = QuickPreset()


@dataclass
class TrainResult:
    recipe: str
    model: object
    class_names: tuple[str, ...]
    settings: AugmentSettings
    epochs_requested: int
    history: list[EpochReport] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    stopped: bool = False
    fine_tune_from_epoch: int | None = None  # fine-tuning began after this epoch
    cached: bool = False
    engine: str = "TensorFlow"
    seconds: float = 0.0
    setup_seconds: float = 0.0

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1].val_accuracy if self.history else None


# Pooled base outputs of un-augmented images, keyed by dataset, weights and split.
_features: dict[tuple, np.ndarray] = {}
_features_lock = threading.Lock()


def clear_feature_cache() -> None:
    with _features_lock:
        _features.clear()


def _forward(fn, images: np.ndarray, observer: Observer, message: str) -> np.ndarray:
    out = []
    for start in range(0, len(images), FEATURE_CHUNK):
        out.append(fn(images[start:start + FEATURE_CHUNK]))
        observer.on_phase(message, min(start + FEATURE_CHUNK, len(images)), len(images))
    return np.concatenate(out) if out else np.zeros((0, 0), "float32")


def _cached_features(dataset: Dataset, weights: str, split: str, observer: Observer, fn) -> np.ndarray:
    key = (dataset.key, weights, split)
    with _features_lock:
        hit = _features.get(key)
    if hit is None:
        hit = _forward(fn, dataset.split(split).images, observer, f"Computing MobileNetV2 features ({split})")
        with _features_lock:
            _features[key] = hit
    return hit


def prepare(recipe: str, data=None, weights: str | None = None) -> None:
    """Call before loading the data: converts the frozen base meanwhile when the data is large.

    The conversion takes ~4 s once per machine and overlaps with decoding; a
    cheap file count keeps small datasets (where it would not pay off) on TensorFlow.
    """
    from . import dataset as datasets

    if not get_recipe(recipe).frozen_base:
        return
    weights = weights or config.base_weights_setting()
    if features.is_converted(weights):
        return
    try:
        count = datasets.count_files(datasets.find_source(data, allow_download=False, unpack=False).root)
    except Exception:  # not on disk and unpacked yet: decide later, in train()
        return
    if count >= FAST_AFTER_IMAGES:
        features.convert_in_background(weights)


def train(recipe: str, dataset: Dataset, epochs: int, settings: AugmentSettings | None = None, *,
          observer: Observer | None = None, stop: threading.Event | None = None,
          seed: int = config.SEED, use_cache: bool = True, batch_size: int = config.BATCH_SIZE,
          weights: str | None = None, learning_rate: float | None = None,
          fast: bool | None = None, fine_tune_epochs: int = 0,
          fine_tune_at: int = FINE_TUNE_AT) -> TrainResult:
    """Train one recipe for up to `epochs` epochs; returns history and test metrics.

    A set `stop` event ends training after the current batch; the model keeps
    the weights of the last finished epoch and the partial epoch is dropped.
    `fast` runs the frozen base through TFLite (None: when it pays off).
    `fine_tune_epochs` more epochs then train the base from layer
    `fine_tune_at` on at a 10x lower learning rate (transfer recipe only).
    """
    import keras
    import tensorflow as tf

    if not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise InvalidSettings(f"Epochs must be a whole number from 1 to {MAX_EPOCHS}, not {epochs!r}.")
    if fine_tune_epochs and (not isinstance(fine_tune_epochs, int) or not 0 <= fine_tune_epochs <= MAX_EPOCHS
                             or not get_recipe(recipe).frozen_base):
        raise InvalidSettings("Fine-tuning takes 0 to 200 extra epochs and needs the transfer recipe.")
    if len(dataset.train) == 0:
        raise InvalidSettings("The training split is empty: add images to train/ first.")
    observer = observer or Observer()
    stop = stop or threading.Event()
    settings = settings or AugmentSettings()
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    observer.on_phase("Building the model")
    built = build(recipe, len(dataset.class_names), settings, weights=weights, learning_rate=learning_rate)
    cached = use_cache and built.features is not None
    result = TrainResult(get_recipe(recipe).name, built.model, dataset.class_names, settings,
                         epochs + fine_tune_epochs, cached=cached)

    train_images, train_labels = dataset.train.images, dataset.train.labels
    raw_batch = lambda idx: train_images[idx].astype("float32")
    raw_val_test = dataset.validation.images, (dataset.test.images if len(dataset.test) else None)
    if cached:
        learner = built.head
        weights_key = weights or config.base_weights_setting()
        if fast is None:  # converting costs ~4 s once and saves ~3 ms per image after
            passes = epochs if built.augmentation is not None else 1
            work = len(dataset.validation) + len(dataset.test) + passes * len(train_labels)
            fast = features.is_converted(weights_key) or work >= FAST_AFTER_IMAGES
        if fast and not features.is_converted(weights_key):
            observer.on_phase("Preparing a fast MobileNetV2 (once per machine, a few seconds)")
        extract = features.FeatureExtractor(built.features, weights_key, convert=fast)
        result.engine = extract.engine
        val_x = _cached_features(dataset, weights_key, "validation", observer, extract)
        test_x = _cached_features(dataset, weights_key, "test", observer, extract) if len(dataset.test) else None
        if built.augmentation is None:
            train_x = _cached_features(dataset, weights_key, "train", observer, extract)
            batch_inputs = lambda idx: train_x[idx]
        else:
            augment = tf.function(lambda x: built.augmentation(x, training=True), reduce_retracing=True)
            batch_inputs = lambda idx: extract(augment(raw_batch(idx)))
    else:
        learner = built.model
        val_x, test_x = raw_val_test
        batch_inputs = raw_batch
    result.setup_seconds = time.perf_counter() - started

    rng = np.random.default_rng(seed)
    total = epochs + fine_tune_epochs
    _run_epochs(result, learner, batch_inputs, train_labels, val_x, dataset.validation.labels,
                range(1, epochs + 1), total, "frozen" if built.features is not None else "train",
                observer, stop, rng, batch_size)
    if fine_tune_epochs and not result.stopped and result.history:
        # The base can no longer be cached: the whole model trains on raw images from here.
        observer.on_phase(f"Unfreezing MobileNetV2 from layer {fine_tune_at} for fine-tuning")
        learner = built.model
        unfreeze(built, fine_tune_at, (learning_rate or built.recipe.learning_rate) / 10)
        val_x, test_x = raw_val_test
        result.fine_tune_from_epoch = epochs
        _run_epochs(result, learner, raw_batch, train_labels, val_x, dataset.validation.labels,
                    range(epochs + 1, total + 1), total, "fine-tune", observer, stop, rng, batch_size)

    if test_x is not None and result.history:
        test = learner.evaluate(test_x, dataset.test.labels, batch_size=128, verbose=0, return_dict=True)
        result.test_loss, result.test_accuracy = float(test["loss"]), float(test["accuracy"])
    result.seconds = time.perf_counter() - started
    return result


def unfreeze(built: BuiltModel, from_layer: int, learning_rate: float) -> None:
    """Make the base's layers from `from_layer` on trainable and recompile at the lower rate.

    BatchNormalization layers stay frozen, so they keep running in inference
    mode with their ImageNet statistics: in Keras 3 the model's training=True
    overrides the base's recorded training=False (keras-team/keras#20285).
    """
    import keras

    from .models import compile_model

    base = built.model.get_layer(BASE_NAME)
    if not 0 <= from_layer < len(base.layers):
        raise InvalidSettings(f"Fine-tuning must start at a layer from 0 to {len(base.layers) - 1}, not {from_layer}.")
    base.trainable = True
    for i, layer in enumerate(base.layers):
        if i < from_layer or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    compile_model(built.model, learning_rate)


def _run_epochs(result: TrainResult, learner, batch_inputs, train_labels, val_x, val_labels, epochs,
                total: int, stage: str, observer: Observer, stop: threading.Event, rng, batch_size: int) -> None:
    """The training loop: batches, observers, validation, and a clean stop."""
    steps = -(-len(train_labels) // batch_size)
    snapshot = [v.numpy() for v in learner.trainable_variables]
    for epoch in epochs:
        epoch_start = time.perf_counter()
        order = rng.permutation(len(train_labels))
        seen, loss_sum, acc_sum = 0, 0.0, 0.0  # sample-weighted running means, as fit reports
        for step in range(1, steps + 1):
            idx = order[(step - 1) * batch_size: step * batch_size]
            logs = learner.train_on_batch(batch_inputs(idx), train_labels[idx], return_dict=True)
            seen += len(idx)
            loss_sum += float(logs["loss"]) * len(idx)
            acc_sum += float(logs["accuracy"]) * len(idx)
            observer.on_batch(BatchReport(epoch, step, steps, loss_sum / seen, acc_sum / seen))
            if stop.is_set():
                break
        if stop.is_set():
            for var, value in zip(learner.trainable_variables, snapshot):
                var.assign(value)  # back to the last finished epoch
            result.stopped = True
            return
        val = learner.evaluate(val_x, val_labels, batch_size=128, verbose=0, return_dict=True)
        report = EpochReport(epoch, total, loss_sum / seen, acc_sum / seen, float(val["loss"]),
                             float(val["accuracy"]), time.perf_counter() - epoch_start, stage)
        result.history.append(report)
        snapshot = [v.numpy() for v in learner.trainable_variables]
        observer.on_epoch(report)

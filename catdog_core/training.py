"""Training one model: `train(spec, dataset)`, where Keras' own `fit` runs the loop
(jobs.run_job loads the data, calls it and saves the run; catdog_core.train wraps it for a
notebook).

A callback feeds the observer every batch and epoch and stops `fit` (through
`model.stop_training`) after the current batch when asked; the model then
goes back to the weights of the last finished epoch, and the partial epoch is
dropped. Seeded runs repeat exactly.

Two paths give the same model:
- plain: the whole Keras model trains on raw images, as in the post;
- cached (recipes with a frozen base): MobileNetV2's pooled output is computed
  once per image of each split and cached on disk by content, and only the
  head trains on it. With augmentation on, each batch's augmented images still
  pass through the base in the first epochs, so each of them sees new variants
  drawn as the post's layers draw them (augment.augment_batch); later epochs
  draw from the features those kept (spec.variants, see _VariantBank).

Small data: a split of 32 images is one batch, so "10 epochs" would be 10
optimizer steps, far too few to learn anything. A run on a training split of
fewer than SMALL_DATA_IMAGES images trains at least MIN_STEPS steps (more
epochs), within a time budget.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import config, features
from .augment import NO_AUGMENTATION, AugmentSettings
from .dataset import Dataset
from .errors import InvalidSettings
from .words import count
from .jobspec import (MAX_EPOCHS, SMALL_DATA_IMAGES, VARIANTS, BatchReport, JobSpec,  # noqa: F401
                      check_spec, epochs_for_steps)
from .progress import phases
from .models import BASE_NAME, BuiltModel, build, compile_model, get_recipe, shared_base

SMALL_DATA_SECONDS = 60.0  # the most the extra epochs of a small dataset may add


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

    def on_plan(self, report: BatchReport) -> None:
        """Before the model is built: the epochs planned (report.epochs) and the steps of one, as a
        report of step 0 (no batch has run, so its loss and accuracy are NaN)."""

    def on_batch(self, report: BatchReport) -> None: ...

    def on_epoch(self, report: EpochReport) -> None: ...




@dataclass
class TrainResult:
    recipe: str
    model: object  # the inference model (no random layers): what a run saves
    class_names: tuple[str, ...]
    settings: AugmentSettings
    epochs_requested: int
    history: list[EpochReport] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_count: int = 0
    test_logits: object = None  # np.ndarray of the test split, when measured from cached features
    validation_logits: object = None  # likewise of the validation split
    stopped: bool = False
    fine_tune_from_epoch: int | None = None  # fine-tuning began after this epoch
    cached: bool = False
    engine: str = "TensorFlow"
    seconds: float = 0.0
    setup_seconds: float = 0.0
    steps_per_epoch: int = 0
    notes: list[str] = field(default_factory=list)  # what a student should know about this run

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1].val_accuracy if self.history else None


class _Batches:
    """Shuffled training batches for fit: the order of epoch k depends on the seed and k only."""

    def __new__(cls, *args, **kwargs):
        import keras

        class Feeder(keras.utils.PyDataset):
            def __init__(self, make_inputs, labels: np.ndarray, batch_size: int, seed: int, first_epoch: int):
                super().__init__()
                self.make_inputs, self.labels, self.batch_size, self.seed = make_inputs, labels, batch_size, seed
                self.epoch = first_epoch
                self.order = self._order(first_epoch)

            def _order(self, epoch: int) -> np.ndarray:
                return np.random.default_rng((self.seed, epoch)).permutation(len(self.labels))

            def __len__(self) -> int:
                return math.ceil(len(self.labels) / self.batch_size)

            def __getitem__(self, i: int):
                idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
                return self.make_inputs(idx, self.epoch - 1), self.labels[idx]

            def on_epoch_begin(self):
                # Counted here only: Keras also calls on_epoch_end once before the first epoch.
                self.order = self._order(self.epoch)
                self.epoch += 1

        return Feeder(*args, **kwargs)


class _VariantBank:
    """make_inputs(idx, epoch) for an augmented run on a frozen base: the base's features of
    augmented training photos.

    In the first `variants` epochs every batch is augmented and goes through the base, as in the
    post, and its features are kept. From then on each photo's features are one of its kept
    variants, drawn per epoch from the seed: the base, nearly all of an epoch's cost, does not run
    again. With `variants` 0 every epoch makes new ones, as the post does. The bank holds at most
    MAX_BYTES; a larger training split keeps fewer variants.
    """

    MAX_BYTES = 512 * 2**20
    FEATURES = 1280  # MobileNetV2's pooled output, float32

    def __init__(self, make, count: int, variants: int, seed: int):
        self.make, self.count, self.seed = make, count, seed  # make(idx, epoch): a batch's augmented features
        self.variants = min(variants, self.MAX_BYTES // max(1, count * self.FEATURES * 4))
        self.bank: np.ndarray | None = None  # (variants, count, features), filled in the first epochs
        self.picks: tuple[int, np.ndarray] | None = None  # (epoch, the variant each photo gets in it)

    def __call__(self, idx: np.ndarray, epoch: int) -> np.ndarray:
        if epoch >= self.variants > 0:
            if self.picks is None or self.picks[0] != epoch:
                self.picks = (epoch, np.random.default_rng((self.seed, epoch, 1)).integers(
                    self.variants, size=self.count))
            return self.bank[self.picks[1][idx], idx]
        x = self.make(idx, epoch)
        if 0 <= epoch < self.variants:  # (Keras asks for two batches before the first epoch, to learn their shape)
            if self.bank is None:
                self.bank = np.empty((self.variants, self.count, x.shape[1]), np.float32)
            self.bank[epoch, idx] = x
        return x


class _Reporter:
    """The keras.callbacks.Callback that feeds the observer and stops fit cleanly."""

    def __new__(cls, *args, **kwargs):
        import keras

        class Reporter(keras.callbacks.Callback):
            def __init__(self, result: TrainResult, learner, observer: Observer, stop: threading.Event,
                         total: int, stage: str, steps: int, min_epochs: int, budget_end: float | None,
                         checkpoint: Path | None):
                super().__init__()
                self.result, self.learner, self.observer, self.stop = result, learner, observer, stop
                self.checkpoint = checkpoint
                self.total, self.stage, self.steps = total, stage, steps
                self.min_epochs, self.budget_end = min_epochs, budget_end
                self.snapshot = [v.numpy() for v in learner.trainable_variables]
                self.partial = False

            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                logs = logs or {}
                self.observer.on_batch(BatchReport(self.epoch_number, batch + 1, self.steps,
                                                   float(logs.get("loss", math.nan)),
                                                   float(logs.get("accuracy", math.nan)), self.total, self.stage,
                                                   time.perf_counter() - self.started, time.time()))
                if self.stop.is_set():
                    self.partial = batch + 1 < self.steps  # a finished epoch is kept and reported
                    self.model.stop_training = True

            @property
            def epoch_number(self) -> int:
                return len(self.result.history) + 1

            def on_epoch_end(self, epoch, logs=None):
                if self.stop.is_set():
                    self.result.stopped = True
                if self.partial:  # stopped mid-epoch: back to the last finished epoch, nothing reported
                    for var, value in zip(self.learner.trainable_variables, self.snapshot):
                        var.assign(value)
                    self.result.stopped = True
                    return
                logs = logs or {}
                report = EpochReport(self.epoch_number, self.total, float(logs["loss"]), float(logs["accuracy"]),
                                     float(logs["val_loss"]), float(logs["val_accuracy"]),
                                     time.perf_counter() - self.started, self.stage)
                self.result.history.append(report)
                self.snapshot = [v.numpy() for v in self.learner.trainable_variables]
                if self.checkpoint is not None:
                    _write_checkpoint(self.checkpoint, self.learner, self.result, self.stage)
                self.observer.on_epoch(report)
                if (self.budget_end is not None and report.epoch >= self.min_epochs
                        and time.perf_counter() > self.budget_end):
                    self.model.stop_training = True  # a small dataset's extra epochs ran out of time

        return Reporter(*args, **kwargs)


CHECKPOINT_WEIGHTS = "weights.npz"


def read_checkpoint_weights(folder: Path) -> list[np.ndarray]:
    """The weights _write_checkpoint wrote, for `learner.set_weights` (no pickles are read)."""
    with np.load(Path(folder) / CHECKPOINT_WEIGHTS, allow_pickle=False) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _write_checkpoint(folder: Path, learner, result: TrainResult, stage: str) -> None:
    """The learner's weights and the history after a finished epoch, replaced whole each time:
    what `salvage` saves as a run when the process training it is killed.

    Not keras.callbacks.BackupAndRestore or ModelCheckpoint: those resume or keep weights for a
    later fit, while a salvaged job becomes a finished run in another process, which also needs the
    history, the stage (frozen or fine-tune) and whether the head or the whole model was learning.
    """
    import io

    from .fileio import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    arrays = io.BytesIO()  # every weight in the learner's own order: ~1 ms for the head, where
    np.savez(arrays, *learner.get_weights())  # Keras' save_weights walked the layers for ~60 ms
    write_atomic(folder / CHECKPOINT_WEIGHTS, arrays.getvalue())
    info = {"learner": "head" if learner.name == "head" else "model", "stage": stage,
            "history": [h.to_dict() for h in result.history], "class_names": list(result.class_names),
            "fine_tune_from_epoch": result.fine_tune_from_epoch, "epochs_requested": result.epochs_requested,
            "notes": result.notes}
    write_atomic(folder / "checkpoint.json", json.dumps(info).encode("utf-8", "surrogatepass"))


def _fit(result: TrainResult, learner, batches, val, epochs: range, total: int, stage: str,
         observer: Observer, stop: threading.Event, min_epochs: int, budget_end: float | None,
         checkpoint: Path | None = None) -> None:
    steps = len(batches)
    reporter = _Reporter(result, learner, observer, stop, total, stage, steps, min_epochs, budget_end,
                         checkpoint)
    if stop.is_set():
        result.stopped = True
        return
    per_epoch = None
    if isinstance(batches, _FeatureBatches):  # every epoch's batches in one dataset: say where an epoch ends
        batches, per_epoch = batches.dataset(epochs), steps
    learner.fit(batches, epochs=epochs.stop - 1, initial_epoch=epochs.start - 1, validation_data=val,
                callbacks=[reporter], verbose=0, shuffle=False, steps_per_epoch=per_epoch)


class _FeatureBatches:
    """The same shuffled batches as _Batches, of cached features, as one tf.data pipeline that
    gathers rows from two in-memory arrays: no Python per batch. With the head compiled to run a
    whole epoch per call (steps_per_execution), `fit` costs ~0.1 s an epoch here instead of
    ~0.4 s; the observer then hears once per epoch, and a stop ends training at the epoch's end."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        self.features, self.labels, self.batch_size, self.seed = features, labels, batch_size, seed

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def dataset(self, epochs: range):
        import tensorflow as tf

        orders = np.stack([np.random.default_rng((self.seed, e)).permutation(len(self.labels))
                           for e in range(epochs.start - 1, epochs.stop - 1)])
        x, y, size = tf.constant(self.features), tf.constant(self.labels), self.batch_size
        return (tf.data.Dataset.from_tensor_slices(orders)
                .flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(size))
                .map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)))
                .prefetch(2))


class _HeadPool:
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
            import keras

            model = keras.models.clone_model(head)
            compile_model(model, learning_rate, steps_per_execution=steps_per_execution)
            model.optimizer.build(model.trainable_variables)
            kept = model, [v.numpy() for v in model.optimizer.variables]
        model, fresh = kept
        _copy_state(head, model)
        for variable, value in zip(model.optimizer.variables, fresh):
            variable.assign(value)
        return model, (key, fresh)

    def give_back(self, model, token) -> None:
        key, fresh = token
        with self._lock:
            self._kept[key] = (model, fresh)
            self._kept.move_to_end(key)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)


def _copy_state(source, target) -> None:
    """Every variable of one model (weights and seed states) into another of the same layers."""
    pairs = list(zip(source.variables, target.variables))
    if len(source.variables) != len(target.variables) or any(a.shape != b.shape for a, b in pairs):
        raise ValueError("the two models do not have the same layers")
    for a, b in pairs:
        b.assign(a.value)


_heads = _HeadPool()
VAL_BATCH = 1024  # validation features per step: one step an epoch for the post's data


def _feature_steps(x: np.ndarray, y: np.ndarray):
    """Cached features to evaluate on, as one dataset of VAL_BATCH-row steps: given arrays, Keras
    would cut them into 32-row steps anew at every epoch."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(VAL_BATCH)


def _kept_rows(spec: JobSpec, data: Dataset):
    """The rows of the training split a job trains on, or None for all: spec.exclude names the
    photos left out (checked to be training photos of this dataset; validation and test keep theirs)."""
    from .suspects import kept_rows

    return kept_rows(data, getattr(spec, "exclude", ()))


def _features(extract, data: Dataset, split: str, observer: Observer):
    return features.cached_features(extract, data.key, split, data.split(split).images, phases(observer.on_phase))


def train(spec: JobSpec, dataset: Dataset, *, observer: Observer | None = None,
          stop: threading.Event | None = None, batch_size: int = config.BATCH_SIZE,
          checkpoint: Path | None = None) -> TrainResult:
    """Train what the spec says on the dataset: its recipe for its epochs (more on a small dataset);
    returns the history and test metrics (the spec's `data` is not read: the dataset is given).

    A set `stop` event ends training after the current batch; the model keeps
    the weights of the last finished epoch and the partial epoch is dropped.
    `fine_tune_epochs` more epochs then train the base from layer
    `fine_tune_at` on at a 10x lower learning rate (transfer recipe only).
    A training split too small for `min_steps` optimizer steps in `epochs`
    epochs trains more epochs, for at most SMALL_DATA_SECONDS more. With a
    `checkpoint` folder, the weights are written there after every epoch.
    """
    run = _Training(spec, dataset, observer or Observer(), stop or threading.Event(), batch_size, checkpoint)
    run.announce()
    result = run.build()
    run.prepare_inputs(result)
    result.setup_seconds = time.perf_counter() - run.started
    run.observer.on_phase("Training")
    batches = run.first_batches()
    try:
        run.first_stage(result, batches)
        run.fine_tune(result)
        run.measure_test(result)
    finally:
        if run.kept is not None:
            _heads.give_back(*run.kept)
    result.seconds = time.perf_counter() - run.started
    return result


def _checked_variants(spec: JobSpec, dataset: Dataset) -> int:
    """The spec checked against its bounds (jobspec.BOUNDS) and the data; its number of kept variants."""
    check_spec(spec)
    if spec.fine_tune_epochs and not get_recipe(spec.recipe).frozen_base:
        raise InvalidSettings(f"Fine-tuning needs a recipe with a frozen base (transfer), not {spec.recipe!r}.")
    if len(dataset.train) == 0:
        raise InvalidSettings("The training split is empty: add images to train/ first.")
    return spec.variants


class _Training:
    """One call of `train`, step by step: what it planned, built and trains on. The same batches,
    in the same order, whether the head trains on cached features or the whole model on raw
    images: both paths follow one trajectory."""

    def __init__(self, spec: JobSpec, dataset: Dataset, observer: Observer, stop: threading.Event,
                 batch_size: int, checkpoint: Path | None):
        self.variants = _checked_variants(spec, dataset)
        self.spec, self.dataset, self.observer, self.stop = spec, dataset, observer, stop
        self.batch_size, self.checkpoint = batch_size, checkpoint
        self.keep = _kept_rows(spec, dataset)  # the training photos left after spec.exclude (None: all)
        self.train_count = len(dataset.train) if self.keep is None else len(self.keep)
        self.settings = spec.settings or AugmentSettings()
        self.weights = spec.weights or config.base_weights_setting()
        self.started = time.perf_counter()
        self.steps = math.ceil(self.train_count / batch_size)
        self.first_epochs = epochs_for_steps(spec.epochs, self.train_count, batch_size, spec.min_steps)
        self.total = self.first_epochs + spec.fine_tune_epochs
        self.frozen = get_recipe(spec.recipe).frozen_base
        self.labels = {s: dataset.split(s).labels for s in ("train", "validation", "test")}
        if self.keep is not None:
            self.labels["train"] = self.labels["train"][self.keep]
        self.bank = None  # the augmented features an augmented run on a frozen base keeps (_VariantBank)
        self.kept = None  # (compiled head, token) while a kept head (see _HeadPool) stands in for the job's own
        self.val_x = self.train_x = None

    def announce(self) -> None:
        """Said before the slow part: "Epochs finished 0 of 100" from the start, never "0 of 10" then 100."""
        plan = BatchReport(1, 0, self.steps, math.nan, math.nan, self.total, "frozen" if self.frozen else "train",
                           0.0, time.time())
        if hasattr(self.observer, "on_plan"):  # an observer of an earlier version may lack it
            self.observer.on_plan(plan)

    def build(self) -> TrainResult:
        import keras

        spec = self.spec
        self.observer.on_phase("Building the model")
        share_base = not spec.fine_tune_epochs and self.frozen
        if share_base:
            shared_base(self.weights)  # made (or found) before seeding, so a seeded run repeats exactly either way
        keras.utils.set_random_seed(spec.seed)
        self.built = build(spec.recipe, len(self.dataset.class_names), self.settings, weights=self.weights,
                           learning_rate=spec.learning_rate, share_base=share_base)
        self.cached = spec.use_cache and self.built.features is not None
        self.learning_rate = spec.learning_rate or self.built.recipe.learning_rate
        result = TrainResult(get_recipe(spec.recipe).name, self.built.inference, self.dataset.class_names,
                             self.settings, self.total, cached=self.cached, steps_per_epoch=self.steps)
        self.budget_end = self._small_data(result)
        if self.keep is not None:
            result.notes.append(f"{count(len(self.dataset.train) - self.train_count, 'training photo')} left out of "
                                "training (suspected wrong labels); validation and test unchanged.")
        return result

    def _small_data(self, result: TrainResult) -> float | None:
        """When the extra epochs of a small training split must end (None: no extra epochs)."""
        epochs, steps, first = self.spec.epochs, self.steps, self.first_epochs
        if first <= epochs:
            return None
        result.notes.append(
            f"The training split has {count(self.train_count, 'image')}, {count(steps, 'batch', 'batches')} "
            f"per epoch, so {count(epochs, 'epoch')} would be only {count(epochs * steps, 'optimizer step')}. It "
            f"trains up to {first} epochs ({first * steps} steps) instead, stopping after "
            f"{SMALL_DATA_SECONDS:.0f} s once the {count(epochs, 'epoch')} asked for {'is' if epochs == 1 else 'are'} "
            "done.")
        return time.perf_counter() + SMALL_DATA_SECONDS

    def _photos(self, idx) -> np.ndarray:
        """The uint8 training photos of batch idx (rows of the kept photos when spec.exclude left some out)."""
        return self.dataset.train.images[idx if self.keep is None else self.keep[idx]]

    def _raw_inputs(self, idx):
        return self._photos(idx).astype("float32")

    def _raw_batches(self, idx, epoch):  # _Batches' make_inputs: every epoch alike
        return self._raw_inputs(idx)

    def _raw_val(self):
        return self.dataset.validation.images.astype("float32"), self.labels["validation"]

    def _raw_test(self):
        return self.dataset.test.images.astype("float32") if len(self.dataset.test) else None

    def prepare_inputs(self, result: TrainResult) -> None:
        """What the first stage trains and validates on: the base's cached features, or raw images."""
        if not self.cached:
            self.learner, self.val, self.test_x = self.built.model, self._raw_val(), self._raw_test()
            self.make_inputs = self._raw_batches
            return
        built, dataset, observer = self.built, self.dataset, self.observer
        self.learner = built.head
        if not features.tflite_path(features.base_key(built.features, self.weights)).is_file():
            observer.on_phase("Preparing a fast MobileNetV2 (once per machine, a few seconds)")
        extract = features.FeatureExtractor(built.features, self.weights)
        result.engine = extract.engine
        self.val_x = _features(extract, dataset, "validation", observer)
        self.val = _feature_steps(self.val_x, self.labels["validation"])
        self.test_x = _features(extract, dataset, "test", observer) if len(dataset.test) else None
        if built.augmentation is None:
            self.train_x = _features(extract, dataset, "train", observer)
            if self.keep is not None:
                self.train_x = self.train_x[self.keep]
        else:
            self.make_inputs = self.bank = _VariantBank(self._augmented_features(extract), self.train_count,
                                                        self.variants, self.spec.seed)

    def _augmented_features(self, extract):
        """make(idx, epoch) for the variant bank: the base's features of a batch augmented under the
        run's settings, drawn from the seed, the epoch and the batch. augment.augment_batch draws as
        the model's own random layers do (a test holds their pixels together) at half their cost."""
        from .augment import augment_batch

        def make(idx: np.ndarray, epoch: int) -> np.ndarray:
            draw = np.random.default_rng((self.spec.seed, epoch + 1, int(idx[0]), len(idx))).integers(2**31 - 8)
            return extract(augment_batch(self._photos(idx), self.settings, int(draw)))

        return make

    def first_batches(self):
        """The first stage's batches; on cached features without augmentation, a kept compiled head learns."""
        if self.cached and self.built.augmentation is None:
            batches = _FeatureBatches(self.train_x, self.labels["train"], self.batch_size, self.spec.seed)
            self.kept = _heads.take(self.built.head, self.learning_rate, len(batches))
            self.learner = self.kept[0]
            return batches
        return _Batches(self.make_inputs, self.labels["train"], self.batch_size, self.spec.seed, 0)

    def first_stage(self, result: TrainResult, batches) -> None:
        stage = "frozen" if self.built.features is not None else "train"
        _fit(result, self.learner, batches, self.val, range(1, self.first_epochs + 1), self.total, stage,
             self.observer, self.stop, self.spec.epochs, self.budget_end, self.checkpoint)
        if self.kept is not None:
            _copy_state(self.learner, self.built.head)  # the job's own head (inside the saved model) gets the training
        if self.bank is not None:
            self._variants_note(result)
            self.bank.bank = None  # ~100 MB for the post's data; fine-tuning (below) trains on raw images
        if result.history and len(result.history) < self.first_epochs and not result.stopped:
            self.total = len(result.history) + self.spec.fine_tune_epochs  # the time budget ended the extra epochs
            result.epochs_requested = self.total

    def _variants_note(self, result: TrainResult) -> None:
        drawn = self.bank.variants
        if 0 < drawn < len(result.history):
            result.notes.append(
                f"Augmentation: epochs 1-{drawn} made a new variant of every training photo, as the post does, "
                f"and kept MobileNetV2's features of each. Epochs {drawn + 1}-{len(result.history)} each drew "
                f"one of those {drawn} per photo, so the base did not run again. \"New variants every epoch\" "
                "on the Training page (or catdog train --variants 0) makes new ones every epoch.")

    def fine_tune(self, result: TrainResult) -> None:
        """The base can no longer be cached: the whole model trains on raw images from here."""
        spec = self.spec
        if not spec.fine_tune_epochs or result.stopped or not result.history:
            return
        self.observer.on_phase(f"Unfreezing MobileNetV2 from layer {spec.fine_tune_at} for fine-tuning")
        done = len(result.history)
        self.learner = self.built.model
        unfreeze(self.built, spec.fine_tune_at, self.learning_rate / 10)
        self.test_x = self._raw_test()
        result.fine_tune_from_epoch = done
        _fit(result, self.learner, _Batches(self._raw_batches, self.labels["train"], self.batch_size, spec.seed, done),
             self._raw_val(), range(done + 1, done + spec.fine_tune_epochs + 1), self.total, "fine-tune",
             self.observer, self.stop, 0, None, self.checkpoint)

    def measure_test(self, result: TrainResult) -> None:
        if self.test_x is None or not result.history:
            return
        self.observer.on_phase("Measuring the test split")
        learner, labels = self.learner, self.labels["test"]
        if self.kept is not None and learner is self.kept[0]:  # features: validation traced these steps already
            test = learner.evaluate(_feature_steps(self.test_x, labels), verbose=0, return_dict=True)
        else:
            test = learner.evaluate(self.test_x, labels, batch_size=128, verbose=0, return_dict=True)
        result.test_loss, result.test_accuracy = float(test["loss"]), float(test["accuracy"])
        result.test_count = len(self.dataset.test)
        if self.cached and learner is not self.built.model:  # the head on features: its logits in numpy, no trace
            result.test_logits = _head_logits(self.built.head, self.test_x)
            result.validation_logits = _head_logits(self.built.head, self.val_x)


def _head_logits(head, features_x) -> np.ndarray | None:
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


def warm_cache(dataset: Dataset, observer: Observer | None = None, weights: str | None = None) -> None:
    """Do ahead what a quick transfer job on this dataset needs before its first epoch: build this
    process's shared frozen MobileNetV2, convert it to the fast runtime (once per machine), cache
    its features of every split (once per dataset), and train the quick preset's head for one
    epoch, not saved, so this process keeps its compiled training step (see _HeadPool). A job
    that follows only trains the head."""
    from dataclasses import replace

    from .jobspec import quick_spec

    observer = observer or Observer()
    weights = weights or config.base_weights_setting()
    observer.on_phase("Building MobileNetV2")
    built = build("transfer", max(2, len(dataset.class_names)), NO_AUGMENTATION, weights=weights,
                  share_base=True)
    if not features.tflite_path(features.base_key(built.features, weights)).is_file():
        observer.on_phase("Preparing a fast MobileNetV2 (once per machine, a few seconds)")
    extract = features.FeatureExtractor(built.features, weights)
    for split in ("validation", "test", "train"):
        if len(dataset.split(split)):
            _features(extract, dataset, split, observer)
    if len(dataset.class_names) >= 2 and len(dataset.train):
        observer.on_phase("Preparing the quick model's training step")
        train(replace(quick_spec(), epochs=1, min_steps=0, weights=weights), dataset)


def unfreeze(built: BuiltModel, from_layer: int, learning_rate: float) -> None:
    """Make the base's layers from `from_layer` on trainable and recompile at the lower rate.

    BatchNormalization layers stay frozen, so they keep running in inference
    mode with their ImageNet statistics: in Keras 3 the model's training=True
    overrides the base's recorded training=False (keras-team/keras#20285).
    """
    import keras

    base = built.model.get_layer(BASE_NAME)
    if not 0 <= from_layer < len(base.layers):
        raise InvalidSettings(f"Fine-tuning must start at a layer from 0 to {len(base.layers) - 1}, not {from_layer}.")
    base.trainable = True
    for i, layer in enumerate(base.layers):
        if i < from_layer or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    compile_model(built.model, learning_rate)

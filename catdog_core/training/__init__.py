"""Training one model: `train(spec, dataset)`, where Keras' own `fit` runs the loop (jobs.run_job
loads the data, calls it and saves the run; catdog_core.train wraps it for a notebook).

Here a run is planned and its steps run; its parts have their own modules: result (what it
reports), batches (what fit sees), fitloop (a stage's fit, its callback, a clean stop), heads (the
compiled heads a process keeps), frozenbase (the base's features, unfreezing), checkpoint (written
after every epoch). Seeded runs repeat exactly.

Two paths give the same model:
- plain: the whole Keras model trains on raw images, as in the post;
- cached (recipes with a frozen base): MobileNetV2's pooled output is computed
  once per image of each split and cached on disk by content, and only the
  head trains on it. With augmentation on, each batch's augmented images still
  pass through the base in the first epochs, so each of them sees new variants
  drawn as the post's layers draw them (augment.augment_batch); later epochs
  draw from the features those kept (spec.variants, see batches.VariantBank).

Small data: a split of 32 images is one batch, so "10 epochs" would be 10
optimizer steps, far too few to learn anything. A run on a training split of
fewer than SMALL_DATA_IMAGES images trains at least MIN_STEPS steps (more
epochs), within a time budget.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np

from .. import config
from ..augment import NO_AUGMENTATION, AugmentSettings
from .batches import FeatureBatches, VariantBank, feature_steps, shuffled_batches
from .checkpoint import CHECKPOINT_WEIGHTS, read_checkpoint_weights
from ..dataset import Dataset
from ..errors import InvalidSettings
from ..exclusions import kept_rows
from .fitloop import Run, Stage, fit
from .frozenbase import extractor, split_features, unfreeze
from .heads import HeadPool, copy_state, head_logits
from ..words import count
from ..jobspec import MAX_EPOCHS, SMALL_DATA_IMAGES, VARIANTS, JobSpec, check_spec, epochs_for_steps
from ..models import build, get_recipe, shared_base
from .result import EpochReport, Observer, TrainResult
from ..progress import BatchReport, Phase

__all__ = ["CHECKPOINT_WEIGHTS", "MAX_EPOCHS", "SMALL_DATA_IMAGES", "SMALL_DATA_SECONDS", "VARIANTS", "BatchReport",
           "EpochReport", "JobSpec", "Observer", "TrainResult", "epochs_for_steps", "read_checkpoint_weights",
           "train", "unfreeze", "warm_cache"]

SMALL_DATA_SECONDS = 60.0  # the most the extra epochs of a small dataset may add
_heads = HeadPool()  # this process's compiled heads, lent to one job at a time


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
    run.observer.phase(Phase.TRAINING)
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
        # The training photos left after spec.exclude (None: all); validation and test keep theirs.
        self.keep = kept_rows(dataset, getattr(spec, "exclude", ()))
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
        self.bank = None  # the augmented features an augmented run on a frozen base keeps (VariantBank)
        self.kept = None  # (compiled head, token) while a kept head (see HeadPool) stands in for the job's own
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
        self.observer.phase(Phase.BUILDING)
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

    def _raw_batches(self, idx, epoch):  # shuffled_batches' make_inputs: every epoch alike
        return self._photos(idx).astype("float32")

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
        extract = extractor(built, self.weights, observer.progress)
        result.engine = extract.engine
        self.val_x = split_features(extract, dataset, "validation", observer.progress)
        self.val = feature_steps(self.val_x, self.labels["validation"])
        self.test_x = split_features(extract, dataset, "test", observer.progress) if len(dataset.test) else None
        if built.augmentation is None:
            self.train_x = split_features(extract, dataset, "train", observer.progress)
            if self.keep is not None:
                self.train_x = self.train_x[self.keep]
        else:
            self.make_inputs = self.bank = VariantBank(self._augmented_features(extract), self.train_count,
                                                        self.variants, self.spec.seed)

    def _augmented_features(self, extract):
        """make(idx, epoch) for the variant bank: the base's features of a batch augmented under the
        run's settings, drawn from the seed, the epoch and the batch. augment.augment_batch draws as
        the model's own random layers do (a test holds their pixels together) at half their cost."""
        from ..augment import augment_batch

        def make(idx: np.ndarray, epoch: int) -> np.ndarray:
            draw = np.random.default_rng((self.spec.seed, epoch + 1, int(idx[0]), len(idx))).integers(2**31 - 8)
            return extract(augment_batch(self._photos(idx), self.settings, int(draw)))

        return make

    def first_batches(self):
        """The first stage's batches; on cached features without augmentation, a kept compiled head learns."""
        if self.cached and self.built.augmentation is None:
            batches = FeatureBatches(self.train_x, self.labels["train"], self.batch_size, self.spec.seed)
            self.kept = _heads.take(self.built.head, self.learning_rate, len(batches))
            self.learner = self.kept[0]
            return batches
        return shuffled_batches(self.make_inputs, self.labels["train"], self.batch_size, self.spec.seed, 0)

    def first_stage(self, result: TrainResult, batches) -> None:
        name = "frozen" if self.built.features is not None else "train"
        self._fit(result, Stage(name, self.learner, batches, self.val, range(1, self.first_epochs + 1), self.total,
                                self.spec.epochs, self.budget_end))
        if self.kept is not None:
            copy_state(self.learner, self.built.head)  # the job's own head (inside the saved model) gets the training
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
        self.observer.phase(f"Unfreezing MobileNetV2 from layer {spec.fine_tune_at} for fine-tuning")
        done = len(result.history)
        self.learner = self.built.model
        unfreeze(self.built, spec.fine_tune_at, self.learning_rate / 10)
        self.test_x = self._raw_test()
        result.fine_tune_from_epoch = done
        batches = shuffled_batches(self._raw_batches, self.labels["train"], self.batch_size, spec.seed, done)
        self._fit(result, Stage("fine-tune", self.learner, batches, self._raw_val(),
                                range(done + 1, done + spec.fine_tune_epochs + 1), self.total))

    def _fit(self, result: TrainResult, stage: Stage) -> None:
        fit(stage, Run(result, self.observer, self.stop, self.checkpoint))

    def measure_test(self, result: TrainResult) -> None:
        if self.test_x is None or not result.history:
            return
        self.observer.phase(Phase.TESTING)
        learner, labels = self.learner, self.labels["test"]
        if self.kept is not None and learner is self.kept[0]:  # features: validation traced these steps already
            test = learner.evaluate(feature_steps(self.test_x, labels), verbose=0, return_dict=True)
        else:
            test = learner.evaluate(self.test_x, labels, batch_size=128, verbose=0, return_dict=True)
        result.test_loss, result.test_accuracy = float(test["loss"]), float(test["accuracy"])
        result.test_count = len(self.dataset.test)
        if self.cached and learner is not self.built.model:  # the head on features: its logits in numpy, no trace
            result.test_logits = head_logits(self.built.head, self.test_x)
            result.validation_logits = head_logits(self.built.head, self.val_x)


def warm_cache(dataset: Dataset, observer: Observer | None = None, weights: str | None = None) -> None:
    """Do ahead what a quick transfer job on this dataset needs before its first epoch: build this
    process's shared frozen MobileNetV2, convert it to the fast runtime (once per machine), cache
    its features of every split (once per dataset), and train the quick preset's head for one
    epoch, not saved, so this process keeps its compiled training step (see heads.HeadPool). A job
    that follows only trains the head."""
    from dataclasses import replace

    from ..jobspec import quick_spec

    observer = observer or Observer()
    weights = weights or config.base_weights_setting()
    observer.phase(Phase.BASE)
    built = build("transfer", max(2, len(dataset.class_names)), NO_AUGMENTATION, weights=weights,
                  share_base=True)
    extract = extractor(built, weights, observer.progress)
    for split in ("validation", "test", "train"):
        if len(dataset.split(split)):
            split_features(extract, dataset, split, observer.progress)
    if len(dataset.class_names) >= 2 and len(dataset.train):
        observer.phase("Preparing the quick model's training step")
        train(replace(quick_spec(), epochs=1, min_steps=0, weights=weights), dataset)


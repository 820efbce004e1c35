"""Tests for catdog_core.training: observers, stopping, determinism and the feature cache."""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import numpy as np
import pytest

from catdog_core.training import checkpoint, heads
from catdog_core import dataset, jobs, models, training
from catdog_core.jobs import JobSpec
from catdog_core.augment import NO_AUGMENTATION, AugmentSettings
from catdog_core.errors import InvalidSettings
from catdog_core.jobs import BatchReport
from catdog_core.training import EpochReport, Observer


@pytest.fixture(scope="module")
def data(synthetic_data):
    return dataset.load_dataset(synthetic_data)  # 48 train, 16 validation, 4 test


class Recorder(Observer):
    def __init__(self):
        self.batches: list[BatchReport] = []
        self.epochs: list[EpochReport] = []
        self.phases: list[str] = []

    def progress(self, done, total, message=""):
        self.phases.append(message)

    def on_batch(self, report):
        self.batches.append(report)

    def on_epoch(self, report):
        self.epochs.append(report)


@pytest.fixture
def base_calls(monkeypatch) -> list[int]:
    """The size of every batch the frozen base (features.FeatureExtractor) is called with."""
    from catdog_core import features

    calls = []
    real_call = features.FeatureExtractor.__call__

    def counting(self, images):
        calls.append(len(images))
        return real_call(self, images)

    monkeypatch.setattr(features.FeatureExtractor, "__call__", counting)
    return calls


@pytest.fixture
def built_models(monkeypatch):
    """Every BuiltModel that training.train builds, so a test can look at its weights."""
    seen = []

    def spy(*args, **kwargs):
        seen.append(models.build(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(training, "build", spy)
    return seen


@pytest.mark.parametrize("recipe", list(models.RECIPES))
def test_each_recipe_trains_one_epoch_and_reports(data, recipe):
    observer = Recorder()
    result = training.train(JobSpec(recipe, 1, AugmentSettings(), min_steps=0), data, observer=observer, batch_size=32)
    # 48 training images in batches of 32: two steps, each reported.
    assert [(b.epoch, b.step, b.steps) for b in observer.batches] == [(1, 1, 2), (1, 2, 2)]
    assert all(math.isfinite(b.loss) and 0 <= b.accuracy <= 1 for b in observer.batches)
    assert len(observer.epochs) == 1 and result.history == observer.epochs
    report = observer.epochs[0]
    assert (report.epoch, report.epochs) == (1, 1)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        value = getattr(report, name)
        assert isinstance(value, float) and math.isfinite(value), name
    assert 0 <= report.accuracy <= 1 and 0 <= report.val_accuracy <= 1 and report.seconds > 0
    # The epoch's training numbers are the running means of the last batch report.
    assert report.loss == pytest.approx(observer.batches[-1].loss)
    assert report.accuracy == pytest.approx(observer.batches[-1].accuracy)
    assert {"epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(report.to_dict())
    assert report.stage == ("frozen" if recipe == "transfer" else "train")
    assert result.recipe == recipe and result.epochs_done == 1 and not result.stopped
    assert result.cached == (recipe == "transfer")
    assert result.test_accuracy is not None and 0 <= result.test_accuracy <= 1
    assert result.val_accuracy == report.val_accuracy
    assert result.class_names == ("cats", "dogs")
    assert "Building the model" in observer.phases


class StopAt(Recorder):
    """Sets the stop event from inside the observer at (epoch, step); records weights per epoch."""

    def __init__(self, stop, epoch, step, built, training_model=None):
        super().__init__()
        self.stop, self.at, self.built = stop, (epoch, step), built
        self.training_model = training_model or (lambda: self.built[-1].model)  # what fit is training
        self.weights_after_epoch: list[list[np.ndarray]] = []

    def on_batch(self, report):
        super().on_batch(report)
        if (report.epoch, report.step) == self.at:
            self.stop.set()

    def on_epoch(self, report):
        super().on_epoch(report)
        self.weights_after_epoch.append([w.copy() for w in self.training_model().get_weights()])


@pytest.mark.parametrize("recipe, settings", [("baseline", NO_AUGMENTATION), ("transfer", AugmentSettings())])
def test_stop_during_epoch_two_keeps_epoch_one(data, built_models, recipe, settings):
    stop = threading.Event()
    observer = StopAt(stop, epoch=2, step=1, built=built_models)
    result = training.train(JobSpec(recipe, 5, settings, min_steps=0), data, observer=observer, stop=stop, batch_size=16)  # 3 steps per epoch
    assert result.stopped
    # It stopped right after the batch during which the event was set.
    assert [(b.epoch, b.step) for b in observer.batches] == [(1, 1), (1, 2), (1, 3), (2, 1)]
    assert [h.epoch for h in result.history] == [1] and result.epochs_done == 1
    assert observer.epochs == result.history
    # The model has the weights it had at the end of epoch 1, not those of the half epoch.
    assert result.model is built_models[-1].inference
    final = result.model.get_weights()
    for kept, now in zip(observer.weights_after_epoch[0], final):
        np.testing.assert_array_equal(now, kept)
    assert result.test_accuracy is not None  # the kept model is still evaluated on test


def test_cached_head_runs_an_epoch_per_call_and_stops_at_its_end(data, built_models, monkeypatch):
    """On cached features the head trains a whole epoch per call: one report per epoch, and a stop
    asked for during epoch 2 keeps epoch 2 whole (it had finished when the stop was heard)."""
    stop = threading.Event()
    learners = []  # the compiled head fit trains (the job's own head gets its state at the end)
    real_take = training._heads.take
    monkeypatch.setattr(training._heads, "take", lambda *a, **k: learners.append(real_take(*a, **k)) or learners[-1])
    observer = StopAt(stop, epoch=2, step=3, built=built_models, training_model=lambda: learners[-1][0])
    result = training.train(JobSpec("transfer", 5, NO_AUGMENTATION, min_steps=0), data, observer=observer,
                            stop=stop, batch_size=16)  # 3 steps per epoch
    assert result.cached and result.stopped
    assert [(b.epoch, b.step, b.steps) for b in observer.batches] == [(1, 3, 3), (2, 3, 3)]
    assert [h.epoch for h in result.history] == [1, 2] and observer.epochs == result.history
    for kept, now in zip(observer.weights_after_epoch[1], built_models[-1].head.get_weights()):
        np.testing.assert_array_equal(now, kept)  # the saved model's head holds epoch 2's weights
    # The epoch's numbers are those of its one report: the same batches, all of them.
    assert result.history[1].loss == pytest.approx(observer.batches[1].loss)


def test_stop_during_epoch_one_gives_no_epochs(data):
    stop = threading.Event()
    observer = StopAt(stop, epoch=1, step=1, built=[])
    result = training.train(JobSpec("baseline", 3, NO_AUGMENTATION, min_steps=0), data, observer=observer, stop=stop)
    assert result.stopped and result.history == [] and result.epochs_done == 0
    assert result.val_accuracy is None and result.test_accuracy is None
    assert len(observer.batches) == 1 and observer.epochs == []


def test_same_seed_gives_the_same_history_and_features_are_cached_once(data, base_calls, fresh_cache):
    from catdog_core import features

    features.clear_memory()
    seen = base_calls
    runs = [training.train(JobSpec("transfer", 2, NO_AUGMENTATION, seed=7, min_steps=0), data) for _ in range(2)]
    # The first run computed each image's MobileNetV2 features once; the second reused them all.
    assert sum(seen) == len(data.train) + len(data.validation) + len(data.test)
    # A new process finds them on disk, keyed by the base and the dataset's content.
    features.clear_memory()
    training.train(JobSpec("transfer", 1, NO_AUGMENTATION, seed=7, min_steps=0), data)
    assert sum(seen) == len(data.train) + len(data.validation) + len(data.test)
    cached = sorted(p.name for p in (features.cache_dir() / "features").iterdir())
    assert len(cached) == 3 and all(data.key in name for name in cached)

    # Determinism: the same seed gives the same history and the same model.
    assert all(r.cached for r in runs)
    first, second = ([(h.loss, h.accuracy, h.val_loss, h.val_accuracy) for h in r.history] for r in runs)
    assert first == second
    assert runs[0].test_loss == runs[1].test_loss
    pixels = data.test.images.astype("float32")
    np.testing.assert_array_equal(np.asarray(runs[0].model(pixels, training=False)),
                                  np.asarray(runs[1].model(pixels, training=False)))
    other = training.train(JobSpec("transfer", 2, NO_AUGMENTATION, seed=8, min_steps=0), data)
    assert [h.loss for h in other.history] != [h.loss for h in runs[0].history]  # the seed matters


def test_a_small_dataset_trains_at_least_min_steps(tmp_path):
    from conftest import make_dataset

    small = dataset.load_dataset(make_dataset(tmp_path / "small", n_train=10, n_val=5))  # 20 images: 1 step
    observer = Recorder()
    result = training.train(JobSpec("transfer", 3, NO_AUGMENTATION, min_steps=12), small, observer=observer)
    assert result.steps_per_epoch == 1
    assert len(observer.batches) == 12 and result.epochs_done == 12
    assert result.notes and "3 epochs would be only 3 optimizer steps" in result.notes[0]
    assert training.epochs_for_steps(10, 2000, 32) == 10  # the post's data: 63 steps an epoch, as asked
    assert training.epochs_for_steps(1, 2000, 32) == 1  # even one epoch (63 steps): not small data
    assert training.epochs_for_steps(10, 32, 32) == 100


def test_the_epochs_planned_are_said_before_the_model_is_built(tmp_path):
    """16 photos of Your classes: the panel said "Epochs finished 0 of 10" until the first epoch ended,
    then "Finished 100 epochs". The plan (a report of step 0) now comes before anything slow."""
    from conftest import make_dataset

    small = dataset.load_dataset(make_dataset(tmp_path / "small", n_train=6, n_val=2))  # 12 train images: 1 step
    events = []

    class Order(Recorder):
        def on_plan(self, report):
            events.append(("plan", report))

        def progress(self, done, total, message=""):
            events.append(("phase", message))

        def on_batch(self, report):
            events.append(("batch", report))
            stop.set()  # one batch is enough to see the order

    stop = threading.Event()
    spec = JobSpec("baseline", 10, NO_AUGMENTATION)
    training.train(spec, small, observer=Order(), stop=stop)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "plan" and kinds.index("plan") < kinds.index("batch"), kinds
    assert events[1] == ("phase", "Building the model")
    plan = events[0][1]
    assert (plan.epoch, plan.step, plan.steps, plan.epochs) == (1, 0, 1, 100) and np.isnan(plan.loss)
    assert jobs.planned_epochs(spec, len(small.train)) == 100  # what a page plans before the worker has said
    assert jobs.planned_epochs(spec, 2000) == 10 and jobs.planned_epochs(replace(spec, fine_tune_epochs=5), 2000) == 15


def test_saved_model_has_no_random_layers_and_answers_the_same_twice(data):
    import keras

    result = training.train(JobSpec("augmented", 1, AugmentSettings(rotation=0.3), min_steps=0), data)
    pixels = data.validation.images[:4].astype("float32")
    first, second = np.asarray(result.model(pixels)), np.asarray(result.model(pixels))
    np.testing.assert_array_equal(first, second)  # called as model(x), the way most people call it
    np.testing.assert_allclose(first, result.model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-5)
    assert not any(isinstance(layer, (keras.layers.RandomFlip, keras.layers.RandomRotation))
                   for layer in result.model.layers)


def test_cached_and_plain_paths_train_the_same_transfer_model(tmp_path):
    # What this shows: with the same seed, training only the head on cached MobileNetV2 features
    # follows the same trajectory as training the whole model on raw images (the post's way):
    # the per-epoch losses agree closely and validation accuracy is within 1 point. On this
    # synthetic task accuracy alone would be a weak check (both paths reach high accuracy
    # quickly), so the losses and the final logits are compared too; after 1 epoch the model is
    # still far from perfect (val loss well above 0), which is where the trajectories could part.
    from conftest import make_dataset

    data = dataset.load_dataset(make_dataset(tmp_path / "small", n_train=12, n_val=10, seed=4))
    cached = training.train(JobSpec("transfer", 2, NO_AUGMENTATION, seed=3, use_cache=True, min_steps=0), data)
    plain = training.train(JobSpec("transfer", 2, NO_AUGMENTATION, seed=3, use_cache=False, min_steps=0), data)
    assert cached.cached and not plain.cached
    assert cached.history[0].val_loss > 0.05  # not already a solved problem after one epoch
    for c, p in zip(cached.history, plain.history, strict=True):
        assert c.loss == pytest.approx(p.loss, rel=1e-3, abs=1e-4)
        assert c.val_loss == pytest.approx(p.val_loss, rel=1e-3, abs=1e-4)
        assert abs(c.val_accuracy - p.val_accuracy) <= 0.01
    pixels = data.validation.images.astype("float32")
    np.testing.assert_allclose(np.asarray(cached.model(pixels, training=False)),
                               np.asarray(plain.model(pixels, training=False)), rtol=1e-3, atol=1e-3)
    assert cached.test_accuracy == pytest.approx(plain.test_accuracy, abs=0.01)


@pytest.mark.parametrize("epochs", [0, -1, jobs.MAX_EPOCHS + 1, 1.5, "3", None])
def test_invalid_epochs_are_refused(data, epochs):
    with pytest.raises(InvalidSettings, match="Epochs must be a whole number"):
        training.train(JobSpec("baseline", epochs), data)


def test_unknown_recipe_is_refused(data):
    with pytest.raises(InvalidSettings, match="Unknown recipe"):
        training.train(JobSpec("resnet", 1), data)


def test_fine_tuning_trains_the_top_of_the_base_but_keeps_batchnorm_statistics(tmp_path):
    import keras

    from conftest import make_dataset

    small = dataset.load_dataset(make_dataset(tmp_path / "small", n_train=8, n_val=5))
    result = training.train(JobSpec("transfer", 1, NO_AUGMENTATION, fine_tune_epochs=1, fine_tune_at=140, min_steps=0), small, batch_size=16)
    assert [h.stage for h in result.history] == ["frozen", "fine-tune"]
    assert result.fine_tune_from_epoch == 1 and result.epochs_requested == 2
    base = result.model.get_layer(models.BASE_NAME)
    fresh = models.load_base()  # the untouched ImageNet weights, layer for layer
    changed = {layer.name for layer, original in zip(base.layers, fresh.layers)
               if any(not np.array_equal(np.asarray(a), np.asarray(b))
                      for a, b in zip(layer.weights, original.weights))}
    late_convs = {l.name for l in base.layers[140:] if isinstance(l, keras.layers.Conv2D) and l.weights}
    assert late_convs and late_convs <= changed  # the unfrozen top learned
    assert not changed & {l.name for l in base.layers[:140]}  # the bottom stayed frozen
    # BatchNormalization keeps its ImageNet statistics (inference mode), as in the post's fine-tuning.
    assert not changed & {l.name for l in base.layers if isinstance(l, keras.layers.BatchNormalization)}


def test_a_kept_compiled_head_trains_exactly_like_a_fresh_one(data, monkeypatch):
    """A worker's later quick jobs reuse a compiled head (no new trace of fit's step): same seed,
    same history and model as the first job, whatever another seed trained on it between, and
    the earlier job's model is left as it was."""
    pool = heads.HeadPool()
    monkeypatch.setattr(training, "_heads", pool)
    taken = []
    real_take = pool.take

    def spy(*args, **kwargs):
        model, token = real_take(*args, **kwargs)
        taken.append(model)
        return model, token

    monkeypatch.setattr(pool, "take", spy)
    spec = JobSpec("transfer", 3, NO_AUGMENTATION, seed=7, min_steps=0)
    pixels = data.test.images.astype("float32")
    first = training.train(spec, data)
    answer = np.asarray(first.model(pixels, training=False))
    other = training.train(JobSpec("transfer", 3, NO_AUGMENTATION, seed=8, min_steps=0), data)
    again = training.train(spec, data)
    assert len(taken) == 3 and taken[0] is taken[1] is taken[2]  # one compiled head served all three
    assert taken[0] not in [r.model for r in (first, other, again)]
    history = lambda r: [(h.loss, h.accuracy, h.val_loss, h.val_accuracy) for h in r.history]  # noqa: E731
    assert history(again) == history(first) != history(other)
    assert again.test_loss == first.test_loss
    np.testing.assert_array_equal(np.asarray(again.model(pixels, training=False)), answer)
    np.testing.assert_array_equal(np.asarray(first.model(pixels, training=False)), answer)  # untouched


def test_warming_up_leaves_the_quick_heads_training_step_compiled(data, monkeypatch):
    """The app's warm worker trains the quick head once (not saved), so the first quick job a
    student starts finds a compiled head of its layers and settings: no copy made, none traced."""
    import keras
    from dataclasses import replace

    monkeypatch.setattr(training, "_heads", heads.HeadPool())
    copies = []
    real_clone = keras.models.clone_model
    monkeypatch.setattr(keras.models, "clone_model", lambda *a, **k: copies.append(1) or real_clone(*a, **k))
    training.warm_cache(data)
    assert len(copies) == 1
    result = training.train(replace(jobs.quick_spec(), min_steps=0), data)
    assert len(copies) == 1 and result.epochs_done == jobs.QUICK.epochs


def test_a_checkpoint_gives_back_every_weight_of_the_learner(tmp_path):
    folder = tmp_path / "checkpoint"
    """What salvage reads after a kill: every weight (batch norm statistics too) in the learner's
    own order, as plain arrays, replaced whole each epoch."""
    built = models.build("baseline", 2)
    learner = built.model
    rng = np.random.default_rng(3)
    learner.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in learner.get_weights()])
    result = training.TrainResult("baseline", learner, ("cats", "dogs"), NO_AUGMENTATION, 3, [])
    checkpoint.write_checkpoint(folder, learner, result, "frozen")
    checkpoint.write_checkpoint(folder, learner, result, "frozen")  # replaced, not appended
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.json", training.CHECKPOINT_WEIGHTS]
    other = models.build("baseline", 2).model
    other.set_weights(training.read_checkpoint_weights(folder))
    for mine, theirs in zip(learner.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_an_augmented_run_makes_its_variants_once_and_then_draws_from_them(data, base_calls):
    # Augmented transfer on cached features: in the first `variants` epochs every training photo
    # is augmented and goes through the frozen base, as in the post; later epochs reuse the kept
    # features (the base does not run for the training split again), each photo drawing one of
    # its variants per epoch. variants=0 makes new ones every epoch.
    calls = base_calls
    settings = AugmentSettings(rotation=0.3)
    banked = [training.train(JobSpec("transfer", 5, settings, seed=5, min_steps=0, variants=2), data)]
    calls.clear()  # the first run also computed (and cached) the validation and test features
    banked.append(training.train(JobSpec("transfer", 5, settings, seed=5, min_steps=0, variants=2), data))
    # Two epochs of augmented photos, and the two batches (48 photos) Keras reads ahead of fit for their shapes.
    assert sum(calls) == 2 * len(data.train) + 48
    calls.clear()
    fresh = training.train(JobSpec("transfer", 5, settings, seed=5, min_steps=0, variants=0), data)
    assert sum(calls) == 5 * len(data.train) + 48
    assert "Epochs 3-5 each drew one of those 2 per photo" in banked[0].notes[-1] and not fresh.notes

    history = [[(h.loss, h.val_loss) for h in run.history] for run in (*banked, fresh)]
    assert history[0] == history[1]  # a seeded banked run repeats exactly
    assert history[0][:2] == history[2][:2]  # its first epochs are the post's
    assert history[0][2:] != history[2][2:]  # and the others differ
    assert banked[0].epochs_done == 5
    with pytest.raises(InvalidSettings, match="Variants must be a whole number from 0 to 200"):
        training.train(JobSpec("transfer", 1, settings, variants=-1), data)
    spec = JobSpec("transfer", 5, settings, variants=3)
    assert JobSpec.from_dict(spec.to_dict()) == spec and "variants" not in JobSpec("transfer", 5).to_dict()


def test_a_jobs_bounds_are_written_once_and_every_door_reads_them():
    """jobspec.BOUNDS is what train, the queue, the command line and a saved run's check refuse by."""
    from catdog_core import jobspec
    from catdog_core.cli import main as cli_main
    from catdog_core.runs import checks

    too_many = jobspec.BOUNDS["epochs"].high + 1
    with pytest.raises(InvalidSettings, match=f"Epochs must be a whole number from 1 to 200, not {too_many}"):
        jobspec.resolved(JobSpec("transfer", too_many))
    with pytest.raises(InvalidSettings, match="The layer fine-tuning starts from must be a whole number from 0 to 153"):
        jobspec.check_spec(JobSpec("transfer", 1, fine_tune_at=154))
    with pytest.raises(InvalidSettings, match="The learning rate must be a number"):
        jobspec.check_spec(JobSpec("transfer", 1, learning_rate=float("nan")))
    assert jobspec.check_spec(JobSpec("transfer", 200, fine_tune_at=153, variants=0)).epochs == 200
    assert cli_main(["train", "--recipe", "transfer", "--fine-tune-at", "154", "--fine-tune-epochs", "1"]) == 2
    written = JobSpec("transfer", 10).to_dict()
    assert checks._checked_spec(dict(written, epochs=10), "transfer")["epochs"] == 10
    with pytest.raises(checks.Bad, match="job epochs is not a whole number from 1 to 200"):
        checks._checked_spec(dict(written, epochs=201), "transfer")

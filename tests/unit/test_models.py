"""Tests for catdog_core.models: the four recipes, built as the blog post builds them."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_core import models
from catdog_core.augment import AugmentSettings
from catdog_core.errors import InvalidSettings, WeightsUnavailable

SETTINGS = AugmentSettings(flip="horizontal", rotation=0.1)


@pytest.fixture(scope="module")
def built(shared_weights):
    """Each recipe built once for the module (transfer with the shared weights)."""
    return {name: models.build(name, 2, SETTINGS, weights=shared_weights) for name in models.RECIPES}


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (4, 160, 160, 3)).astype("float32")


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]


SMALL_CNN = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dropout", "Dense"]


def test_baseline_layers(built):
    model = built["baseline"].model
    assert layer_types(model) == SMALL_CNN
    assert model.layers[-2].rate == pytest.approx(0.2)
    assert built["baseline"].augmentation is None  # the post's model 1 has no augmentation
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize("name, head", [
    ("augmented", ["Sequential"] + SMALL_CNN),
    ("normalized", ["Sequential", "Rescaling"] + SMALL_CNN),
    ("transfer", ["Sequential", "Rescaling", "Functional", "GlobalMaxPooling2D", "Dropout", "Dense"]),
])
def test_augmented_recipes_have_the_settings_layers(built, name, head):
    from keras import layers

    b = built[name]
    assert layer_types(b.model) == head
    augmentation = b.model.layers[1]
    assert augmentation is b.augmentation
    flip, rotation = augmentation.layers
    assert isinstance(flip, layers.RandomFlip) and flip.mode == "horizontal"
    assert isinstance(rotation, layers.RandomRotation)
    assert tuple(rotation.factor) == pytest.approx((-0.1, 0.1))


def test_identity_settings_leave_augmentation_out():
    b = models.build("augmented", 2, AugmentSettings(flip="none", rotation=0.0))
    assert b.augmentation is None and layer_types(b.model) == SMALL_CNN


@pytest.mark.parametrize("name", ["normalized", "transfer"])
def test_rescaling_equals_mobilenet_preprocess_input(built, pixels, name):
    import keras

    rescale = built[name].model.get_layer("preprocess")
    ours = np.asarray(rescale(pixels))
    theirs = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert ours.min() >= -1.0 and ours.max() <= 1.0


def test_transfer_base_is_frozen_and_runs_in_inference_mode(built, shared_weights, pixels):
    import keras

    from catdog_core.augment import NO_AUGMENTATION

    model = built["transfer"].model
    base = model.get_layer(models.BASE_NAME)
    assert not base.trainable and base.trainable_weights == []
    # Only the Dense head learns: its kernel and bias.
    assert [tuple(w.shape) for w in model.trainable_weights] == [(1280, 2), (2,)]
    assert model.get_layer("dropout").rate == pytest.approx(0.2)
    assert model.get_layer("logits").units == 2

    # The base is called with training=False in the model graph (the keras-io guide's idiom).
    calls = [node.arguments.kwargs.get("training") for node in base._inbound_nodes]
    assert calls and all(training is False for training in calls)
    # What that protects: BatchNormalization keeps its moving statistics while the head trains.
    # Keras 3 lets an outer training=True override the recorded argument (keras-team/keras#20285),
    # so it is the frozen base that keeps BN in inference mode; checked on a copy without the
    # random layers in front, where training and inference mode must give the same features.
    plain = models.build("transfer", 2, NO_AUGMENTATION, weights=shared_weights)
    pooled = keras.Model(plain.model.input, plain.model.get_layer("pool").output)
    inference = np.asarray(pooled(pixels, training=False))
    np.testing.assert_allclose(np.asarray(pooled(pixels, training=True)), inference, rtol=1e-4, atol=1e-4)
    # The cached-features model regroups the same layers and gives the same pooled output.
    np.testing.assert_allclose(np.asarray(plain.features(pixels, training=True)), inference, rtol=1e-4, atol=1e-4)
    # Unfrozen, the same call in training mode uses batch statistics and differs: the check means something.
    plain.model.get_layer(models.BASE_NAME).trainable = True
    assert not np.allclose(np.asarray(pooled(pixels, training=True)), inference, atol=1e-3)
    # (that call also moved the copy's BN statistics: it is not used again)


@pytest.mark.parametrize("name", list(models.RECIPES))
def test_every_recipe_trains_one_step(built, pixels, name):
    model = built[name].model
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(pixels, np.array([0, 1, 0, 1]), return_dict=True)
    assert np.isfinite(logs["loss"]) and 0 <= logs["accuracy"] <= 1
    after = model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # something learned
    if name == "transfer":  # the frozen base, BatchNormalization statistics included, is untouched
        base = model.get_layer(models.BASE_NAME)
        n_base = len(base.weights)
        assert n_base > 200
        base_ids = {id(w) for w in base.weights}
        for w, b, a in zip(model.weights, before, after):
            if id(w) in base_ids:
                np.testing.assert_array_equal(a, b)
    out = np.asarray(model(pixels, training=False))
    assert out.shape == (4, 2) and np.isfinite(out).all()


def test_transfer_head_model_trains_on_pooled_features(built):
    head = built["transfer"].head
    logs = head.train_on_batch(np.random.default_rng(1).random((4, 1280)).astype("float32"),
                               np.array([0, 1, 1, 0]), return_dict=True)
    assert np.isfinite(logs["loss"])
    # The head shares its Dense layer with the full model.
    assert head.get_layer("logits") is built["transfer"].model.get_layer("logits")


def test_three_classes_give_three_outputs(shared_weights, pixels):
    for name in ("baseline", "transfer"):
        b = models.build(name, 3, SETTINGS, weights=shared_weights)
        assert b.model.output_shape == (None, 3)
        assert np.asarray(b.model(pixels[:1], training=False)).shape == (1, 3)


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(WeightsUnavailable) as info:
        models.build("transfer", weights=str(missing))
    message = str(info.value)
    assert str(missing) in message and "CATDOG_BASE_WEIGHTS" in message and message.endswith(".")


def test_broken_weights_file(tmp_path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(WeightsUnavailable) as info:
        models.build("transfer", weights=str(broken))
    message = str(info.value)
    assert str(broken) in message and "CATDOG_BASE_WEIGHTS" in message and message.endswith(".")
    assert "\n" not in message


def test_unknown_recipe_and_too_few_classes():
    with pytest.raises(InvalidSettings, match="Unknown recipe 'resnet'; choose one of baseline"):
        models.build("resnet")
    with pytest.raises(InvalidSettings):
        models.get_recipe("")
    with pytest.raises(InvalidSettings, match="at least 2 classes"):
        models.build("baseline", num_classes=1)


def test_recipe_summary_works_offline(monkeypatch):
    monkeypatch.setenv("CATDOG_BASE_WEIGHTS", "/does/not/exist.h5")  # pretrained=False must not need it
    text = models.recipe_summary("transfer")
    assert "mobilenet_v2 (Functional)" in text and "pool (GlobalMaxPooling2D)" in text
    # Every column fits: the parameter counts are not cut off at the console's width.
    assert "Param #" in text and "2,562" in text
    assert "\x1b[" not in text
    for recipe in models.RECIPES:  # narrow enough for presenter mode, and no cell cut or wrapped in two
        lines = models.recipe_summary(recipe, 2, models.AugmentSettings()).splitlines()
        assert max(len(line) for line in lines) <= models.SUMMARY_COLUMNS <= 70
        assert "…" not in "".join(lines)
        assert not any(a.startswith("│") and b.startswith("│") for a, b in zip(lines, lines[1:])), recipe


def test_saved_model_reloads_safely_and_classifies_raw_pixels(built, pixels, tmp_path):
    import keras

    for name in ("transfer", "normalized"):
        model = built[name].model
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path, safe_mode=True, compile=False)
        np.testing.assert_allclose(np.asarray(loaded(pixels, training=False)),
                                   np.asarray(model(pixels, training=False)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("recipe", ["baseline", "augmented", "normalized", "transfer"])
def test_the_code_shown_builds_the_model_that_trains(recipe):
    """codegen prints the same layer tables models.build makes: run the shown code, compare layers."""
    from catdog_core import codegen

    settings = AugmentSettings(zoom=0.1)
    shown = {}
    exec(codegen.HEADER + codegen.model(recipe, settings, weights=None, preview=False).replace(
        "model.summary()", ""), shown)

    def structure(model):
        return [(type(layer).__name__, layer.output.shape[1:]) for layer in model.layers]

    built = models.build(recipe, 2, settings, pretrained=False).model
    assert structure(shown["model"]) == structure(built)
    assert shown["model"].count_params() == built.count_params()


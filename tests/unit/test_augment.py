"""Tests for catdog_core.augment: settings, Keras layers and preview grids."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_core import augment
from catdog_core.augment import NO_AUGMENTATION, AugmentSettings
from catdog_core.errors import InvalidSettings

from conftest import draw_image


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 160x160 image that is neither left-right nor up-down symmetric."""
    img = np.zeros((160, 160, 3), np.uint8)
    img[:, :] = (40, 90, 160)
    img[10:60, 5:40] = (250, 30, 30)  # a red block top-left
    img[120:150, 100:155] = (30, 250, 30)  # a green block bottom-right
    img[70:90, :] = np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None]  # a left-to-right ramp
    return img


@pytest.mark.parametrize("changes, word", [
    ({"flip": "diagonal"}, "Flip"),
    ({"rotation": -0.1}, "Rotation"),
    ({"rotation": 0.6}, "Rotation"),
    ({"zoom": 2}, "Zoom"),
    ({"translation": "0.1"}, "Translation"),
    ({"contrast": 1.5}, "Contrast"),
    ({"brightness": -0.2}, "Brightness"),
    ({"seed": -1}, "Seed"),
    ({"seed": 1.5}, "Seed"),
])
def test_out_of_range_settings_raise_a_sentence(changes, word):
    with pytest.raises(InvalidSettings) as info:
        AugmentSettings(**changes)
    message = str(info.value)
    assert message.startswith(word) and message.endswith(".")
    # replace() validates too: a page cannot sneak a bad value in afterwards.
    with pytest.raises(InvalidSettings):
        AugmentSettings().replace(**changes)


def test_limits_themselves_are_accepted():
    s = AugmentSettings(flip="vertical", rotation=0.5, zoom=0.5, translation=0.5, contrast=0.9, brightness=0.9)
    assert s.to_dict()["contrast"] == 0.9
    assert AugmentSettings.from_dict({**s.to_dict(), "unknown": 1}) == s


def test_is_identity():
    assert NO_AUGMENTATION.is_identity
    assert AugmentSettings(flip="none", rotation=0).is_identity
    assert not AugmentSettings().is_identity  # the post's flip + rotation
    assert not AugmentSettings(flip="none", rotation=0, brightness=0.1).is_identity
    assert not AugmentSettings(flip="horizontal", rotation=0).is_identity


def test_rotation_degrees():
    assert AugmentSettings(rotation=0.2).rotation_degrees == pytest.approx(72.0)
    assert AugmentSettings(rotation=0.0).rotation_degrees == 0.0


def test_describe():
    assert augment.describe(NO_AUGMENTATION) == "no augmentation"
    assert augment.describe(AugmentSettings()) == "flip both, rotate ±72°"
    text = augment.describe(AugmentSettings(flip="none", rotation=0.1, zoom=0.25))
    assert text == "rotate ±36°, zoom ±25%"


def test_build_layers_follow_the_settings():
    from keras import layers

    stack = augment.build_layers(AugmentSettings(flip="vertical", rotation=0.1, contrast=0.2))
    kinds = [type(layer) for layer in stack.layers]
    assert kinds == [layers.RandomFlip, layers.RandomRotation, layers.RandomContrast]
    assert stack.layers[0].mode == "vertical"
    assert tuple(stack.layers[1].factor) == pytest.approx((-0.1, 0.1))
    assert augment.build_layers(NO_AUGMENTATION).layers == []


def test_preview_is_deterministic_per_settings_and_seed(image):
    settings = AugmentSettings()
    first = augment.preview(image, settings)
    assert first.shape == (9, 160, 160, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, augment.preview(image, settings))
    assert not np.array_equal(first, augment.preview(image, settings.replace(seed=7)))
    assert not np.array_equal(first, augment.preview(image, settings.replace(rotation=0.1)))
    # The copies differ from one another: each is a new variant.
    assert len({copy.tobytes() for copy in first}) > 1


def test_identity_preview_returns_the_image_unchanged(image):
    grid = augment.preview(image, NO_AUGMENTATION, n=4)
    assert grid.shape == (4, 160, 160, 3) and grid.dtype == np.uint8
    for copy in grid:
        np.testing.assert_array_equal(copy, image)


def test_horizontal_flip_only_mirrors_left_right(image):
    grid = augment.preview(image, AugmentSettings(flip="horizontal", rotation=0.0), n=9)
    mirrored = image[:, ::-1]
    kinds = []
    for copy in grid:
        if np.array_equal(copy, image):
            kinds.append("same")
        elif np.array_equal(copy, mirrored):
            kinds.append("mirror")
        else:
            pytest.fail("a horizontal flip produced an image that is neither the original nor its mirror")
    assert set(kinds) == {"same", "mirror"}  # with this seed both outcomes occur


def test_preview_works_on_a_drawn_photo():
    photo = draw_image(1, np.random.default_rng(3), size=160)
    grid = augment.preview(photo, AugmentSettings(brightness=0.3, zoom=0.2))
    assert grid.shape == (9, 160, 160, 3) and grid.dtype == np.uint8
    assert len({copy.tobytes() for copy in grid}) == 9  # nine different random variants
    assert not any(np.array_equal(copy, photo) for copy in grid)  # each one changed


@pytest.mark.parametrize("turns, flip", [(0.1, "none"), (-0.15, "none"), (0.2, "horizontal"), (0.05, "vertical")])
def test_one_affine_pass_is_keras_flip_then_rotation(image, turns, flip):
    """augment_batch's single pass (its transform for a fixed angle) gives RandomFlip then
    RandomRotation's pixels: the augmentation check measures what the post's layers make."""
    import keras

    batch = np.repeat(image[None].astype(np.float32), 2, axis=0)
    flipped = {"none": batch, "horizontal": batch[:, :, ::-1], "vertical": batch[:, ::-1]}[flip]
    keras_out = np.asarray(keras.layers.RandomRotation((turns, turns))(flipped, training=True))
    one = np.ones(2, bool)
    matrices = augment.affine_matrices(np.full(2, turns), one & (flip == "horizontal"), one & (flip == "vertical"),
                                       160, 160)
    ours = np.asarray(keras.ops.image.affine_transform(batch, matrices, interpolation="bilinear", fill_mode="reflect"))
    assert np.abs(ours - keras_out).max() < 0.05
    # Over the uint8 pixels (what augment_batch passes): within one level, rounded down.
    ours8 = np.asarray(keras.ops.image.affine_transform(image[None].repeat(2, 0), matrices,
                                                        interpolation="bilinear", fill_mode="reflect"))
    assert ours8.dtype == np.uint8 and np.abs(ours8 - keras_out).max() <= 1.01


@pytest.mark.parametrize("count, size, rotation", [(7, 160, 0.2), (3, 160, 0.5), (2, 37, 0.5)])
def test_flip_rotate_gives_the_kernels_pixels(count, size, rotation):
    """augment_batch's compiled pass is keras.ops.image.affine_transform's bilinear, reflected
    pass over the uint8 pixels, within one level, whatever the angle, flip, batch or size."""
    import keras

    rng = np.random.default_rng(size + count)
    photos = np.stack([draw_image(i % 2, rng, size=size) for i in range(count)])
    photos[:, :, :4] = 255  # bright edges: what the reflection reads must be the kernel's
    flips = rng.random((2, count)) <= 0.5
    matrices = augment.affine_matrices(rng.uniform(-rotation, rotation, count), flips[0], flips[1], size, size)
    kernel = np.asarray(keras.ops.image.affine_transform(photos, matrices, interpolation="bilinear",
                                                         fill_mode="reflect"))
    ours = augment.flip_rotate(photos, matrices)
    assert ours.dtype == np.uint8 and ours.shape == photos.shape
    diff = np.abs(ours.astype(int) - kernel)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_augment_batch_draws_as_the_layers_do(image):
    batch = np.repeat(image[None], 40, axis=0)
    both = augment.augment_batch(batch, AugmentSettings(flip="both", rotation=0.0), seed=3)
    half_turned = image[::-1, ::-1]
    kinds = ["same" if np.array_equal(c, image) else "turned" if np.array_equal(c, half_turned) else "other"
             for c in both]
    # RandomFlip() flips both ways with one draw: never a mirror alone, and both outcomes occur.
    assert "other" not in kinds and 10 <= kinds.count("turned") <= 30
    rotated = augment.augment_batch(batch, AugmentSettings(), seed=3)
    assert rotated.dtype == np.uint8 and rotated.shape == batch.shape
    np.testing.assert_array_equal(rotated, augment.augment_batch(batch, AugmentSettings(), seed=3))
    assert not np.array_equal(rotated, augment.augment_batch(batch, AugmentSettings(), seed=4))
    assert len({c.tobytes() for c in rotated}) == 40  # each copy its own angle
    assert not np.array_equal(augment.augment_batch(batch, AugmentSettings(rotation=0.01), seed=3), rotated)
    # Settings past flip and rotation go through their Keras layers after them.
    bright = augment.augment_batch(batch, AugmentSettings(brightness=0.5), seed=3)
    assert bright.dtype == np.float32 and 0 <= bright.min() and bright.max() <= 255
    assert np.abs(bright - rotated).mean() > 5

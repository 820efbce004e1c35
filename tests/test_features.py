"""Tests for catdog_core.features: the converted MobileNetV2 the feature cache runs on."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_core import features, models


@pytest.fixture(scope="module")
def base(shared_weights):
    return models.build_features(shared_weights)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (5, 160, 160, 3)).astype("float32")


def test_converted_base_gives_the_features_tensorflow_gives(base, shared_weights, pixels):
    extract = features.FeatureExtractor(base, shared_weights, convert=True)
    assert extract.engine == "TFLite/XNNPACK"
    assert features.is_converted(shared_weights)
    want = np.asarray(base(pixels, training=False))
    got = extract(pixels)
    assert got.shape == (5, 1280) and got.dtype == np.float32
    assert np.abs(want).max() > 1.0  # real activations, not an all-zero output
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-3)
    # batch sizes change between calls (the last batch of a split is short)
    np.testing.assert_allclose(extract(pixels[:2]), want[:2], atol=1e-3, rtol=1e-3)


def test_the_conversion_is_reused_by_later_extractors(base, shared_weights, pixels, monkeypatch):
    features.FeatureExtractor(base, shared_weights, convert=True)
    written = features.cache_path(shared_weights).stat().st_mtime_ns
    monkeypatch.setattr(features, "tflite_bytes", lambda model: pytest.fail("converted a second time"))
    again = features.FeatureExtractor(base, shared_weights, convert=True)
    assert again.engine == "TFLite/XNNPACK"
    assert features.cache_path(shared_weights).stat().st_mtime_ns == written
    assert not [p for p in features.cache_path(shared_weights).parent.iterdir() if p.name.startswith(".")]


def test_a_damaged_cache_file_falls_back_to_tensorflow_and_is_removed(base, shared_weights, pixels):
    path = features.cache_path(shared_weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a flatbuffer")
    extract = features.FeatureExtractor(base, shared_weights, convert=False)
    assert extract.engine == "TensorFlow"
    assert not path.exists()
    np.testing.assert_allclose(extract(pixels[:2]), np.asarray(base(pixels[:2], training=False)), atol=1e-3, rtol=1e-3)


def test_without_conversion_the_tensorflow_path_is_used(base, shared_weights, pixels):
    extract = features.FeatureExtractor(base, shared_weights, convert=False)
    assert extract.engine == "TensorFlow" and not features.is_converted(shared_weights)


def test_background_conversion_writes_the_cache_once(shared_weights, base, pixels):
    thread = features.convert_in_background(shared_weights)
    assert thread is not None
    thread.join(timeout=120)
    assert features.is_converted(shared_weights)
    assert features.convert_in_background(shared_weights) is None  # nothing left to do
    extract = features.FeatureExtractor(base, shared_weights, convert=False)
    np.testing.assert_allclose(extract(pixels[:1]), np.asarray(base(pixels[:1], training=False)), atol=1e-3, rtol=1e-3)

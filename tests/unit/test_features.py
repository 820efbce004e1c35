"""Tests for catdog_core.features: the converted MobileNetV2 the feature cache runs on."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_core import features, models


@pytest.fixture(scope="module")
def base(shared_weights):
    return models.build_features(shared_weights)


@pytest.fixture(autouse=True)
def own_cache(fresh_cache):
    """Each test here starts with no converted base and no features."""
    return fresh_cache


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


def test_a_large_batch_runs_in_small_ones_with_the_same_features(base, shared_weights, pixels):
    """RUN_BATCH images at a time, the last ones padded: each photo's features are the same bit
    for bit as at any other batch size (the quick path's cached features and the variant bank's
    must be one set of numbers)."""
    extract = features.FeatureExtractor(base, shared_weights, convert=True)
    rows = np.concatenate([pixels] * 4)[:features.RUN_BATCH * 2 + 3]  # two full runs and a padded one
    every = extract(rows)
    assert every.shape == (len(rows), 1280)
    for start, count in ((0, 1), (3, features.RUN_BATCH - 1), (0, features.RUN_BATCH), (5, len(rows) - 5)):
        np.testing.assert_array_equal(extract(rows[start:start + count]), every[start:start + count])
    np.testing.assert_array_equal(extract(rows.astype(np.uint8)), every)  # uint8 photos, as training passes


def converted_file(base, weights):
    return features.tflite_path(features.base_key(base, weights))


def test_the_conversion_is_reused_by_later_extractors(base, shared_weights, pixels, monkeypatch):
    features.FeatureExtractor(base, shared_weights, convert=True)
    written = converted_file(base, shared_weights).stat().st_mtime_ns
    monkeypatch.setattr(features, "tflite_bytes", lambda model: pytest.fail("converted a second time"))
    again = features.FeatureExtractor(base, shared_weights, convert=True)
    assert again.engine == "TFLite/XNNPACK"
    assert converted_file(base, shared_weights).stat().st_mtime_ns == written
    assert not [p for p in features.cache_dir().iterdir() if p.name.startswith(".")]


def test_a_damaged_cache_file_falls_back_to_tensorflow_and_is_removed(base, shared_weights, pixels):
    path = converted_file(base, shared_weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a flatbuffer")
    extract = features.FeatureExtractor(base, shared_weights, convert=False)
    assert extract.engine == "TensorFlow"
    assert not path.exists()
    np.testing.assert_allclose(extract(pixels[:2]), np.asarray(base(pixels[:2], training=False)), atol=1e-3, rtol=1e-3)


def test_without_conversion_the_tensorflow_path_is_used(base, shared_weights, pixels):
    extract = features.FeatureExtractor(base, shared_weights, convert=False)
    assert extract.engine == "TensorFlow" and not features.is_converted(shared_weights)


def test_the_key_follows_the_model_the_weights_and_the_versions(base, shared_weights, tmp_path):
    import keras

    again = models.build_features(shared_weights)  # another build: Keras names its layers anew
    assert features.base_key(again, shared_weights) == features.base_key(base, shared_weights)
    # Other weights (the same file with one byte changed) and another model give other keys.
    changed = tmp_path / "weights.h5"
    data = bytearray(open(shared_weights, "rb").read())
    data[-100] ^= 1
    changed.write_bytes(bytes(data))
    assert features.base_key(base, str(changed)) != features.base_key(base, shared_weights)
    raw = keras.Input((160, 160, 3))
    average = keras.Model(raw, keras.layers.GlobalAveragePooling2D()(base.get_layer(models.BASE_NAME)(
        base.get_layer("preprocess")(raw), training=False)))
    assert features.base_key(average, shared_weights) != features.base_key(base, shared_weights)


def test_features_of_a_split_are_cached_on_disk_by_both_keys(base, shared_weights, pixels):
    extract = features.FeatureExtractor(base, shared_weights, convert=True)
    first = features.cached_features(extract, "datasetA", "validation", pixels)
    features.clear_memory()
    calls = []

    class Counting:  # the same extractor, its calls counted
        key = extract.key

        def __call__(self, images):
            calls.append(1)
            return extract(images)

    again = features.cached_features(Counting(), "datasetA", "validation", pixels)
    assert not calls  # read from disk
    np.testing.assert_array_equal(first, again)
    other = features.cached_features(Counting(), "datasetB", "validation", pixels[:3])
    assert calls and other.shape == (3, 1280)  # another dataset key: computed, never reused


def test_a_job_converts_the_base_in_a_process_of_its_own(base, shared_weights):
    """What a cold job starts beside its decode (jobs/run.py): the conversion's own process, which
    this process then finds done, asking without TensorFlow's versions from an import."""
    import subprocess
    import sys

    assert not features.is_converted(shared_weights)
    done = subprocess.run([sys.executable, "-m", "catdog_core.jobs", "--convert", shared_weights],
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert features.is_converted(shared_weights)
    assert features.tflite_path(features.base_key(base, shared_weights)).is_file()
    assert features.FeatureExtractor(base, shared_weights).engine == "TFLite/XNNPACK"


def test_a_job_whose_data_is_refused_leaves_no_conversion_running(shared_weights, tmp_path):
    """The conversion a cold job starts beside its decode is ended, not waited for, when the data is refused."""
    import time
    from pathlib import Path

    from catdog_core import jobs
    from catdog_core.errors import CatdogError

    (tmp_path / "empty" / "train").mkdir(parents=True)
    started = time.perf_counter()
    with pytest.raises(CatdogError):
        jobs.run_job(jobs.JobSpec("transfer", 1, data=str(tmp_path / "empty"), weights=shared_weights))
    # A conversion takes longer than this (TensorFlow's import alone ~3.5 s): it was not waited for.
    assert time.perf_counter() - started < 3

    def converting(cmdline: Path) -> bool:
        try:
            return b"catdog_core.jobs\x00--convert" in cmdline.read_bytes()
        except OSError:  # gone meanwhile
            return False

    assert [p for p in Path("/proc").glob("[0-9]*/cmdline") if converting(p)] == []


def test_released_interpreters_are_not_held_by_an_extractor(base, shared_weights, pixels):
    """features.release_runners (an idle worker's, a quiet model service's) frees the interpreter's
    working memory even while an extractor made with it lives; the extractor sets one up again."""
    import gc
    import weakref

    extract = features.FeatureExtractor(base, shared_weights, convert=True)
    first = extract(pixels[:2])
    runner = weakref.ref(features.cached_runner(features.tflite_path(extract.key)))
    features.release_runners()
    gc.collect()
    assert runner() is None
    np.testing.assert_array_equal(extract(pixels[:2]), first)
    assert extract.engine == "TFLite/XNNPACK"

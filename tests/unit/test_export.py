"""export: a run as a .keras file or a TensorFlow Lite model, each with labels.txt."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from catdog_core import evaluate, export, predict, runs
from catdog_core.errors import CatdogError

from conftest import REPO, subprocess_env


@pytest.fixture(scope="module")
def saved(trained_transfer, tmp_path_factory):
    """The shared trained transfer model saved as a run in a home of its own."""
    data, result = trained_transfer
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CATDOG_HOME", str(tmp_path_factory.mktemp("export_home")))
        run = runs.save_run(result, data.describe())
    return data, run


@pytest.fixture(scope="module")
def tflite_file(saved, tmp_path_factory):
    _, run = saved
    return export.export_run(run, "tflite", tmp_path_factory.mktemp("tflite") / "phone")


def test_keras_export_reloads_safely_and_predicts_the_same(saved, tmp_path):
    import keras

    data, run = saved
    written = export.export_run(run, "keras", tmp_path / "out")  # a folder: named after the run
    assert written == tmp_path / "out" / f"{run.run_id}.keras"
    reloaded = keras.models.load_model(written, safe_mode=True, compile=False)
    images = np.concatenate([data.test.images, data.validation.images[:4]])
    # The run's model answers through the shared base's one graph and its Dense in numpy; the exported
    # file through a graph of its own: the same numbers, to float32 rounding (3e-6 seen).
    np.testing.assert_allclose(evaluate.logits_of(reloaded, images),
                               evaluate.logits_of(runs.load_model(run), images), rtol=0, atol=1e-4)
    assert export.read_labels(tmp_path / "out" / "labels.txt") == list(run.class_names)


def test_keras_export_to_a_file_name_replaces_it_whole(saved, tmp_path):
    _, run = saved
    target = tmp_path / "mine.keras"
    target.write_bytes(b"an older export")
    assert export.export_run(run, "keras", target) == target
    assert target.read_bytes() != b"an older export" and target.read_bytes()[:2] == b"PK"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "mine.keras"]  # no temporary files left


def test_tflite_export_matches_the_keras_model(saved, tflite_file):
    data, run = saved
    assert tflite_file.name == "model.tflite" and tflite_file.parent.name == "phone"
    labels = (tflite_file.parent / "labels.txt").read_text(encoding="utf-8")
    assert labels == "cats\ndogs\n" and export.read_labels(tflite_file.parent / "labels.txt") == list(run.class_names)
    images = np.concatenate([data.test.images, data.validation.images])
    lite = export.load_tflite(tflite_file)(images)
    ours = predict.classify_batch(runs.load_model(run), images, run.class_names)
    lite_probs = np.exp(lite - lite.max(axis=1, keepdims=True))
    lite_probs /= lite_probs.sum(axis=1, keepdims=True)
    ours_probs = np.array([[p.probabilities[n] for n in run.class_names] for p in ours])
    np.testing.assert_allclose(lite_probs, ours_probs, atol=1e-3)
    assert [run.class_names[i] for i in lite_probs.argmax(axis=1)] == [p.label for p in ours]
    # One image at a time (a new input size) gives the same answer as in the batch.
    np.testing.assert_allclose(export.load_tflite(tflite_file)(images[:1]), lite[:1], atol=1e-4)


def test_unwritable_destination_is_a_sentence(saved, tmp_path):
    _, run = saved
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file, not a folder\n")
    with pytest.raises(CatdogError, match="Cannot write the export to .*a_file"):
        export.export_run(run, "keras", blocker / "inside")
    with pytest.raises(CatdogError, match="Cannot write the export to .*a_file"):
        export.export_run(run, "tflite", blocker / "inside" / "deeper")
    with pytest.raises(CatdogError, match="existing file, not a folder"):
        export.export_run(run, "keras", blocker)
    assert blocker.read_text() == "I am a file, not a folder\n"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder_is_a_sentence(saved, tmp_path):
    _, run = saved
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(CatdogError, match="Cannot write the export"):
            export.export_run(run, "keras", locked)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_unknown_format_is_refused(saved, tmp_path):
    with pytest.raises(CatdogError, match="Unknown export format 'onnx'"):
        export.export_run(saved[1], "onnx", tmp_path)


def test_cli_export_json(saved, tmp_path):
    _, run = saved
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "catdog_core", "export", str(run.path), "--format", "keras",
                           "--out", str(tmp_path / "cli"), "--json"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    model_file, labels = str(tmp_path / "cli" / f"{run.run_id}.keras"), str(tmp_path / "cli" / "labels.txt")
    assert result == {"run": run.run_id, "format": "keras", "output": "logits", "files": [model_file, labels]}
    assert lines[:-1] == [f"wrote {model_file}", f"wrote {labels}"]
    assert os.path.getsize(model_file) > 1_000_000  # MobileNetV2 is inside

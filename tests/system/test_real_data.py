"""Real data: the post's recipes on cats_and_dogs_filtered from ../shared.

Slow (minutes on 2 cores); CI runs them with the shared zip and weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from catdog_core import augment, dataset, jobs, training
from catdog_core.jobs import JobSpec

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def real_dataset(real_folder):
    return dataset.load_dataset(real_folder)


def test_real_dataset_matches_the_post(real_dataset):
    counts = dataset.label_counts(real_dataset)
    assert real_dataset.class_names == ("cats", "dogs")
    assert counts["train"] == {"cats": 1000, "dogs": 1000}
    # Each validation file's own hash sends about a fifth to test: 785 and 215 with the seed.
    assert sum(counts["validation"].values()) == 785 and sum(counts["test"].values()) == 215
    assert {c: counts["validation"][c] + counts["test"][c] for c in ("cats", "dogs")} == {"cats": 500, "dogs": 500}
    assert real_dataset.skipped == ()
    assert dataset.majority_baseline(real_dataset) == 0.5


def test_every_page_sees_the_pixels_of_the_posts_loader(real_folder, real_dataset):
    """One pixel path: the dataset (training, evaluation), an upload (Classify, Grad-CAM, the
    augmentation preview) and Keras' own image_dataset_from_directory give identical arrays."""
    import keras
    import numpy as np

    from catdog_core import images

    folder = real_folder / "validation"
    loader = keras.utils.image_dataset_from_directory(folder, image_size=(160, 160), batch_size=100,
                                                      shuffle=False)
    theirs = np.concatenate([np.asarray(batch) for batch, _ in loader])
    theirs = np.clip(np.rint(theirs), 0, 255).astype(np.uint8)  # the uint8 the project keeps
    ours = {f: a for s in ("validation", "test") for f, a in zip(real_dataset.split(s).files,
                                                                 real_dataset.split(s).images)}
    for path, expected in zip(loader.file_paths, theirs):
        rel = os.path.relpath(path, real_folder)
        raw = open(path, "rb").read()
        np.testing.assert_array_equal(ours[rel], expected)  # what training and Evaluate use
        _, uploaded = images.load_for_model(raw)  # what Classify and the preview use
        np.testing.assert_array_equal(uploaded, expected)


def _class_folder_copy(source, target, per_class: int, swap: bool) -> None:
    """The first images of each class into target/<part>/<class>/, optionally with the pictures of
    the two classes swapped under the same file names."""
    import shutil

    for part, count in (("train", per_class), ("validation", per_class // 2)):
        names = {c: sorted(os.listdir(source / part / c))[:count] for c in ("cats", "dogs")}
        for label in ("cats", "dogs"):
            (target / part / label).mkdir(parents=True)
            other = "dogs" if label == "cats" else "cats"
            for mine, theirs in zip(names[label], names[other]):
                picture = source / part / (other if swap else label) / (theirs if swap else mine)
                shutil.copyfile(picture, target / part / label / mine)


def test_same_names_swapped_pictures_get_their_own_features(real_folder, shared_weights, tmp_path):
    """Two students' folders with the same file names and other pictures: each training in one
    process measures its own data (the features cache is keyed by content, not by names)."""
    a, b = tmp_path / "a", tmp_path / "b"
    _class_folder_copy(real_folder, a, 150, swap=False)
    _class_folder_copy(real_folder, b, 150, swap=True)  # b/train/cats/cat.0.jpg holds a dog
    first = training.train(JobSpec("transfer", 5, augment.NO_AUGMENTATION), dataset.load_dataset(a))
    second = training.train(JobSpec("transfer", 5, augment.NO_AUGMENTATION), dataset.load_dataset(b))
    assert first.val_accuracy >= 0.85 and second.val_accuracy >= 0.85, (first.history, second.history)


def _cli(*args, folder):
    env = dict(os.environ, CATDOG_DATA_DIR=str(folder))
    done = subprocess.run([sys.executable, "-m", "catdog_core", *args, "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.long  # 110 s in CI; the augmented path is trained on drawn photos in test_training
def test_cli_transfer_one_augmented_epoch_reaches_90_percent(real_folder, shared_weights):
    """The post's model 4 with its flip and rotation: every batch goes through MobileNetV2."""
    summary = _cli("train", "--recipe", "transfer", "--epochs", "1", folder=real_folder)
    assert summary["recipe"] == "transfer" and summary["epochs"] == 1
    assert summary["val_accuracy"] >= 0.90, summary
    assert summary["test_accuracy"] >= 0.90, summary


def test_cli_quick_preset_reaches_94_percent_and_predict_agrees_with_evaluate(real_folder, shared_weights):
    """The quick preset from the command line; then `predict` over all 1000 validation files gives
    as many right labels as `evaluate`'s validation and test accuracy imply (the same pixels, the
    same model, the run named)."""
    summary = _cli("train", "--recipe", "transfer", "--quick", folder=real_folder)
    assert summary["epochs"] == jobs.QUICK.epochs
    assert summary["val_accuracy"] >= 0.94, summary
    evaluated = _cli("evaluate", "latest", folder=real_folder)
    assert abs(evaluated["validation_accuracy"] - summary["val_accuracy"]) < 0.005
    right_by_evaluate = round(evaluated["validation_accuracy"] * evaluated["validation_count"]
                              + evaluated["test_accuracy"] * evaluated["test_count"])
    files = sorted(str(p) for p in (real_folder / "validation").rglob("*.jpg"))
    env = dict(os.environ, CATDOG_DATA_DIR=str(real_folder))
    done = subprocess.run([sys.executable, "-m", "catdog_core", "predict", "latest", *files, "--json"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"run {evaluated['run']}" in done.stderr  # the run that answered is named
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == 1000 and all(a["run"] == evaluated["run"] for a in answers)
    right = sum(a["label"] == a["file"].split(os.sep)[-2] for a in answers)
    assert abs(right - right_by_evaluate) <= 1, (right, right_by_evaluate)
    # Phone-sized photos (4000x3000) decode through JPEG's DCT scaling at a fraction of the work of a
    # full decode; the model answers them as it answers the same photos decoded at full size.
    import io

    from PIL import Image

    from catdog_core import images, predict, runs

    run = runs.find_run(evaluated["run"])
    model = runs.load_model(run)
    enlarged = []
    for path in files[::100]:  # 10 photos, both classes
        out = io.BytesIO()
        Image.open(path).convert("RGB").resize((4000, 3000), Image.BILINEAR).save(out, "JPEG", quality=90)
        enlarged.append(out.getvalue())
    assert images.dct_ratio(4000, 3000) == 8 and images.dct_ratio(500, 375) == 1
    scaled = [predict.classify_bytes(model, raw, run.class_names)[1] for raw in enlarged]
    try:
        images.DCT_SCALING = False
        full = [predict.classify_bytes(model, raw, run.class_names)[1] for raw in enlarged]
    finally:
        images.DCT_SCALING = True
    # A full decode squashed from 4000 to 160 pixels without antialiasing samples every 25th pixel,
    # so the two may part on a borderline photo; the scaled decode is never the less accurate one.
    truth = [f.split(os.sep)[-2] for f in files[::100]]
    agree = sum(a.label == b.label for a, b in zip(scaled, full))
    right_scaled = sum(p.label == t for p, t in zip(scaled, truth))
    right_full = sum(p.label == t for p, t in zip(full, truth))
    assert agree >= 9 and right_scaled >= right_full and right_scaled >= 9, (agree, right_scaled, right_full)

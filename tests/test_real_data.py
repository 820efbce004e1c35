"""Real data: the post's recipes on cats_and_dogs_filtered from ../shared.

Slow (minutes on 2 cores); CI runs them with the shared zip and weights.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile

import pytest

from catdog_core import augment, dataset, training

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def real_folder(shared_zip, tmp_path_factory):
    """The shared zip unpacked once; every test here shares one decoded copy."""
    root = tmp_path_factory.mktemp("real")
    with zipfile.ZipFile(shared_zip) as archive:
        archive.extractall(root)
    return root / "cats_and_dogs_filtered"


@pytest.fixture(scope="module")
def real_dataset(real_folder):
    return dataset.load_dataset(real_folder)


def test_real_dataset_matches_the_post(real_dataset):
    counts = dataset.label_counts(real_dataset)
    assert real_dataset.class_names == ("cats", "dogs")
    assert counts["train"] == {"cats": 1000, "dogs": 1000}
    assert counts["validation"] == {"cats": 400, "dogs": 400}
    assert counts["test"] == {"cats": 100, "dogs": 100}
    assert real_dataset.skipped == ()
    assert dataset.majority_baseline(real_dataset) == 0.5


def test_transfer_one_epoch_reaches_90_percent(real_dataset, shared_weights):
    result = training.train("transfer", real_dataset, 1, augment.AugmentSettings())
    assert result.cached and result.epochs_done == 1
    assert result.val_accuracy >= 0.90, result.history
    assert result.test_accuracy >= 0.90


def test_baseline_one_epoch_reports_every_metric(real_dataset):
    batches = []

    class Count(training.Observer):
        def on_batch(self, report):
            batches.append(report)

    result = training.train("baseline", real_dataset, 1, observer=Count())
    (epoch,) = result.history
    assert len(batches) == math.ceil(2000 / 32)
    for value in (epoch.loss, epoch.accuracy, epoch.val_loss, epoch.val_accuracy, epoch.seconds):
        assert math.isfinite(value)
    assert 0.0 <= result.test_accuracy <= 1.0


def _cli(*args, folder):
    env = dict(os.environ, CATDOG_DATA_DIR=str(folder))
    done = subprocess.run([sys.executable, "-m", "catdog_core", *args, "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cli_transfer_two_epochs_reaches_93_percent(real_folder, shared_weights):
    summary = _cli("train", "--recipe", "transfer", "--epochs", "2", folder=real_folder)
    assert summary["recipe"] == "transfer" and summary["epochs"] == 2
    assert summary["val_accuracy"] >= 0.93, summary
    assert summary["test_accuracy"] >= 0.90, summary


def test_cli_quick_preset_reaches_94_percent(real_folder, shared_weights):
    summary = _cli("train", "--recipe", "transfer", "--quick", folder=real_folder)
    assert summary["epochs"] == training.QUICK.epochs
    assert summary["val_accuracy"] >= 0.94, summary
    predicted = _cli("evaluate", "latest", folder=real_folder)
    assert abs(predicted["validation_accuracy"] - summary["val_accuracy"]) < 0.005

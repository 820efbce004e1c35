"""calibration: reliability bins and the expected calibration error where the answer is known,
temperature scaling that finds the temperature an over-sure model was given, evaluations that keep
their logits, the Evaluate page's section and Classify's calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_core import calibration, dataset, evaluate, runs
from conftest import open_page, texts


def honest(rng, n: int, over: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Two-class logits whose softmax is the true chance of class 1, then multiplied by `over`
    (over > 1: a model surer than it should be by exactly that temperature)."""
    margin = rng.normal(0, 2.5, n)
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-margin))).astype(int)
    logits = np.stack([np.zeros(n), margin], axis=1) * over
    return logits, labels


def test_an_honest_model_has_a_small_error_and_an_over_sure_one_a_large_one():
    rng = np.random.default_rng(0)
    logits, labels = honest(rng, 20_000)
    fair = calibration.reliability(calibration.probabilities(logits), labels)
    assert fair.ece < 0.015 and sum(fair.counts) == 20_000 and len(fair.counts) == calibration.BINS
    assert fair.edges[0] == pytest.approx(0.5) and fair.edges[-1] == pytest.approx(1.0)
    for said, right, n in zip(fair.confidence, fair.accuracy, fair.counts):
        if n > 500:
            assert right == pytest.approx(said, abs=0.03)
    sure = calibration.reliability(calibration.probabilities(logits * 4), labels)
    assert sure.ece > 0.08
    assert "it is right" in sure.sentence()


def test_temperature_scaling_finds_the_temperature_and_never_changes_an_answer():
    rng = np.random.default_rng(1)
    val_logits, val_labels = honest(rng, 5_000, over=3.0)
    test_logits, test_labels = honest(rng, 5_000, over=3.0)
    checked = calibration.calibrate(test_logits, test_labels, val_logits, val_labels)
    assert checked.temperature == pytest.approx(3.0, rel=0.1)
    assert checked.after.ece < checked.before.ece and checked.after.ece < 0.02
    before = calibration.probabilities(test_logits).argmax(1)
    assert np.array_equal(before, calibration.probabilities(test_logits, checked.temperature).argmax(1))
    assert set(checked.to_dict()) >= {"calibration_error", "calibration_error_after", "temperature"}
    timid, timid_labels = honest(rng, 5_000, over=0.5)
    assert calibration.fit_temperature(timid, timid_labels) == pytest.approx(0.5, rel=0.1)
    # A prediction's probabilities rescaled by T are softmax(logits / T).
    row = np.array([[0.3, 2.9]])
    p = calibration.probabilities(row)[0]
    scaled = calibration.rescale({"cats": p[0], "dogs": p[1]}, 2.5)
    np.testing.assert_allclose([scaled["cats"], scaled["dogs"]], calibration.probabilities(row, 2.5)[0], rtol=1e-9)


def test_an_evaluation_keeps_its_logits_on_disk(trained_transfer):
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    found = evaluate.evaluate_run(runs.load_model(run), data, run.class_names, "validation")
    assert found.logits.shape == (found.count, 2) and list(found.labels) == list(data.validation.labels)
    evaluate.remember(run, data.key, found)
    again = evaluate.remembered(run, data.key, "validation")
    np.testing.assert_allclose(again.logits, found.logits, atol=1e-4)
    old = found.to_dict()
    del old["logits"], old["labels"]  # kept before this version: still read, without them
    assert evaluate.Evaluation.from_dict(old).logits is None
    assert calibration.of_evaluations(evaluate.Evaluation.from_dict(old), found) is None


def test_evaluate_shows_reliability_and_classify_offers_calibrated_probabilities(monkeypatch, synthetic_data,
                                                                                  trained_transfer):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    data, result = trained_transfer
    run = runs.save_run(result, data.describe(), {"temperature": 2.0})
    at = open_page("evaluate")
    assert not at.exception
    assert "Can you trust how sure it is?" in texts(at.subheader)
    said = texts(at.markdown)
    assert any(t.startswith("**When the model says") for t in said), said
    assert any(t.startswith("Expected calibration error on the") for t in said), said
    at = open_page("classify")
    toggle = [t for t in at.toggle if t.key == "classify_calibrated"]
    assert toggle and toggle[0].label == "Calibrated probabilities (temperature 2.00)"
    photo = dataset.load_dataset(synthetic_data).validation.images[0]
    from support.pictures import png
    at.file_uploader(key="classify_files").set_value([("a.png", png(photo), "image/png")]).run()
    plain = next(t for t in texts(at.markdown) if t.startswith("### "))
    toggle = [t for t in at.toggle if t.key == "classify_calibrated"][0]
    toggle.set_value(True).run()
    assert not at.exception
    calibrated = next(t for t in texts(at.markdown) if t.startswith("### "))
    assert calibrated.endswith("(calibrated, T = 2.00)") and calibrated.split("\n")[0] == plain.split("\n")[0]
    assert run.run_id

"""evaluate.evaluate_run: accuracy, per-class accuracy, confusion matrix, top losses.

An untrained transfer model (random head, fixed seed) makes a mix of right and
wrong answers, so every number here is checked on a non-trivial matrix.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from catdog_core import charts, dataset, evaluate, models, predict
from catdog_core.augment import NO_AUGMENTATION
from catdog_core.errors import CatdogError


@pytest.fixture(scope="module")
def data(synthetic_data):
    return dataset.load_dataset(synthetic_data)


@pytest.fixture(scope="module")
def guesser(shared_weights):
    """A transfer model whose head was never trained: wrong on a good share of images."""
    import keras

    keras.utils.set_random_seed(7)
    return models.build("transfer", 2, NO_AUGMENTATION, weights=shared_weights).model


@pytest.fixture(scope="module")
def result(guesser, data):
    return evaluate.evaluate_run(guesser, data, data.class_names, "validation")


def test_accuracy_is_the_share_of_correct_predictions(result, guesser, data):
    part = data.validation
    preds = predict.classify_batch(guesser, part.images, data.class_names)
    correct = [p.label == data.class_names[label] for p, label in zip(preds, part.labels)]
    assert result.accuracy == pytest.approx(np.mean(correct))
    assert 0 < len(result.mistakes) < len(part)  # not vacuous: some right, some wrong
    assert len(result.mistakes) == len(part) - sum(correct)


def test_confusion_matrix_agrees_with_accuracy_and_per_class(result, data):
    m = result.confusion
    assert m.shape == (2, 2) and np.issubdtype(m.dtype, np.integer)
    assert m.sum() == len(data.validation) == result.count
    assert np.trace(m) / m.sum() == pytest.approx(result.accuracy)
    assert m.sum(axis=1).tolist() == np.bincount(data.validation.labels, minlength=2).tolist()  # rows = true
    for i, name in enumerate(data.class_names):
        assert result.per_class[name] == pytest.approx(m[i, i] / m[i].sum())


def test_mistakes_are_wrong_and_sorted_by_loss(result, data):
    losses = [m.loss for m in result.mistakes]
    assert losses == sorted(losses, reverse=True)
    part = data.validation
    for m in result.mistakes:
        assert m.predicted_label != m.true_label
        assert m.true_label == data.class_names[part.labels[m.index]] and m.file == part.files[m.index]
        assert max(m.probabilities, key=m.probabilities.get) == m.predicted_label
        assert m.loss == pytest.approx(-np.log(m.probabilities[m.true_label]), rel=1e-6)
        assert m.loss > np.log(2)  # wrong with 2 classes means p(true) < 0.5
    assert result.loss >= min(losses) * len(losses) / len(part)  # mean loss includes every mistake


def test_default_split_is_test_and_to_dict_is_json_able(guesser, data):
    import json

    ev = evaluate.evaluate_run(guesser, data, data.class_names)
    assert ev.split == "test" and ev.count == len(data.test)
    assert json.loads(json.dumps(ev.to_dict()))["confusion"] == ev.confusion.tolist()


def test_other_class_names_are_refused(guesser, data):
    with pytest.raises(CatdogError, match="knows the classes dogs, cats but the dataset has cats, dogs"):
        evaluate.evaluate_run(guesser, data, ("dogs", "cats"))
    with pytest.raises(CatdogError, match="knows the classes"):
        evaluate.evaluate_run(guesser, data, ("cats", "dogs", "birds"))


def test_an_empty_split_is_a_sentence_not_a_crash(guesser, data):
    empty = replace(data, test=dataset.Split(data.test.images[:0], data.test.labels[:0], ()))
    with pytest.raises(CatdogError, match="test split has no images"):
        evaluate.evaluate_run(guesser, empty, data.class_names)


def test_confusion_matrix_chart(result, data):
    fig = charts.confusion_matrix(result.confusion, data.class_names)
    heat = fig.data[0]
    assert heat.type == "heatmap"
    assert list(heat.x) == list(heat.y) == list(data.class_names)
    assert np.asarray(heat.text).tolist() == result.confusion.tolist()  # counts as text
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"


def test_an_evaluation_is_kept_on_disk_by_its_run_model_file(result, data, trained_transfer):
    from catdog_core import runs

    _, trained = trained_transfer
    run = runs.save_run(trained, data.describe())
    assert evaluate.remembered(run, data.key, "validation") is None
    evaluate.remember(run, data.key, result)
    again = evaluate.remembered(run, data.key, "validation")
    assert again.to_dict() == result.to_dict()
    assert evaluate.remembered(run, "other data", "validation") is None
    run.model_path.write_bytes(run.model_path.read_bytes())  # the model file changed: measured again
    assert evaluate.remembered(run, data.key, "validation") is None


def test_a_quick_job_keeps_what_evaluate_shows_from_its_own_test_logits(synthetic_data, data, shared_weights):
    """Evaluate's numbers came from the batch lane on each student's first visit (p50 8.7 s under
    a class); a frozen-base run now brings them, from the features it was tested on."""
    from catdog_core import jobs, runs

    spec = replace(jobs.quick_spec(str(synthetic_data)), epochs=2, min_steps=0)
    run = jobs.run_job(spec)
    kept = evaluate.remembered(run, data.key)
    assert kept is not None and kept.count == run.test_count
    assert kept.accuracy == pytest.approx(run.test_accuracy, abs=1e-6)
    keras_path = evaluate.evaluate_run(runs.load_model(run), data, run.class_names)
    assert abs(keras_path.accuracy - kept.accuracy) <= 1 / kept.count  # TFLite's features against Keras'
    assert kept.loss == pytest.approx(keras_path.loss, rel=0.05)
    from catdog_core import embedding

    held = evaluate.remembered(run, data.key, "validation")
    assert held is not None and held.count == len(data.validation)
    wrong = embedding.maps_for(run, data)[0].wrong  # the map's crosses, from what was kept
    assert wrong.shape == (len(data.validation) + len(data.test),)
    assert int(wrong.sum()) == len(held.mistakes) + len(kept.mistakes)

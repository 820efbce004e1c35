"""Suspicious labels: out-of-fold answers rank deliberately swapped labels first; the exclusion
list beside the dataset; a job without those photos; the Label check page end to end."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from catdog_core import dataset, jobs, jobspec, training
from catdog_core.lessons import suspects
from catdog_core.augment import NO_AUGMENTATION
from catdog_core.errors import InvalidSettings
from conftest import button, open_page, session_job_id, texts, wait_for

SWAPPED = ("train/dogs/cats.3.jpg", "train/cats/dogs.5.jpg")  # a cat filed as a dog, a dog as a cat


@pytest.fixture(scope="module")
def mislabelled(synthetic_data, tmp_path_factory):
    """The synthetic dataset with two training photos moved into the other class's folder."""
    root = tmp_path_factory.mktemp("mislabelled") / "cats_and_dogs_swapped"
    shutil.copytree(synthetic_data, root)
    shutil.move(root / "train/cats/cats.3.jpg", root / SWAPPED[0])
    shutil.move(root / "train/dogs/dogs.5.jpg", root / SWAPPED[1])
    return root


def test_stratified_folds_and_ranking_on_made_up_features():
    labels = np.array([0] * 10 + [1] * 15)
    fold = suspects.stratified_folds(labels)
    assert np.array_equal(fold, suspects.stratified_folds(labels))  # seeded
    for k in range(suspects.FOLDS):
        assert (labels[fold == k] == 0).sum() == 2 and (labels[fold == k] == 1).sum() == 3
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.01, 0.99]])
    found = suspects.rank(probs, np.array([0, 0, 1, 0]), ["a", "b", "c", "d"], ("cats", "dogs"))
    assert [(s.path, s.given, s.predicted) for s in found] == [("d", "cats", "dogs"), ("b", "cats", "dogs"),
                                                               ("c", "dogs", "cats")]
    assert found[0].confidence == pytest.approx(0.99) and found[0].given_probability == pytest.approx(0.01)


def test_swapped_labels_rank_first_and_the_report_is_cached(mislabelled, shared_weights, fresh_cache):
    suspects.clear_memory()  # computed here, not found where another test of this process left it
    data = dataset.load_dataset(mislabelled)
    seen = []
    report = suspects.find_suspects(data, progress=lambda d, t, m: seen.append(m))
    assert {s.path for s in report.suspects[:2]} == set(SWAPPED), report.suspects[:4]
    first = report.suspects[0]
    assert first.contradicts and first.confidence > 0.5 and report.disagreements >= 2
    assert report.photos == len(data.train) and "Training a head per fold" in seen
    # Kept by content: from memory, then from disk after the memory is gone, without computing again.
    again = []
    assert suspects.find_suspects(data, progress=lambda d, t, m: again.append(m)) == report and not again
    suspects.clear_memory()
    assert suspects.find_suspects(data, progress=lambda d, t, m: again.append(m)) == report and not again


def test_exclusions_are_a_checked_list_beside_the_dataset(mislabelled):
    data = dataset.load_dataset(mislabelled)
    assert suspects.load_exclusions(data) == ()
    kept = suspects.save_exclusions(data, [SWAPPED[1], SWAPPED[0], SWAPPED[1]])
    assert kept == tuple(sorted(SWAPPED)) == suspects.load_exclusions(data)
    path = suspects.exclusions_path(data.key)
    assert json.loads(path.read_text())["exclude"] == sorted(SWAPPED)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # written atomically: no temporary left
    assert (mislabelled / SWAPPED[0]).is_file()  # never by deleting files
    validation = data.validation.files[0]
    for wrong in (validation, "../outside.jpg", "train/cats/nope.jpg"):
        with pytest.raises(InvalidSettings, match="not a photo of this dataset's training split"):
            suspects.save_exclusions(data, [wrong])
    cats = [f for f, y in zip(data.train.files, data.train.labels) if y == 0]
    with pytest.raises(InvalidSettings, match="without training photos"):
        suspects.check_exclusions(data, cats)
    with pytest.raises(InvalidSettings, match="At most"):
        suspects.check_exclusions(data, [f"train/cats/{i}.jpg" for i in range(jobspec.MAX_EXCLUDE + 1)])
    assert suspects.load_exclusions(data) == tuple(sorted(SWAPPED))  # a refused list changes nothing
    path.write_text(json.dumps({"exclude": [validation]}))
    assert suspects.load_exclusions(data) == ()  # a hand-edited list naming other photos is not used


def test_each_session_keeps_its_own_exclusions(mislabelled):
    """One student's ticks and Clear on Label check cleared a classmate's list (one list per dataset)."""
    data = dataset.load_dataset(mislabelled)
    suspects.save_exclusions(data, [SWAPPED[0]], "session ann")
    suspects.save_exclusions(data, [SWAPPED[1]], "session bob")
    suspects.save_exclusions(data, (), "session bob")  # Bob clears his
    assert suspects.load_exclusions(data, "session ann") == (SWAPPED[0],)
    assert suspects.load_exclusions(data, "session bob") == () == suspects.load_exclusions(data)
    assert suspects.exclusions_path(data.key, "session ann") != suspects.exclusions_path(data.key, "session bob")


def test_a_job_without_some_photos_trains_on_fewer(mislabelled, shared_weights):
    data = dataset.load_dataset(mislabelled)
    spec = jobs.JobSpec("transfer", 1, NO_AUGMENTATION, str(mislabelled), min_steps=0, exclude=SWAPPED)
    assert jobs.JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec  # a list in JSON
    assert "exclude" not in jobs.quick_spec().to_dict()  # specs without exclusions keep their form
    # 48 training photos are 2 batches of 32; without 16 of them, one.
    sixteen = tuple(f for f, y in zip(data.train.files, data.train.labels) if y == 0)[:8] + \
        tuple(f for f, y in zip(data.train.files, data.train.labels) if y == 1)[:8]
    fewer = training.train(jobs.JobSpec("transfer", 1, NO_AUGMENTATION, min_steps=0, exclude=sixteen), data)
    assert fewer.steps_per_epoch == 1 and any("16 training photos left out" in n for n in fewer.notes)
    with pytest.raises(InvalidSettings, match="training split"):
        training.train(jobs.JobSpec("transfer", 1, NO_AUGMENTATION, exclude=(data.test.files[0],)), data)



def test_label_check_page_finds_ticks_and_retrains(monkeypatch, mislabelled, shared_weights):
    from catdog_core import runs

    monkeypatch.setenv("CATDOG_DATA_DIR", str(mislabelled))
    quick = jobs.quick_spec  # the quick preset, without the small-data epochs (10 epochs, not 50): time
    monkeypatch.setattr(jobs, "quick_spec", lambda data=None: replace(quick(data), min_steps=0))
    at = open_page("suspects")
    button(at, "Find suspicious labels").click().run()
    assert not at.exception and not at.error, texts(at.error)
    data = dataset.cached_dataset(str(mislabelled)) or dataset.load_dataset(mislabelled)
    boxes = [b for b in at.checkbox if b.key.startswith("exclude_")]
    assert len(boxes) >= 2 and all(b.label == "exclude" for b in boxes)
    shown = [data.train.files[int(b.key.rsplit("_", 1)[1])] for b in boxes]
    assert set(shown[:2]) == set(SWAPPED)
    assert any("model: **" in m for m in texts(at.markdown))
    assert button(at, "Retrain the quick model without the 0 excluded photos").disabled
    boxes[0].check().run()
    [b for b in at.checkbox if b.key == boxes[1].key][0].check().run()
    me = at.session_state["owner"]
    assert suspects.load_exclusions(data, me) == tuple(sorted(shown[:2]))
    assert suspects.load_exclusions(data) == () == suspects.load_exclusions(data, "session classmate")  # mine only
    button(at, "Retrain the quick model without the 2 excluded photos").click().run()
    assert not at.exception
    job = jobs.get_queue().get(session_job_id(at))
    assert job.spec.exclude == tuple(sorted(SWAPPED))
    wait_for(at, lambda at: jobs.get_queue().get(job.job_id).state == jobs.DONE, timeout=120, pause=0.5)
    at.run()
    [run] = runs.list_runs().runs
    assert run.excluded == tuple(sorted(SWAPPED)) and "2 training photos left out" in " ".join(run.notes)
    assert run.spec["exclude"] == sorted(SWAPPED) and "without 2 photos" in run.title()  # what Compare lists
    assert any("without 2 photos, the quick model reaches" in m for m in texts(at.markdown))

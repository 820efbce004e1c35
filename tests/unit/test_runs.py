"""Tests for catdog_core.runs: saved runs written whole or not at all, listed and loaded."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from catdog_core import dataset, predict, runs, training
from catdog_core.jobs import JobSpec
from catdog_core.augment import NO_AUGMENTATION
from catdog_core.errors import CatdogError, RunNotFound


@pytest.fixture(scope="module")
def data(synthetic_data):
    return dataset.load_dataset(synthetic_data)


@pytest.fixture(scope="module")
def result(data):
    """One real (small) training result, saved by each test into its own CATDOG_HOME."""
    return training.train(JobSpec("baseline", 1, NO_AUGMENTATION, min_steps=0), data)


def save(result, data, recipe: str | None = None, **extra):
    chosen = dataclasses.replace(result, recipe=recipe) if recipe else result
    return runs.save_run(chosen, data.describe(), extra or None)


def test_saved_run_is_listed_found_loaded_and_classifies(result, data):
    run = save(result, data, label="first")
    assert run.path == runs.runs_dir() / run.run_id
    assert sorted(p.name for p in run.path.iterdir()) == ["COMPLETE", "history.json", "meta.json", "model.keras"]
    assert not [p for p in runs.runs_dir().iterdir() if p.name.startswith(".")]  # no temporary folder left

    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [run.run_id] and listing.problems == []
    assert runs.find_run(run.run_id) == run
    assert runs.find_run(str(run.path)) == run  # a folder path works too (command line)
    assert runs.find_run("latest") == run
    assert runs.find_run("latest:baseline") == run
    assert run.recipe == "baseline" and run.class_names == ("cats", "dogs")
    assert run.epochs == 1 and not run.stopped and run.extra == {"label": "first"}
    assert run.history == [h.to_dict() for h in result.history]
    assert run.val_accuracy == result.val_accuracy and run.test_accuracy == result.test_accuracy
    assert run.dataset["counts"] == dataset.label_counts(data)
    assert run.row()["epochs"] == "1" and run.row()["classes"] == "cats, dogs"

    model = runs.load_model(run)
    assert runs.load_model(run) is model  # loaded once per process
    images = data.test.images
    np.testing.assert_allclose(np.asarray(model(images.astype("float32"), training=False)),
                               np.asarray(result.model(images.astype("float32"), training=False)),
                               rtol=1e-5, atol=1e-5)
    prediction = predict.classify(model, images[0], run.class_names)
    assert prediction.label in run.class_names
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_latest_is_the_most_recently_saved_even_within_one_second(result, data):
    # Saved back to back, these runs usually share the same second; 'latest' must still be
    # the last one saved, whatever the recipe names or random id suffixes sort as.
    saved = [save(result, data, recipe) for recipe in ("transfer", "baseline", "normalized", "augmented")]
    assert [r.run_id for r in runs.list_runs().runs] == [r.run_id for r in reversed(saved)]
    assert runs.find_run("latest").run_id == saved[-1].run_id
    assert runs.find_run("latest:transfer").run_id == saved[0].run_id
    assert runs.latest("baseline").run_id == saved[1].run_id


def test_latest_of_a_recipe_without_runs_is_not_found(result, data):
    with pytest.raises(RunNotFound, match="train one first"):
        runs.find_run("latest")
    save(result, data)
    with pytest.raises(RunNotFound, match="no saved run of transfer"):
        runs.find_run("latest:transfer")


def test_folder_without_complete_marker_is_reported_not_listed(result, data):
    good = save(result, data)
    broken = save(result, data, "transfer")
    (broken.path / runs.COMPLETE).unlink()
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [good.run_id]
    assert len(listing.problems) == 1
    assert broken.run_id in listing.problems[0] and "COMPLETE" in listing.problems[0]
    with pytest.raises(RunNotFound, match="cannot be used"):
        runs.find_run(broken.run_id)


def test_incomplete_dot_folders_are_ignored(result, data):
    good = save(result, data)
    leftover = runs.runs_dir() / ".incomplete-20240101-000000-transfer-dead"
    leftover.mkdir()
    (leftover / "model.keras").write_bytes(b"half a model")
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [good.run_id] and listing.problems == []
    with pytest.raises(RunNotFound):
        runs.find_run(leftover.name)


@pytest.mark.parametrize("damage", ["garbage", "missing key", "wrong type", "deleted"])
def test_corrupt_metadata_is_reported_not_raised(result, data, damage):
    good = save(result, data)
    broken = save(result, data, "transfer")
    meta = broken.path / runs.META_FILE
    if damage == "garbage":
        meta.write_bytes(b"\x00{not json")
    elif damage == "missing key":
        meta.write_text(json.dumps({"recipe": "transfer"}))
    elif damage == "wrong type":
        meta.write_text(json.dumps({"recipe": "transfer", "class_names": ["a", "b"], "epochs": "many"}))
    else:
        meta.unlink()
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [good.run_id]
    assert len(listing.problems) == 1 and broken.run_id in listing.problems[0]
    assert "metadata" in listing.problems[0]
    with pytest.raises(RunNotFound):
        runs.find_run(broken.run_id)


@pytest.mark.parametrize("dataset, settings", [
    ({"counts": "x"}, None), ({"counts": {"validation": "x"}}, None),
    ({"counts": {"validation": {"cats": "many"}}}, None), ({"counts": {"validation": {"cats": -3}}}, None),
    ({"source": 5}, None), ({"classes": "cats"}, None), ({"skipped": "none"}, None),
    (None, {"rotation": "lots"}), (None, "flip"),
])
def test_every_field_a_page_reads_is_checked_to_the_leaf(result, data, dataset, settings):
    """A run whose metadata has the right keys but wrong leaves (a text where counts go) is skipped
    with a sentence, instead of passing the check and crashing Home and Classify later."""
    good = save(result, data)
    broken = save(result, data, "transfer")
    path = broken.path / runs.META_FILE
    meta = json.loads(path.read_text())
    if dataset is not None:
        meta["dataset"] = {**meta["dataset"], **dataset}
    if settings is not None:
        meta["settings"] = settings
    path.write_text(json.dumps(meta))
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [good.run_id]
    assert len(listing.problems) == 1 and broken.run_id in listing.problems[0]
    assert good.val_count == len(data.validation)  # what the pages read, from a sound run


def test_failed_save_leaves_no_folder_and_earlier_runs_intact(result, data, monkeypatch):
    earlier = save(result, data)
    before = sorted(p.name for p in runs.runs_dir().iterdir())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result.model, "save", disk_full)
    with pytest.raises(CatdogError) as info:
        save(result, data, "transfer")
    assert "No space left on device" in str(info.value) and "earlier runs are untouched" in str(info.value)
    assert sorted(p.name for p in runs.runs_dir().iterdir()) == before
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [earlier.run_id] and listing.problems == []
    assert runs.find_run("latest") == earlier


def test_unexpected_error_while_saving_also_cleans_up(result, data, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("cannot serialise this layer")

    monkeypatch.setattr(result.model, "save", broken)
    with pytest.raises(ValueError):
        save(result, data)
    assert list(runs.runs_dir().iterdir()) == []


def test_read_only_runs_folder_gives_a_sentence(result, data):
    base = runs.runs_dir()
    base.mkdir(parents=True)
    base.chmod(0o555)
    try:
        probe = base / "probe"
        try:
            probe.mkdir()
        except OSError:
            pass
        else:
            probe.rmdir()
            pytest.skip("running as root: a read-only folder is still writable, so this cannot be tested")
        with pytest.raises(CatdogError) as info:
            save(result, data)
        message = str(info.value)
        assert str(base) in message and "CATDOG_HOME" in message and message.endswith(".")
    finally:
        base.chmod(0o755)


def test_runs_home_that_is_a_file_gives_a_sentence(result, data, isolated_home):
    # Works as root too: a regular file where the runs folder should be cannot be written into.
    isolated_home.mkdir(parents=True)
    (isolated_home / "runs").write_text("not a folder")
    with pytest.raises(CatdogError) as info:
        save(result, data)
    assert "CATDOG_HOME" in str(info.value) and type(info.value) is CatdogError


@pytest.mark.parametrize("name", ["../x", "../../etc", "nope", "", ".", ".incomplete-x", "latest:resnet"])
def test_find_run_refuses_unknown_names_and_paths_outside(result, data, name):
    save(result, data)
    with pytest.raises(RunNotFound):
        runs.find_run(name)


def test_list_runs_without_a_runs_folder_is_empty():
    listing = runs.list_runs()
    assert listing.runs == [] and listing.problems == []
    assert runs.latest() is None


def test_stopped_run_row_says_so(result, data):
    stopped = dataclasses.replace(result, stopped=True, epochs_requested=5)
    run = runs.save_run(stopped, data.describe())
    assert run.stopped and run.epochs == 1 and run.epochs_requested == 5
    assert run.row()["epochs"] == "1 of 5 (stopped)"


def test_a_run_keeps_the_job_it_was_trained_from_and_its_script_retrains_that(result, data):
    from catdog_core import codegen

    spec = JobSpec("baseline", 7, NO_AUGMENTATION, learning_rate=5e-4, label="mine", min_steps=0, variants=0)
    run = runs.find_run(runs.save_run(result, data.describe(), spec=spec.to_dict()).run_id)
    assert JobSpec.from_dict(run.spec) == spec
    script = codegen.for_run(run)
    assert 'parser.add_argument("--epochs", type=int, default=7)' in script and "Adam(0.0005)" in script


@pytest.mark.parametrize("job", [
    {"recipe": "transfer", "epochs": 1},  # not the run's recipe
    {"recipe": "baseline", "epochs": "x"},
    {"recipe": "baseline", "epochs": 1, "learning_rate": "fast"},
    {"recipe": "baseline", "epochs": 1, "settings": {"rotation": 9}},
    {"recipe": "baseline", "epochs": 1, "label": ["not", "text"]},
    {"recipe": "baseline", "epochs": 1, "variants": -3},
    "a job",
])
def test_a_tampered_job_skips_the_run_with_a_sentence(result, data, job):
    good = save(result, data)
    broken = save(result, data)
    meta = json.loads((broken.path / runs.META_FILE).read_text())
    meta["spec"] = job
    (broken.path / runs.META_FILE).write_text(json.dumps(meta))
    listing = runs.list_runs()
    assert [r.run_id for r in listing.runs] == [good.run_id]
    assert len(listing.problems) == 1 and "job" in listing.problems[0]


def test_a_frozen_base_run_keeps_its_head_and_one_linked_base_and_loads_and_exports_whole(
        trained_transfer, tmp_path):
    """Model 4 with its MobileNetV2 frozen saves the head's weights and a link to the base's weights,
    stored once (Keras' whole-file writer took ~0.65 s a run walking the base). Loaded, it answers
    exactly as the model that trained; exported, it is one .keras file that loads with Keras alone."""
    import keras

    from catdog_core import export
    from catdog_core.runs import save as saving

    data, result = trained_transfer
    first, second = runs.save_run(result, data.describe()), runs.save_run(result, data.describe())
    assert sorted(p.name for p in first.path.iterdir()) == ["COMPLETE", runs.BASE_FILE, runs.HEAD_FILE,
                                                            "history.json", "meta.json"]
    assert first.model_format == runs.FROZEN_BASE and first.model_path.name == runs.HEAD_FILE
    stored = saving.store_dir() / f"{first.base_digest}.weights.h5"
    assert (first.path / runs.BASE_FILE).stat().st_ino == (second.path / runs.BASE_FILE).stat().st_ino \
        == stored.stat().st_ino  # one file on disk however many runs
    images = data.validation.images[:8].astype("float32")
    expected = np.asarray(result.model(images, training=False))
    model = runs.load_model(first)
    np.testing.assert_allclose(np.asarray(model(images, training=False)), expected, rtol=1e-5, atol=1e-5)
    from catdog_core.models import BASE_NAME

    assert runs.load_model(second).get_layer(BASE_NAME) is model.get_layer(BASE_NAME)  # one base in memory

    out = export.export_run(first, "keras", tmp_path / "whole.keras")
    standalone = keras.models.load_model(out, compile=False)
    np.testing.assert_allclose(np.asarray(standalone(images, training=False)), expected, rtol=1e-5, atol=1e-5)

    runs.delete_run(first)
    runs.delete_run(second)
    assert stored.is_file() and stored.stat().st_nlink == 1  # kept an hour for a job about to link it
    os.utime(stored, (0, 0))
    saving._prune(saving.store_dir(), keep=saving.store_dir() / "none")
    assert not stored.exists()
    third = runs.save_run(result, data.describe())  # this process wrote it: written again when gone
    np.testing.assert_allclose(np.asarray(runs.load_model(third)(images, training=False)), expected,
                               rtol=1e-5, atol=1e-5)


def test_a_small_cnn_run_is_still_one_keras_file(result, data):
    run = save(result, data)
    assert run.model_format == "keras" and "model" not in json.loads((run.path / "meta.json").read_text())


def test_a_frozen_base_run_on_another_file_system_gets_a_copy_of_the_base(trained_transfer, monkeypatch):
    import errno

    from catdog_core.runs import save as saving

    def cross_device(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    data, result = trained_transfer
    monkeypatch.setattr(os, "link", cross_device)
    run = runs.save_run(result, data.describe())
    stored = saving.store_dir() / f"{run.base_digest}.weights.h5"
    copy = run.path / runs.BASE_FILE
    assert copy.stat().st_ino != stored.stat().st_ino and copy.read_bytes() == stored.read_bytes()
    images = data.validation.images[:4].astype("float32")
    np.testing.assert_allclose(np.asarray(runs.load_model(run)(images)), np.asarray(result.model(images)),
                               rtol=1e-5, atol=1e-5)


def test_the_post_table_says_a_stopped_run_was_stopped(result, data):
    """Reproduce the post: a model stopped after 1 of 20 epochs showed "1" in the epochs column."""
    from catdog_core import jobs

    stopped = dataclasses.replace(result, stopped=True, epochs_requested=20)
    run = runs.save_run(stopped, data.describe(), {"label": jobs.REPRODUCE_LABEL})
    rows = {row["model"]: row for row in runs.post_comparison(runs.list_runs().runs, jobs.REPRODUCE_LABEL)}
    assert rows["Model 1: small CNN"]["epochs"] == 1 and rows["Model 1: small CNN"]["stopped"] is True
    assert run.epochs_text == "1 of 20 (stopped)" == run.row()["epochs"]  # what the Training page shows for it
    assert rows["Model 4: transfer learning"]["epochs"] is None


def test_times_measured_here_come_from_the_runs_saved_here(result, data):
    """What a page may say about how long a training takes: only what this machine measured."""
    listing = runs.list_runs().runs
    assert runs.latest_seconds(listing, data.key, "quick transfer") is None
    assert runs.seconds_per_epoch(listing, data.key, "baseline", False) is None
    quick = dataclasses.replace(result, seconds=3.25)
    save(quick, data, label="quick transfer")
    listing = runs.list_runs().runs
    assert runs.latest_seconds(listing, data.key, "quick transfer") == 3.25
    assert runs.latest_seconds(listing, "another dataset", "quick transfer") is None
    assert runs.seconds_per_epoch(listing, data.key, "baseline", False) == pytest.approx(result.history[0].seconds)
    assert runs.seconds_per_epoch(listing, data.key, "baseline", True) is None  # model 1 never augments


def test_a_renamed_run_is_named_by_its_new_name_in_legends(result, data):
    run = save(result, data)
    assert run.short_name == run.run_id[-4:]
    runs.rename_run(run, "first try")
    assert runs.find_run(run.run_id).short_name == "first try"


def test_a_new_process_links_the_stored_base_without_saving_it_again(monkeypatch, shared_weights):
    """The store's note of which file holds a shared base's weights: no second save_weights."""
    from catdog_core import models
    from catdog_core.runs import save as store

    base = models.shared_base(shared_weights)
    first, digest = store.store_base(base)
    store._stored.clear()  # what a new process knows: nothing but the home's files
    with monkeypatch.context() as m:
        m.setattr(store, "_save_base", lambda *a: pytest.fail("saved the base again"))
        assert store.store_base(base) == (first, digest)

    store._stored.clear()
    with open(first, "r+b") as f:  # a stored file that no longer holds what its name says
        f.seek(4096)
        f.write(b"planted")
    again, again_digest = store.store_base(base)
    assert again == first and store._holds(again, again_digest) and again_digest == digest


def test_the_listing_is_read_again_only_when_a_run_folder_changed(result, data, monkeypatch):
    """Under a class every page run lists the runs: nothing changed, no folder is read again; a new
    run, a rename (an atomic write in its folder), a file taken away and a deleted run all show."""
    from catdog_core.runs import listing as listing_module

    first, second = save(result, data), save(result, data, "transfer")
    reads = []
    real = listing_module.read_run
    monkeypatch.setattr(listing_module, "read_run", lambda path: reads.append(path.name) or real(path))
    assert [r.run_id for r in runs.list_runs().runs] == [second.run_id, first.run_id]
    reads.clear()
    shown = runs.list_runs()
    assert reads == [] and [r.run_id for r in shown.runs] == [second.run_id, first.run_id]
    shown.runs.clear()  # a caller changing its copy changes nothing kept
    assert len(runs.list_runs().runs) == 2
    runs.rename_run(first, "Ada's model")
    assert {r.run_id: r.name for r in runs.list_runs().runs}[first.run_id] == "Ada's model"
    (second.path / runs.COMPLETE).unlink()
    assert [r.run_id for r in runs.list_runs().runs] == [first.run_id]
    third = save(result, data)
    assert [r.run_id for r in runs.list_runs().runs] == [third.run_id, first.run_id]
    runs.delete_run(first)
    assert [r.run_id for r in runs.list_runs().runs] == [third.run_id]

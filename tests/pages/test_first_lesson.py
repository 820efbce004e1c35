"""A teacher's first lesson (issue 33): what the pages say, through Streamlit's AppTest, on drawn data.

A page opens the way a browser opens it (app.py first, then AppTest.switch_page). Jobs here are put in
the queue and claimed by the test itself where only what a page shows of them matters, so no worker
trains; each test ends its jobs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog_core import images, jobs, runs, uploads
from catdog_core.augment import AugmentSettings
from conftest import draw_image, open_page, texts
from ui.jobs import duration_text as ui_duration


def class_folders(root: Path, per_class: int = 8, classes=("doggo", "kitty"), seed: int = 0) -> Path:
    """A folder of class folders alone (as Your classes saves one), split automatically: 16 photos
    make 14 training and 2 validation photos (by the hash of each file's name)."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(draw_image(label, rng)).save(root / name / f"{name}_{i}.jpg", quality=90)
    return root


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    folder = class_folders(tmp_path / "tiny")
    monkeypatch.setenv("CATDOG_DATA_DIR", str(folder))
    return folder


def claimed(spec: jobs.JobSpec, owner: str = "") -> int:
    """A job in the queue, claimed by this test as if a worker had started it (nothing trains it)."""
    queue = jobs.get_queue()
    job_id = queue.submit(jobs.resolved(spec), owner)
    assert queue.claim("test-worker", job_id) is not None
    return job_id


def test_the_panel_counts_towards_the_epochs_planned_from_the_start(tiny):
    at = open_page("training")
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "14 train" in sidebar
    job_id = claimed(jobs.quick_spec(), at.session_state["owner"])
    at.session_state["_jobs_by_data"] = {"": job_id}  # this session's job on this data
    try:
        at.run()
        finished = [m for m in at.metric if m.label == "Epochs finished"]
        assert [m.value for m in finished] == ["0 of 100"]  # 14 photos: 1 step an epoch, 100 steps at least
    finally:
        jobs.get_queue().finish(job_id, jobs.STOPPED, "Stopped by the test")


# ---------------------------------------------------------------- the Training page


@pytest.fixture
def data(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    return synthetic_data


def saved(trained, **extra):
    """The session's trained transfer model saved as a run of this test's home (its data described as
    trained, or as `dataset` says)."""
    loaded, result = trained
    described = {**loaded.describe(), **extra.pop("dataset", {})}
    return runs.save_run(dataclasses.replace(result, **extra.pop("result", {})), described, extra or None)


def test_the_saved_runs_are_those_of_the_data_in_use_and_the_others_behind_a_switch(data, trained_transfer):
    here = saved(trained_transfer)
    other = saved(trained_transfer, dataset={"key": "kitty and doggo", "location": "/elsewhere/kitty"})
    at = open_page("training")
    assert at.dataframe[0].value["run"].tolist() == [here.run_id]
    at.toggle(key="runs_other_data").set_value(True).run()
    assert sorted(at.dataframe[0].value["run"]) == sorted([here.run_id, other.run_id])
    assert "classes" in at.dataframe[0].proto.column_order  # other data: which classes each run knows


def test_compared_runs_are_named_in_the_legend_as_they_are_called_now(data, trained_transfer):
    run = saved(trained_transfer)
    runs.rename_run(run, "first try")
    at = open_page("training")
    assert at.multiselect(key="compare").value == [run.run_id]
    legends = {t["name"] for chart in at.get("plotly_chart") if chart.key == "compare_accuracy"
               for t in json.loads(chart.proto.spec)["data"] if t.get("showlegend") is not False}
    assert legends == {"training", "validation"}  # one run: its name is the legend's title
    title = [json.loads(c.proto.spec)["layout"]["legend"]["title"]["text"] for c in at.get("plotly_chart")
             if c.key == "compare_accuracy"]
    assert title == ["transfer · first try"], title


def test_times_are_the_ones_measured_here_or_none(data, trained_transfer):
    at = open_page("training")
    said = " ".join(texts(at.caption) + texts(at.markdown) + [c.label for c in at.checkbox])
    assert "minute" not in said and "took" not in said and "here last time" not in said
    quick = saved(trained_transfer, label="quick transfer", result={"seconds": 3.3})
    augmented = saved(trained_transfer, result={"settings": AugmentSettings()})  # model 4 as the post trains it
    at.run()
    assert any(c.endswith("The last one on this data took 3 s here.") for c in texts(at.caption))
    per_epoch = sum(h["seconds"] for h in augmented.history) / len(augmented.history)
    assert any(f"model 4 about {ui_duration(per_epoch * 20)}; model 1, model 2, model 3 not trained here yet"
               in m for m in texts(at.markdown)), texts(at.markdown)
    assert quick.run_id


def test_the_post_is_quoted_plainly(data):
    at = open_page("training")
    at.radio(key="recipe").set_value("transfer").run()
    said = " ".join(texts(at.markdown))
    assert "The post reports **about 97 %** validation accuracy and 97.4% on its test batches." in said
    assert "(97.4 % test)" not in said


def test_train_with_these_settings_opens_a_recipe_that_uses_them(data):
    at = open_page("augmentation")
    at.radio(key="aug_flip").set_value("horizontal").run()
    [button] = [b for b in at.button if b.key == "aug_train"]
    button.click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Train a model"]
    assert at.radio(key="recipe").value == "augmented"
    assert any(m.startswith("**Augmentation:** flip horizontal") for m in texts(at.markdown)), texts(at.markdown)


# ---------------------------------------------------------------- Classify, Home, the uploaders


def finished(spec: jobs.JobSpec, owner: str) -> int:
    job_id = claimed(spec, owner)
    jobs.get_queue().finish(job_id, jobs.DONE, "Finished")
    return job_id


def test_classify_shows_the_training_it_asked_for_and_not_the_last_one_elsewhere(data):
    at = open_page("classify")
    job_id = finished(jobs.quick_spec(), at.session_state["owner"])  # as if started on the Training page
    at.session_state["_jobs_by_data"] = {"": job_id}
    at.run()
    assert not [m for m in texts(at.markdown) if m.startswith(f"**Job {job_id}:")]
    at.session_state["_job_origins"] = {job_id: "classify"}  # asked for with "Train a quick model now"
    at.run()
    assert [m for m in texts(at.markdown) if m.startswith(f"**Job {job_id}:")]


def test_home_calls_a_copy_in_keras_cache_a_copy_not_a_download(tmp_path, monkeypatch):
    import shutil

    from conftest import make_dataset

    folder = make_dataset(tmp_path / "zip" / "cats_and_dogs_filtered", n_train=6, n_val=4)
    archive = shutil.make_archive(str(tmp_path / "cats_and_dogs"), "zip", tmp_path / "zip")
    keras_cache = Path(os.environ["KERAS_HOME"]) / "datasets"
    keras_cache.mkdir(parents=True)
    shutil.copy(archive, keras_cache / "cats_and_dogs.zip")  # put there by hand, as the lesson did
    assert folder.is_dir()
    at = open_page()
    source = next(m for m in texts(at.markdown) if m.startswith("**Source:**"))
    assert "downloaded" not in source and "from the copy of its zip already in Keras' cache" in source, source


def test_uploaders_say_the_limit_each_file_really_has(data, trained_transfer):
    saved(trained_transfer)
    at = open_page("classify")
    limits = {u.key: u.proto.max_upload_size_mb for u in at.get("file_uploader")}
    assert limits == {"classify_files": images.MAX_UPLOAD_BYTES // 2**20,
                      "check_files": uploads.MAX_UPLOAD_ZIP_BYTES // 2**20}, limits
    at.switch_page("pages/dataset.py").run()
    assert {u.key: u.proto.max_upload_size_mb for u in at.get("file_uploader")} == {
        "own_classes_zip": uploads.MAX_UPLOAD_ZIP_BYTES // 2**20}

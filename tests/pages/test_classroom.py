"""Classroom polish (issue 13), page by page through AppTest: a queue the teacher controls,
pickers that follow new runs, the Classify tally and labelled batch check, runs renamed and
deleted, earlier uploads reopened, and the small texts that used to get in the way."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from catdog_core import jobs, runs
from catdog_core.augment import NO_AUGMENTATION
from support.pages import data  # noqa: F401  (the synthetic dataset, configured)
from conftest import as_read, button, jpeg_bytes, open_page, photo_bytes, session_job_id, texts
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from support.pictures import zip_of_classes


def saved(trained_transfer, **extra):
    data, result = trained_transfer
    return runs.save_run(result, data.describe(), extra or None)


def test_the_queue_lists_every_job_with_its_owner_and_stop_all_asks_first(data):
    queue = jobs.get_queue()
    # Two students' jobs, queued before any worker runs them.
    first = queue.submit(jobs.resolved(jobs.JobSpec("baseline", 40, NO_AUGMENTATION, min_steps=0)), "session aa11")
    second = queue.submit(jobs.resolved(jobs.JobSpec("baseline", 5, NO_AUGMENTATION, min_steps=0)), "session bb22")
    at = open_page("training")
    body = " ".join(texts(at.markdown))
    assert "The queue** · 2 jobs" in body and "session aa11" in body and "session bb22" in body
    # The page's sidebar wakes a worker, which may already have taken the first job.
    assert "queued, position 1" in body and ("queued, position 2" in body or "training, " in body), body
    button(at, "Stop all…").click().run()
    assert any("Stop all 2 jobs?" in w for w in texts(at.warning))
    assert not any(queue.get(j).stop_requested for j in (first, second))  # nothing before the confirmation
    button(at, "Yes, stop them all").click().run()
    ended = [queue.wait(j, timeout=120) for j in (first, second)]
    assert {j.state for j in ended} == {jobs.STOPPED}


def test_start_pressed_twice_queues_one_job(data):
    at = open_page("training")
    at.session_state["augment_settings"] = NO_AUGMENTATION
    at.radio(key="recipe").set_value("baseline")
    at.number_input(key="epochs").set_value(40)
    button(at, "Start").click().run()
    first = session_job_id(at)
    button(at, "Start").click().run()  # the second click of a double click
    assert session_job_id(at) == first
    assert len([j for j in jobs.get_queue().active() if j.owner == at.session_state["owner"]]) == 1


def scored(trained_transfer, val: float, recipe: str = "transfer"):
    """A saved run whose last validation accuracy is `val` (the trained model, the history rescored)."""
    data, result = trained_transfer
    history = [replace(h, val_accuracy=val) for h in result.history]
    return runs.save_run(replace(result, recipe=recipe, history=history), data.describe())


def test_pickers_open_on_the_best_run_and_keep_what_the_user_picked(data, trained_transfer):
    good = scored(trained_transfer, 0.90)
    at = open_page("training")
    assert at.selectbox(key="export_run").value == good.run_id
    assert "Showing the best run on the data in use: 90.0% validation accuracy" in " ".join(texts(at.caption))
    worse = scored(trained_transfer, 0.55, recipe="baseline")  # trained later, worse: not the default
    at.run()
    assert at.selectbox(key="export_run").value == good.run_id
    assert set(at.multiselect(key="compare").value) == {good.run_id}
    better = scored(trained_transfer, 0.95)  # a better one: followed while the user has not picked
    at.run()
    assert at.selectbox(key="export_run").value == better.run_id
    tie = scored(trained_transfer, 0.95)  # equal accuracy: the newest
    at.run()
    assert at.selectbox(key="export_run").value == tie.run_id
    assert "(the newest of equals)" in " ".join(texts(at.caption))
    at.selectbox(key="export_run").set_value(worse.run_id).run()  # the user's pick stays
    scored(trained_transfer, 0.99)
    at.run()
    assert at.selectbox(key="export_run").value == worse.run_id
    assert "Showing the run you picked (55.0% validation accuracy)." in texts(at.caption)
    runs.delete_run(runs.find_run(worse.run_id))  # deleted elsewhere: back to the best, no error
    at.run()
    assert not at.exception and at.selectbox(key="export_run").value != worse.run_id
    assert runs.find_run(at.selectbox(key="export_run").value).val_accuracy == pytest.approx(0.99)
    # Classify asks for a transfer model: the best transfer run, never the later baseline.
    scored(trained_transfer, 0.999, recipe="baseline")
    classify = open_page("classify")
    chosen = runs.find_run(classify.selectbox(key="classify_run").value)
    assert chosen.recipe == "transfer" and chosen.val_accuracy == pytest.approx(0.99)
    assert any("Showing the best transfer run on the data in use" in c for c in texts(classify.caption))


def test_an_earlier_upload_is_reopened_from_the_list(data):
    at = open_page("dataset")
    at.file_uploader(key="own_classes_zip").set_value(("fruit.zip", zip_of_classes(n=10), "application/zip")).run()
    button(at, "Use these classes").click().run()
    button(at, "Back to cats and dogs").click().run()
    fresh = open_page("dataset")  # another day, another session: no upload in hand
    assert fresh.selectbox(key="earlier_upload").value.endswith(".zip")
    button(fresh, "Open these classes").click().run()
    assert not fresh.exception
    assert "your classes (apples, pears, plums)" in " ".join(texts(fresh.sidebar.markdown))


def test_runs_are_renamed_and_deleted_after_a_confirmation(data, trained_transfer):
    keep, doomed = saved(trained_transfer), saved(trained_transfer)
    at = open_page("training")
    at.selectbox(key="manage_run").set_value(doomed.run_id)
    at.text_input(key="manage_name").input("my [best] cat model")
    button(at, "Rename").click().run()
    assert runs.find_run(doomed.run_id).name == "my [best] cat model"
    assert "my [best] cat model" in at.dataframe[0].value["name"].tolist()
    at.selectbox(key="manage_run").set_value(doomed.run_id)
    button(at, "Delete…").click().run()
    assert runs.find_run(doomed.run_id)  # not yet
    button(at, "Yes, delete it").click().run()
    assert [r.run_id for r in runs.list_runs().runs] == [keep.run_id]
    assert not [p for p in runs.runs_dir().iterdir() if p.name.startswith(".")]  # nothing half-deleted


def test_classify_tallies_a_batch_and_draws_no_toolbar(data, trained_transfer):
    saved(trained_transfer)
    at = open_page("classify")
    files = [(f"{i}.jpg", photo_bytes(i % 2 if i < 3 else 0, 30 + i), "image/jpeg") for i in range(4)]
    at.file_uploader(key="classify_files").set_value(files).run()
    assert not at.exception
    tally = [m for m in texts(at.markdown) if m.startswith("**In this batch:**")]
    assert tally == ["**In this batch:** 3 cats, 1 dog"]
    charts_ = [c for c in at.get("plotly_chart") if "probabilities_" in (c.key or "")]
    assert len(charts_) == 4
    for chart in charts_:
        assert json.loads(chart.proto.config)["displayModeBar"] is False
        assert json.loads(chart.proto.spec)["layout"]["xaxis"]["range"] == [0, 1]

    # More than four photos: rows of small cards (right or wrong where the file's name gives the class),
    # no bars and no heatmaps until one photo is picked for its full card.
    files = [(f"{'cat' if i % 2 == 0 else 'dog'}.{i}.jpg", photo_bytes(i % 2, 50 + i), "image/jpeg") for i in range(7)]
    files.append(("holiday.jpg", photo_bytes(0, 70), "image/jpeg"))
    at.file_uploader(key="classify_files").set_value(files).run()
    assert not at.exception and not at.error
    assert len(at.image) == 8 and not [c for c in at.get("plotly_chart") if "probabilities_" in (c.key or "")]
    captions = [as_read(c) for image in at.image for c in image.captions]
    assert captions[0].startswith("**cats** ") and captions[0].endswith("1 · cat.0.jpg")
    assert sum("✓ right" in c for c in captions[:7]) >= 6  # the synthetic classes are easy
    assert "right" not in captions[7] and "✗" not in captions[7]  # holiday.jpg: its class is not known
    assert any(m.startswith("**Named by class:**") and "of 7 right" in m for m in texts(at.markdown))
    assert [m for m in texts(at.markdown) if m.startswith("**In this batch:**")]
    at.selectbox(key="classify_detail").set_value(2).run()
    assert not at.exception
    assert [c.key for c in at.get("plotly_chart") if "probabilities_" in (c.key or "")] == ["probabilities_detail"]
    assert "dog.1.jpg" in [as_read(c) for image in at.image for c in image.captions]


def test_a_labelled_batch_is_checked(data, trained_transfer):
    saved(trained_transfer)
    rng = np.random.default_rng(4)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for i in range(5):  # both classes have a 0.jpg ... 4.jpg, as a camera names its photos
            archive.writestr(f"mine/cats/{i}.jpg", jpeg_bytes(0, rng, size=120))
            archive.writestr(f"mine/dogs/{i}.jpg", jpeg_bytes(1, rng, size=120))
        archive.writestr("mine/cats/5.jpg", jpeg_bytes(1, rng, size=120))  # a dog filed as a cat: a sure miss
        archive.writestr("mine/notes.txt", b"no class here")
    at = open_page("classify")
    at.file_uploader(key="check_files").set_value([("mine.zip", packed.getvalue(), "application/zip"),
                                                   ("dog_extra.jpg", jpeg_bytes(1, 9, size=120), "image/jpeg")]).run()
    assert not at.exception
    right = next(m for m in at.metric if m.label == "Right")
    assert right.value.endswith("of 12")
    assert 9 <= int(right.value.split()[0]) <= 11  # the synthetic classes are easy; cats/5.jpg is a dog
    assert "1 file has no class in its name or folder and was left out: mine/notes.txt." in texts(at.warning)
    assert any(c.key == "check_confusion" for c in at.get("plotly_chart"))
    # A miss is named with its folder: cats/5.jpg, not a 5.jpg that both classes have.
    assert "cats/5.jpg" in [as_read(c) for image in at.image for c in image.captions]


def test_the_small_texts_a_teacher_tripped_over(monkeypatch):
    # The offline message shows the layout as typed (no italics) and names the weights setting.
    monkeypatch.delenv("CATDOG_DATA_DIR", raising=False)
    at = open_page("dataset")
    raw, shown = at.error[0].value, texts(at.error)[0]
    assert "train/cats/\\*" in raw  # the star escaped: Markdown shows it, no italics
    assert "train/cats/*.jpg" in shown and "CATDOG_BASE_WEIGHTS" in shown and "Restart" in shown
    # Without data, Classify does not offer a training that cannot run.
    at.switch_page("pages/classify.py").run()
    assert not [b for b in at.button if b.label == "Train a quick model now"]
    assert any("no dataset" in i for i in texts(at.info))


def test_presenter_mode_is_kept_for_the_session_and_enlarges_the_charts(data, trained_transfer):
    saved(trained_transfer)
    at = open_page("training")
    normal = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    at.sidebar.toggle(key="presenter_toggle").set_value(True).run()
    at.switch_page("pages/training.py").run()
    assert at.session_state["presenter"] is True
    large = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert large["font"]["size"] > normal["font"]["size"] and large["height"] > normal["height"]

"""Every page through Streamlit's AppTest, on the small synthetic dataset.

Pages are opened the way a browser opens them: app.py (st.navigation) first,
then AppTest.switch_page. Training runs in a worker process that the first
submitted job starts, exactly as under `streamlit run`; each test waits for its
jobs before it ends.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from catdog_core import jobs, training
from catdog_core.augment import NO_AUGMENTATION, AugmentSettings
from support.pictures import zip_of_classes
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import (APP, TIMEOUT, as_read, button, chart_points, gallery_classes, grid_urls, jpeg_bytes,  # noqa: F401
                      make_dataset, open_page, photo_bytes, session_job_id, start_training, texts, wait_for)



@pytest.fixture
def data(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    return synthetic_data


# ---------------------------------------------------------------- Home


def test_home_shows_steps_data_and_runs(data):
    at = open_page()
    assert at.title[0].value.startswith("Cats vs dogs")
    assert len(at.get("page_link")) >= 5
    body = " ".join(texts(at.markdown))
    assert "local folder" in body and "cats, dogs" in body
    assert "No run has been trained yet." in body
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "48 train" in sidebar and "15 validation" in sidebar and "5 test" in sidebar
    assert "Trained runs:** 0" in sidebar
    assert not at.error


def test_home_without_data_offers_download_and_explains_failure():
    # The download runs in the model service, where the tests' network guard refuses it for real.
    at = open_page()
    assert "not on this machine yet" in " ".join(texts(at.info))
    button(at, "Download the dataset").click().run()
    assert not at.exception
    assert any("dataset is not available" in e and "CATDOG_DATA_DIR" in e for e in texts(at.error))
    # The other pages say the same instead of failing.
    at.switch_page("pages/dataset.py").run()
    assert not at.exception
    assert any("CATDOG_DATA_DIR" in e for e in texts(at.error))


# ---------------------------------------------------------------- Dataset


def test_dataset_gallery_has_one_row_per_class_and_balance(data):
    at = open_page("dataset")
    assert gallery_classes(at) == ["cats"] * 3 + ["dogs"] * 3
    assert all(c.endswith(".jpg") for image in at.image for c in image.captions)  # the file, not the class again
    assert "**cats** · 24 training images" in texts(at.markdown)
    first = [url for image in at.image for url in image.value]
    assert "**50%**" in " ".join(texts(at.markdown))
    assert any("as many images of cats and dogs" in m for m in texts(at.markdown))  # a tie, said as one
    assert any("test split stays put" in i for i in texts(at.info))
    assert at.get("plotly_chart")
    button(at, "Show other examples").click().run()
    assert not at.exception
    assert [url for image in at.image for url in image.value] != first


def test_dataset_gallery_three_classes(tmp_path, monkeypatch):
    root = make_dataset(tmp_path / "abc", classes=("a", "b", "c"), n_train=6, n_val=5)
    monkeypatch.setenv("CATDOG_DATA_DIR", str(root))
    at = open_page("dataset")
    assert gallery_classes(at) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    headers = [m for m in texts(at.markdown) if m.startswith("**") and " training images" in m]
    assert [h.split(" · ")[0] for h in headers] == ["**a**", "**b**", "**c**"], headers


# ---------------------------------------------------------------- Augmentation


def test_augmentation_slider_changes_preview_and_training_uses_it(data):
    at = open_page("augmentation")
    before = grid_urls(at)
    # The nine copies travel inside one figure (no media file a quick slider could leave broken).
    assert len(before) == 1 and before[0].startswith("data:image/jpeg;base64,")
    assert len(at.image) == 1  # the original only
    assert "0.2 = up to ±72°" in texts(at.caption)
    at.slider(key="aug_rotation").set_value(0.4).run()
    assert not at.exception
    after = grid_urls(at)
    assert len(after) == 1 and after != before
    assert "0.4 = up to ±144°" in texts(at.caption)
    assert any(m.startswith("In use: **flip both, rotate ±144°**") for m in texts(at.markdown))
    assert at.session_state["augment_settings"] == AugmentSettings(rotation=0.4)
    at.radio(key="aug_flip").set_value("none").run()
    assert at.session_state["augment_settings"].flip == "none"

    at.switch_page("pages/training.py").run()
    at.radio(key="recipe").set_value("augmented").run()
    assert "**Augmentation:** rotate ±144°" in texts(at.markdown)
    # Model 4 with augmentation: new variants in the first epochs, then drawn from (the shown code says so),
    # or new ones in every epoch, as the post, when the box is ticked.
    at.radio(key="recipe").set_value("transfer").run()
    assert any(f"The first {jobs.VARIANTS} epochs make a new variant" in c for c in texts(at.caption))
    assert any("draws from those after" in c.value for c in at.code)
    at.checkbox(key="fresh_variants").check().run()
    assert not at.exception and not any("draws from those after" in c.value for c in at.code)

    at.switch_page("pages/augmentation.py").run()  # the sliders come back as they were left
    assert at.slider(key="aug_rotation").value == pytest.approx(0.4)
    button(at, "Reset to the post's settings").click().run()
    assert at.session_state["augment_settings"] == AugmentSettings()
    assert grid_urls(at) == before


def test_augmentation_upload_bad_then_good(data):
    at = open_page("augmentation")
    at.radio(key="aug_source").set_value("my upload").run()
    at.file_uploader(key="aug_upload").set_value(("notes.png", b"just some text", "image/png")).run()
    assert not at.exception
    assert any(e.startswith("notes.png: ") for e in texts(at.error))
    at.file_uploader(key="aug_upload").set_value(("cat.jpg", photo_bytes(0, 7), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert len(grid_urls(at)) == 1


def test_augmentation_upload_with_a_crafted_name_gets_a_sentence(data):
    # Streamlit's own extension filter raised on such names; the page checks the content instead.
    at = open_page("augmentation")
    at.radio(key="aug_source").set_value("my upload").run()
    at.file_uploader(key="aug_upload").set_value(("..", b"just some text", "image/jpeg")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "not an image" in at.error[0].value
    at.file_uploader(key="aug_upload").set_value(("photo", photo_bytes(0, 7), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert len(grid_urls(at)) == 1


# ---------------------------------------------------------------- Training


def test_training_start_shows_growing_curves_then_result(data):
    at = open_page("training")
    at.session_state["augment_settings"] = NO_AUGMENTATION  # cached features: seconds
    job_id = start_training(at, "transfer", 15)
    assert not at.exception

    seen = []
    def progressed(at):
        seen.append(max(chart_points(at), default=0))
        return seen[-1] > 0 and len(set(seen) - {0}) >= 2

    wait_for(at, progressed)
    wait_for(at, lambda at: at.success)
    job = jobs.get_queue().get(job_id)
    # 48 training images are 2 batches an epoch: 15 epochs would be 30 steps, so it trains 50.
    planned = training.epochs_for_steps(15, 48, 32)
    assert job.state == jobs.DONE and len(job.history) == planned == 50
    assert sorted(set(seen) - {0})[0] < planned  # curves were drawn before the end
    assert f"Saved as run `{job.run_id}`" in at.success[0].value
    assert "too few to judge" in at.success[0].value  # 5 test images
    assert any("15 epochs would be only 30 optimizer steps" in c for c in texts(at.caption))
    assert at.dataframe[0].value["run"].tolist() == [job.run_id]
    assert at.multiselect(key="compare").value == [job.run_id]
    assert len(at.get("plotly_chart")) == 4  # live accuracy + loss, compared accuracy + loss


def test_training_survives_page_switch_and_stops(data):
    at = open_page("training")
    job_id = start_training(at, "baseline", 50)
    wait_for(at, lambda at: jobs.get_queue().get(job_id).state == jobs.RUNNING)

    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert "Training now:** baseline" in " ".join(texts(at.sidebar.markdown))
    other_tab = open_page()  # another session sees it too
    assert "Training now:** baseline" in " ".join(texts(other_tab.sidebar.markdown))
    at.switch_page("pages/training.py").run()
    assert any(m.startswith(f"**Job {job_id}:") for m in texts(at.markdown))
    assert jobs.get_queue().get(job_id).active  # neither stopped nor restarted

    button(at, "Stop").click().run()
    job = jobs.get_queue().wait(job_id, timeout=60)
    assert job.state == jobs.STOPPED
    at.run()
    assert not at.exception
    assert at.warning and ("Stopped" in at.warning[0].value)


# ---------------------------------------------------------------- Classify


def test_classify_trains_quick_model_and_classifies_uploads(data):
    at = open_page("classify")
    assert any("no trained transfer-learning model" in i for i in texts(at.info))
    button(at, "Train a quick model now").click().run()
    assert not at.exception
    wait_for(at, lambda at: at.selectbox(key="classify_run").value if at.selectbox else None, pause=0.5)

    good = ("warm cat.jpg", photo_bytes(0, 7), "image/jpeg")
    bad = ("broken\u202egpj.exe.jpg", b"\xff\xd8\xff" + b"\x00" * 50, "image/jpeg")
    at.file_uploader(key="classify_files").set_value([good, bad]).run()
    assert not at.exception
    assert len(at.error) == 1 and "damaged" in at.error[0].value
    names = texts(at.markdown)
    assert "**brokengpj.exe.jpg**" in names  # the bidi override is stripped from the shown name
    assert any(m.startswith("### cats") for m in names)
    assert [as_read(c) for c in at.image[0].captions] == ["warm cat.jpg"]
    assert len([c for c in at.get("plotly_chart") if "probabilities_" in (c.key or "")]) == 1
    assert any(m.startswith("Finished 50 epochs") for m in texts(at.success))  # 10 asked, small data

    at.radio(key="classify_camera_mode").set_value("snapshot").run()
    at.camera_input(key="classify_photo").set_value(("shot.jpg", photo_bytes(1, 3), "image/jpeg")).run()
    assert not at.exception
    assert any(m.startswith("### dogs") for m in texts(at.markdown))


# ---------------------------------------------------------------- fine-tuning, evaluation, Grad-CAM


def saved_transfer_run(trained_transfer):
    """The session's trained transfer model saved as a run in this test's CATDOG_HOME."""
    from catdog_core import runs

    loaded, result = trained_transfer
    return runs.save_run(result, loaded.describe())


@pytest.mark.long  # 105 s in the suite; fine-tuning itself is tested in test_training (two stages, the marker's epoch)
def test_training_fine_tune_adds_stage_and_marker(data):
    at = open_page("training")
    at.session_state["augment_settings"] = NO_AUGMENTATION
    at.radio(key="recipe").set_value("transfer").run()
    at.number_input(key="epochs").set_value(1)
    at.checkbox(key="fine_tune").check().run()
    assert any("10x lower learning rate" in c for c in texts(at.caption))
    assert at.number_input(key="fine_tune_epochs").value == 10 and at.number_input(key="fine_tune_at").value == 100
    at.number_input(key="fine_tune_epochs").set_value(1)
    button(at, "Start").click().run()
    assert not at.exception
    job_id = session_job_id(at)
    assert jobs.get_queue().get(job_id).spec.fine_tune_epochs == 1
    wait_for(at, lambda at: at.success, pause=0.5)
    job = jobs.get_queue().get(job_id)
    assert job.state == jobs.DONE
    # 1 frozen epoch asked on 2 batches an epoch: the frozen stage trains 50 (100 steps), then 1 fine-tune epoch.
    assert [h["stage"] for h in job.history] == ["frozen"] * 50 + ["fine-tune"]
    assert "Finished 51 epochs" in at.success[0].value
    shapes = [json.loads(c.proto.spec)["layout"].get("shapes", []) for c in at.get("plotly_chart")]
    assert len(shapes) == 4 and all(len(s) == 1 for s in shapes)  # live and compared curves mark the start
    from catdog_core import runs
    assert runs.latest().fine_tune_from_epoch == 50


def test_evaluate_shows_accuracy_confusion_and_mistakes(data, trained_transfer, monkeypatch):
    run = saved_transfer_run(trained_transfer)
    at = open_page("evaluate")
    assert at.selectbox(key="evaluate_run").value == run.run_id
    # 5 drawn test photos, under the 30 below which a percentage says little: a count of the right answers.
    assert at.metric[0].label == "Test accuracy" and at.metric[0].value.endswith(" of 5 right")
    assert [m.label for m in at.metric[1:]] == ["cats recognised", "dogs recognised"]
    charts_ = {c.key: c for c in at.get("plotly_chart")}
    assert set(charts_) == {"evaluate_confusion", "evaluate_reliability"}  # reliability: calibration.py
    assert json.loads(charts_["evaluate_confusion"].proto.spec)["data"][0]["type"] == "heatmap"
    assert "What it got wrong" in texts(at.subheader)
    from catdog_core.service import get_service

    expected = get_service().evaluate(run.run_id, str(data))  # what the page was answered
    if expected.mistakes:
        assert not at.success and len(at.image) == min(len(expected.mistakes), 12)
    else:
        assert [s.value for s in at.success] == [f"No mistakes: all {expected.count} test images were classified correctly."]

    # Mistakes: a gallery worst first, with true and predicted labels and probabilities. The model
    # service's answer gets two mistakes added on the way to the page.
    from dataclasses import replace
    from catdog_core import evaluate
    from catdog_core.service import ModelService

    def with_mistakes(real):
        def answer(*args, **kwargs):
            result = real(*args, **kwargs)
            if result is None:
                return None
            wrong = [evaluate.Mistake(i, f"f{i}.jpg", "cats", "dogs", 3.0 - i, {"cats": 0.1, "dogs": 0.9})
                     for i in range(2)]
            return replace(result, mistakes=wrong)
        return answer

    # The page reads the evaluation the run's job kept on disk, and asks the service when there is none.
    monkeypatch.setattr(ModelService, "evaluate", with_mistakes(ModelService.evaluate))
    monkeypatch.setattr(evaluate, "remembered", with_mistakes(evaluate.remembered))
    at = open_page("evaluate")  # a new session: its page asks the service again
    assert [c for image in at.image for c in image.captions] == ["true: cats · said: dogs"] * 2
    assert any(c.startswith("dogs 90% · cats 10%") for c in texts(at.caption))
    assert not at.exception and not at.error


def test_classify_shows_grad_cam_overlay(data, trained_transfer):
    saved_transfer_run(trained_transfer)
    at = open_page("classify")
    assert at.toggle(key="classify_gradcam").value is True
    files = [("a.jpg", photo_bytes(0, 7), "image/jpeg"), ("b.jpg", photo_bytes(1, 4), "image/jpeg")]
    at.file_uploader(key="classify_files").set_value(files).run()
    assert not at.exception and not at.error
    assert len(at.image) == 4  # the photo and its heatmap, per file
    assert [as_read(c) for image in at.image for c in image.captions][:2] == ["a.jpg", "where it looked for cats"]
    # Grad-CAM by default (instant); occlusion one click away: what the colours mean, and what
    # covering did to this photo.
    assert at.radio(key="classify_view").value == "gradcam"
    assert any("5x5 cells" in c for c in texts(at.caption))
    at.radio(key="classify_view").set_value("occlusion").run()
    assert len(at.image) == 4
    assert any("lowered the model's score" in c and "log-odds" in c for c in texts(at.caption))
    assert sum(c.startswith("Covering its reddest square took cats from") for c in texts(at.caption)) == 1
    at.toggle(key="classify_gradcam").set_value(False).run()
    assert len(at.image) == 2


# ---------------------------------------------------------------- your own classes


def test_own_classes_upload_then_back_to_cats_and_dogs(data):
    at = open_page("dataset")
    at.file_uploader(key="own_classes_zip").set_value(("bad.zip", b"not a zip at all", "application/zip")).run()
    button(at, "Use these classes").click().run()
    assert not at.exception
    assert any("not a zip archive" in e for e in texts(at.error))
    assert "data_source" not in at.session_state

    at.file_uploader(key="own_classes_zip").set_value(("fruit", b"PK but no zip", "application/zip")).run()
    assert not at.exception, at.exception  # no extension: refused by content, not by Streamlit
    button(at, "Use these classes").click().run()
    assert not at.exception and any("not a zip archive" in e for e in texts(at.error))

    at.file_uploader(key="own_classes_zip").set_value(("fruit.zip", zip_of_classes(n=10), "application/zip")).run()
    button(at, "Use these classes").click().run()
    assert not at.exception and not at.error
    source = at.session_state["data_source"]
    assert gallery_classes(at) == ["apples"] * 3 + ["pears"] * 3 + ["plums"] * 3
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "your classes (apples, pears, plums)" in sidebar and "fruit" in sidebar

    at.switch_page("pages/training.py").run()  # jobs train on the chosen classes
    button(at, "Quick transfer").click().run()
    job = jobs.get_queue().get(session_job_id(at))
    jobs.get_queue().stop(job.job_id)
    assert job.spec.data == source

    button(at, "Back to cats and dogs").click().run()
    at.switch_page("pages/dataset.py").run()
    assert not at.exception
    assert "data_source" not in at.session_state
    assert gallery_classes(at) == ["cats"] * 3 + ["dogs"] * 3
    assert "your classes" not in " ".join(texts(at.sidebar.markdown))


# ---------------------------------------------------------------- export and reproducing the post


def test_training_export_offers_keras_download(data, trained_transfer, tmp_path):
    import keras

    from catdog_core.service import get_service

    run = saved_transfer_run(trained_transfer)
    at = open_page("training")
    assert at.selectbox(key="export_run").value == run.run_id
    downloads = [d for d in at.get("download_button") if d.proto.label == "Download .keras"]
    assert len(downloads) == 1  # made when clicked (a deferred download), by the service's keras_file
    (tmp_path / "download.keras").write_bytes(get_service().keras_file(run.run_id))
    whole = keras.models.load_model(tmp_path / "download.keras", compile=False)  # Keras alone, no catdog
    images = trained_transfer[0].validation.images[:4].astype("float32")
    np.testing.assert_allclose(np.asarray(whole(images)), np.asarray(trained_transfer[1].model(images)),
                               rtol=1e-5, atol=1e-5)
    button(at, "Prepare TFLite").click().run()
    assert not at.exception and not at.error
    import zipfile
    packed = zipfile.ZipFile(io.BytesIO(at.session_state[f"_tflite_{run.run_id}"]))
    assert sorted(packed.namelist()) == ["labels.txt", "model.tflite"]
    assert packed.read("labels.txt") == b"cats\ndogs\n"
    assert [d for d in at.get("download_button") if d.proto.label == "Download TFLite zip"]


def test_reproduce_queues_four_jobs_and_compares(data):
    at = open_page("training")
    rows = at.dataframe[-1].value
    assert rows["post val acc"].tolist() == ["58.0%", "60.0%", "74.0%", "97.0%"]
    assert rows["post test acc"].tolist() == ["–", "–", "–", "97.4%"]
    assert "None" not in rows.to_string()  # not measured yet reads "–", not "None"
    assert not any("minute" in m for m in texts(at.markdown))  # nothing trained here yet: no time claimed
    button(at, "Reproduce the post (4 models × 20 epochs)").click().run()
    assert not at.exception
    queue = jobs.get_queue()
    group = at.session_state["job_group"]
    specs = [j.spec for j in queue.group(group)]
    assert [s.recipe for s in specs] == ["baseline", "augmented", "normalized", "transfer"]
    assert {s.label for s in specs} == {jobs.REPRODUCE_LABEL} and {s.epochs for s in specs} == {20}
    # A second press cannot queue the four again: the button is now "Stop reproducing".
    assert not [b for b in at.button if b.label.startswith("Reproduce the post")]
    button(at, "Stop reproducing (all four)").click().run()
    assert not at.exception
    assert not [j for j in queue.group(group) if j.active and not j.stop_requested]


def test_a_panel_waits_for_a_job_about_to_end_and_not_for_one_far_from_it(tmp_path):
    """The job panel redraws every PANEL_SECONDS; a job whose last epoch is done is re-read in the
    same run until it ends (at most END_WAIT), so "Finished" shows as it happens."""
    import threading
    import time

    from catdog_core.jobs.queue import Queue
    from ui import jobpanel as panel

    queue = Queue(tmp_path / "home")
    job_id = queue.submit(jobs.quick_spec())
    queue.claim("0:1", job_id)
    started = time.monotonic()
    assert panel._until_ended(queue, queue.get(job_id)).state == jobs.RUNNING  # nothing timed: no wait
    assert time.monotonic() - started < 0.5
    for epoch in range(1, jobs.QUICK.epochs + 1):
        queue.add_epoch(job_id, {"epoch": epoch, "val_accuracy": 0.9, "seconds": 0.1})
    threading.Timer(0.4, lambda: queue.finish(job_id, jobs.DONE, "Finished", "run-id", 0.9)).start()
    started = time.monotonic()
    ended = panel._until_ended(queue, queue.get(job_id))  # every epoch done: only testing and saving left
    assert ended.state == jobs.DONE and 0.3 < time.monotonic() - started < panel.END_WAIT
    job_id = queue.submit(jobs.quick_spec(), owner="other")
    queue.claim("0:1", job_id)
    for epoch in range(1, jobs.QUICK.epochs + 1):
        queue.add_epoch(job_id, {"epoch": epoch, "val_accuracy": 0.9, "seconds": 0.1})
    started = time.monotonic()
    assert panel._until_ended(queue, queue.get(job_id)).state == jobs.RUNNING  # it never ends: the wait does
    assert panel.END_WAIT <= time.monotonic() - started < panel.END_WAIT + 0.5 < panel.PANEL_SECONDS

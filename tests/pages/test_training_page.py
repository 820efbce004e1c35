"""The Training page through AppTest: curves as epochs finish, a page switch, fine-tuning, the export,
the post's four models, and the job panel's wait at a job's end."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from catdog_core import jobs, training
from catdog_core.augment import NO_AUGMENTATION
from support.pages import data, saved_transfer_run  # noqa: F401  (fixtures)
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import button, chart_points, open_page, session_job_id, start_training, texts, wait_for


def test_training_start_shows_growing_curves_then_result(data):
    at = open_page("training")
    # With the post's augmentation: its first epochs pass each batch through the base, so the run takes
    # long enough for the panel to draw it part-way (on cached features alone 50 tiny epochs could end
    # between two reruns of the page).
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

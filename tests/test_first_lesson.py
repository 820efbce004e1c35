"""A teacher's first lesson (issue 33): what the pages say, through Streamlit's AppTest, on drawn data.

A page opens the way a browser opens it (app.py first, then AppTest.switch_page). Jobs here are put in
the queue and claimed by the test itself where only what a page shows of them matters, so no worker
trains; each test ends its jobs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from catdog_core import jobs
import numpy as np

from conftest import draw_image, open_page, texts


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

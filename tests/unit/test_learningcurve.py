"""How much data is enough? catdog_core.lessons.learningcurve: balanced subsets, points with their intervals,
the cache of points, the job through the queue and its section on the Training page."""

from __future__ import annotations

import json

import numpy as np
import pytest

from catdog_core import charts, dataset, jobs, runs
from catdog_core.lessons import curvefit, learningcurve
from catdog_core.jobs import DONE, JobSpec

from conftest import button, make_dataset, open_page, wait_for

SIZES = (4, 8, 16, 48, 100)  # 100: more than the 48 training photos, skipped


def test_balanced_subsets_are_seeded_nested_and_balanced():
    labels = np.array([0] * 30 + [1] * 12 + [2] * 20)
    for size in (3, 9, 30, 36):
        idx = learningcurve.balanced_subset(labels, size, 3, seed=7)
        assert len(idx) == size and len(set(idx)) == size
        assert np.bincount(labels[idx], minlength=3).tolist() == [size // 3] * 3
    assert np.array_equal(learningcurve.balanced_subset(labels, 9, 3, seed=7),
                          learningcurve.balanced_subset(labels, 9, 3, seed=7))
    assert not np.array_equal(learningcurve.balanced_subset(labels, 9, 3, seed=7),
                              learningcurve.balanced_subset(labels, 9, 3, seed=8))
    small, large = (set(learningcurve.balanced_subset(labels, n, 3, seed=7)) for n in (9, 30))
    assert small <= large  # a larger subset holds the smaller one: one growing set
    # Rounded to a multiple of the classes, none above the smallest class (12 a class), sorted, no repeats.
    assert learningcurve.planned_sizes(labels, 3, "transfer", (50, 7, 9, 8, 36, 37)) == [6, 9, 36]
    assert learningcurve.planned_sizes(np.array([0, 1] * 500), 2, "baseline", learningcurve.SIZES) == [
        20, 50, 100, 200]  # the small CNN only up to BASELINE_MAX


def test_points_in_order_with_intervals_then_from_the_cache(tmp_path, shared_weights, monkeypatch):
    # Photos of this test's own (its own content key): no other test of the run has cached their points.
    data = dataset.load_dataset(make_dataset(tmp_path / "curve_data", seed=43))
    heard, phases = [], []
    points = learningcurve.learning_curve(data, "transfer", SIZES, on_point=heard.append,
                                          progress=lambda d, t, m: phases.append(m))
    assert [p.size for p in points] == [4, 8, 16, 48] and heard == points  # each reported as it finished
    assert not any(p.cached for p in points)  # the first time, every point is trained
    trained = dict.fromkeys(m.split(" photos")[0] for m in phases if m.startswith("Training on "))
    assert list(trained) == [f"Training on {n}" for n in (4, 8, 16, 48)], sorted(set(phases))
    val = len(data.validation)
    for p in points:
        assert p.count == val and 0 <= p.low <= p.accuracy <= p.high <= 1 and p.classes == 2
        assert p.steps >= 100  # a tiny subset still trains MIN_STEPS optimizer steps
    assert points[-1].accuracy >= 0.8  # 48 drawn photos are plenty for the transfer head

    def no_training(*args, **kwargs):
        raise AssertionError("trained although every point is cached")

    monkeypatch.setattr(curvefit, "train_point", no_training)
    monkeypatch.setattr(curvefit, "prepared_features", no_training)
    again = learningcurve.learning_curve(data, "transfer", SIZES)
    assert all(p.cached for p in again)
    assert [(p.size, p.accuracy, p.low, p.high) for p in again] == [(p.size, p.accuracy, p.low, p.high)
                                                                     for p in points]


def test_a_curve_job_streams_points_through_the_queue_and_saves_no_run(synthetic_data, shared_weights):
    spec = learningcurve.curve_spec("transfer", str(synthetic_data), (4, 8, 48))
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec  # kind and sizes survive JSON
    assert "kind" not in jobs.quick_spec().to_dict()  # a training job's spec keeps its form (and queue key)
    queue = jobs.get_queue()
    job_id = jobs.submit(spec, owner="alice")
    job = queue.wait(job_id, timeout=180)
    assert job.state == DONE, (job.phase, job.error)
    assert [h["epoch"] for h in job.history] == [1, 2, 3]
    assert [h["size"] for h in job.history] == [4, 8, 48]
    assert all(h["low"] <= h["accuracy"] <= h["high"] for h in job.history)
    assert job.run_id is None and not runs.list_runs().runs  # points, not a model
    assert job.title == "learning curve (transfer)" and job.eta() is None
    with pytest.raises(Exception, match="local worker"):
        jobs.run_job(spec)  # the Ray backend's path refuses it with a sentence


def test_the_data_curve_chart_has_a_log_axis_and_error_bars():
    rows = [{"size": n, "accuracy": a, "low": a - 0.05, "high": min(1.0, a + 0.03), "count": 1000, "seconds": 1.0}
            for n, a in ((20, 0.8), (200, 0.95), (2000, 0.97))]
    fig = charts.data_curve({"transfer": rows, "<b>x</b>": rows[:1]})
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.tickformat == ".0%"
    first = fig.data[0]
    assert list(first.x) == [20, 200, 2000] and list(first.y) == [0.8, 0.95, 0.97]
    assert np.allclose(first.error_y.arrayminus, [0.05] * 3) and np.allclose(first.error_y.array, [0.03, 0.03, 0.03])
    assert "<b>" not in fig.data[1].name  # a name is shown as typed, never as markup
    assert charts.data_curve({"transfer": rows}, large=True).layout.font.size > fig.layout.font.size
    assert not fig.layout.shapes and charts.data_curve({"transfer": rows}, chance=0.5).layout.shapes[0].y0 == 0.5


def test_the_training_page_starts_a_curve_and_draws_its_points(synthetic_data, shared_weights, monkeypatch):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    at = open_page("training")
    assert any(s.value == "How much data is enough?" for s in at.subheader)
    at.checkbox(key="curve_cnn").uncheck().run()  # the small CNN's minutes are not for a unit test
    button(at, "Start the learning curve").click().run()
    assert not at.exception, at.exception
    ids = at.session_state[learningcurve_key()][""]
    assert len(ids) == 1 and jobs.get_queue().get(ids[0]).spec.kind == "learning_curve"
    wait_for(at, lambda a: any(c.key == "data_curve" for c in a.get("plotly_chart")), timeout=180, pause=1.0)
    chart = next(c for c in at.get("plotly_chart") if c.key == "data_curve")
    trace = json.loads(chart.proto.spec)["data"][0]
    assert trace["x"] == [20] and 0 <= trace["y"][0] <= 1  # the post's smallest size fits 24 photos a class


def learningcurve_key() -> str:
    from ui import datacurve

    return datacurve.CURVE_JOBS_KEY

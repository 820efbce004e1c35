"""Tests for catdog_core.charts: each builder gives a plotly Figure with the expected traces."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from catdog_core import charts


def history(values):
    return [{"epoch": i + 1, "loss": 1 - a, "accuracy": a, "val_loss": 1.1 - v, "val_accuracy": v}
            for i, (a, v) in enumerate(values)]


def test_learning_curves_two_traces_per_run_with_the_history():
    runs = {"baseline": history([(0.5, 0.55), (0.6, 0.58), (0.7, 0.6)]),
            "transfer": history([(0.9, 0.95), (0.95, 0.97)])}
    fig = charts.learning_curves(runs)
    assert isinstance(fig, go.Figure) and len(fig.data) == 4
    for (name, h), (train, val) in zip(runs.items(), zip(fig.data[::2], fig.data[1::2])):
        assert train.name == f"{name} · training" and val.name == f"{name} · validation"
        assert list(train.x) == list(val.x) == [e["epoch"] for e in h]
        assert list(train.y) == [e["accuracy"] for e in h]
        assert list(val.y) == [e["val_accuracy"] for e in h]
        assert train.line.dash == "dash" and val.line.dash is None
        assert train.marker.symbol != val.marker.symbol  # told apart without colour too
        assert train.line.color == val.line.color  # several runs: one colour per run
    assert fig.data[0].line.color != fig.data[2].line.color
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    assert fig.layout.font.size >= 14  # readable on a projector
    assert charts.learning_curves(runs, large=True).layout.font.size > fig.layout.font.size

    one = charts.learning_curves({"baseline": runs["baseline"]})
    assert one.data[0].line.color != one.data[1].line.color  # one run: two colours, two dashes

    loss = charts.learning_curves(runs, metric="loss", title="Loss")
    assert list(loss.data[1].y) == [e["val_loss"] for e in runs["baseline"]]
    assert loss.layout.title.text == "Loss" and loss.layout.yaxis.range is None


def test_an_early_loss_outlier_does_not_flatten_the_other_curves():
    h = history([(0.5, 0.5)] * 8)
    h[0]["loss"] = 24.0  # the baseline's first epoch on raw pixels
    fig = charts.learning_curves({"baseline": h}, metric="loss")
    top = fig.layout.yaxis.range[1]
    assert 0.5 < top < 2.0
    assert any("axis cut" in a.text and "24.0" in a.text for a in fig.layout.annotations)


def test_learning_curves_marker_and_empty():
    fig = charts.learning_curves({"ft": history([(0.8, 0.9)] * 4)}, markers={"ft": 2})
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == 2.5
    assert len(charts.learning_curves({}).data) == 0


def test_label_counts_one_bar_trace_per_split():
    counts = {"train": {"cats": 1000, "dogs": 1000}, "validation": {"cats": 400, "dogs": 400},
              "test": {"cats": 100, "dogs": 100}}
    fig = charts.label_counts(counts)
    assert [t.type for t in fig.data] == ["bar"] * 3
    assert [t.name for t in fig.data] == ["train", "validation", "test"]
    for trace, per_class in zip(fig.data, counts.values()):
        assert list(trace.x) == ["cats", "dogs"] and list(trace.y) == list(per_class.values())
    assert fig.layout.barmode == "group"


@pytest.mark.parametrize("n, cols, rows", [(1, 3, 1), (4, 3, 2), (9, 3, 3), (5, 2, 3)])
def test_image_grid_n_image_traces(n, cols, rows):
    rng = np.random.default_rng(n)
    images = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(n)]
    titles = [f"image {i}" for i in range(n)]
    fig = charts.image_grid(images, titles, cols=cols)
    assert [t.type for t in fig.data] == ["image"] * n
    for trace, image in zip(fig.data, images):
        np.testing.assert_array_equal(np.asarray(trace.z), image)
    assert [a.text for a in fig.layout.annotations] == titles
    assert fig.layout.height == 220 * rows


def test_probabilities_one_bar_with_the_class_names():
    fig = charts.probabilities({"cats": 0.2, "dogs": 0.7, "birds": 0.1})
    assert len(fig.data) == 1 and fig.data[0].type == "bar" and fig.data[0].orientation == "h"
    bar = fig.data[0]
    assert tuple(fig.layout.xaxis.range) == (0, 1) and list(fig.layout.xaxis.tickvals)[-1] == 1  # to 100 %
    assert list(bar.y) == ["birds", "cats", "dogs"]  # highest last: drawn on top
    assert list(bar.x) == [0.1, 0.2, 0.7]
    assert list(bar.text) == ["10.0%", "20.0%", "70.0%"]
    colours = list(bar.marker.color)
    assert colours[2] != colours[0] and colours[0] == colours[1]  # the winner stands out

"""Tests for catdog_core.charts: each builder gives a plotly Figure with the expected traces."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from catdog_core import charts, embedding


def history(values):
    return [{"epoch": i + 1, "loss": 1 - a, "accuracy": a, "val_loss": 1.1 - v, "val_accuracy": v}
            for i, (a, v) in enumerate(values)]


def test_learning_curves_two_traces_per_run_with_the_history():
    runs = {"baseline": history([(0.5, 0.55), (0.6, 0.58), (0.7, 0.6)]),
            "transfer": history([(0.9, 0.95), (0.95, 0.97)])}
    fig = charts.learning_curves(runs)
    assert isinstance(fig, go.Figure) and len(fig.data) == 4
    for (name, h), (train, val) in zip(runs.items(), zip(fig.data[::2], fig.data[1::2])):
        assert list(train.x) == list(val.x) == [e["epoch"] for e in h]
        assert list(train.y) == [e["accuracy"] for e in h]
        assert list(val.y) == [e["val_accuracy"] for e in h]
        assert "training" in train.hovertemplate and "validation" in val.hovertemplate
        assert train.line.dash == "dash" and val.line.dash is None
        assert train.marker.symbol != val.marker.symbol  # told apart without colour too
        assert train.line.color == val.line.color  # several runs: one colour per run
        assert train.legendgroup == val.legendgroup  # a click on the run's entry hides both
    assert [t.name for t in fig.data if t.showlegend is not False] == list(runs)  # one entry a run
    assert "dashed: training" in fig.layout.legend.title.text
    assert fig.data[0].line.color != fig.data[2].line.color
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    assert fig.layout.font.size >= 14  # readable on a projector
    assert charts.learning_curves(runs, large=True).layout.font.size > fig.layout.font.size

    one = charts.learning_curves({"baseline": runs["baseline"]})
    assert one.data[0].line.color != one.data[1].line.color  # one run: two colours, two dashes
    assert [t.name for t in one.data] == ["training", "validation"] and one.layout.legend.title.text == "baseline"

    loss = charts.learning_curves(runs, metric="loss", title="Loss")
    assert list(loss.data[1].y) == [e["val_loss"] for e in runs["baseline"]]
    assert loss.layout.title.text == "Loss" and loss.layout.yaxis.type == "linear"
    low, top = loss.layout.yaxis.range
    assert low == 0 and all(low <= y <= top for t in loss.data for y in t.y)
    assert not loss.layout.annotations  # nothing done that needs saying


def _inside_the_axis(fig) -> bool:
    """Every finite y of every trace lies inside the y axis's range (a log axis's range is in powers of ten)."""
    low, top = fig.layout.yaxis.range
    if fig.layout.yaxis.type == "log":
        low, top = 10 ** low, 10 ** top
    return all(low <= y <= top for trace in fig.data for y in trace.y if y is not None and np.isfinite(y))


def _note(fig) -> str:
    return " ".join(a.text.replace("<br>", " ") for a in fig.layout.annotations if a.name == "note")


def test_every_loss_of_every_run_is_inside_the_chart_on_a_log_axis():
    baseline = history([(0.55, 0.5)] * 10)  # losses 0.45 and 0.6
    baseline[0]["loss"] = 24.1  # the baseline's first epoch on raw pixels
    transfer = [{**e, "loss": 0.2 - 0.015 * i, "val_loss": 0.12 - 0.005 * i} for i, e in enumerate(history([(0.9, 0.95)] * 10))]
    for runs in ({"baseline": baseline}, {"baseline": baseline, "transfer": transfer}):
        fig = charts.learning_curves(runs, metric="loss")
        assert fig.layout.yaxis.type == "log" and _inside_the_axis(fig)  # was: "axis cut at 0.37", baseline outside
        assert "log scale" in fig.layout.yaxis.title.text
        note = _note(fig)
        assert "Log scale" in note and "24.1" in note  # the chart says what it did, with the numbers
        low, top = fig.layout.yaxis.range
        ticks = list(fig.layout.yaxis.tickvals)
        assert 2 <= len(ticks) <= 7 and all(10 ** low <= t <= 10 ** top for t in ticks)
        assert list(fig.layout.yaxis.ticktext) == [f"{t:g}" for t in ticks]  # 0.1, 1, 10: no 10^-1
    # Not flattened: the baseline's later epochs and the transfer run sit well apart on the axis.
    gap = np.log10(0.45) - np.log10(0.2)
    assert gap / (top - low) > 0.1
    flat = charts.learning_curves({"baseline": history([(0.5, 0.5)] * 8)}, metric="loss")
    assert flat.layout.yaxis.type == "linear" and _inside_the_axis(flat)


def noisy(epochs, seed=0):
    rng = np.random.default_rng(seed)
    return [{"epoch": i + 1, "accuracy": float(np.clip(0.6 + 0.003 * i + rng.normal(0, 0.05), 0, 1)),
             "val_accuracy": float(np.clip(0.55 + 0.002 * i + rng.normal(0, 0.08), 0, 1)),
             "loss": float(0.7 * np.exp(-i / 30) + 0.05 + abs(rng.normal(0, 0.05))),
             "val_loss": float(0.6 + 0.003 * i + abs(rng.normal(0, 0.1)))} for i in range(epochs)]


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_a_long_run_is_a_smoothed_line_over_its_faint_raw_line(metric):
    long, short = noisy(100), history([(0.5, 0.5), (0.6, 0.55), (0.7, 0.6)])
    fig = charts.learning_curves({"small data": long, "baseline": short}, metric=metric)
    assert _inside_the_axis(fig)
    for role, key in (("training", metric), ("validation", f"val_{metric}")):
        raw = [e[key] for e in long]
        traces = [t for t in fig.data if t.hovertemplate.startswith(f"small data · {role}")]
        faint, smooth = [t for t in traces if list(t.y) == raw], [t for t in traces if list(t.y) != raw]
        assert len(faint) == 1 and len(smooth) == 1
        faint, smooth = faint[0], smooth[0]
        assert faint.opacity <= 0.4 and faint.showlegend is False and faint.mode == "lines"
        assert smooth.line.width > faint.line.width and smooth.legendgroup == faint.legendgroup
        assert smooth.line.dash == faint.line.dash  # training dashed in both
        zigzag = lambda y: np.abs(np.diff(y)).sum()
        assert zigzag(smooth.y) < zigzag(raw) / 3  # the tangle is gone
        assert abs(np.mean(smooth.y) - np.mean(raw)) < 0.05  # and the level kept
    assert sum(t.hovertemplate.startswith("baseline") for t in fig.data) == 2  # a short run: as it was
    assert "average of 11 epochs" in _note(fig) and "each epoch" in _note(fig)
    assert fig.layout.xaxis.dtick != 1  # no hundred epoch labels side by side


def test_smoothed_averages_the_epochs_around_each():
    assert charts.smoothed([1, 2, 3, 4, 5], 3) == [1.5, 2, 3, 4, 4.5]
    assert charts.smoothed([1, None, 3, float("nan"), 5], 3) == [1, 2, 3, 4, 5]  # gaps skipped
    assert charts.smoothing_window(100) == 11 and charts.smoothing_window(31) == 5


def test_the_chart_text_fits_the_narrowest_column():
    """What the curves chart says about itself is wrapped to the narrowest column it is drawn in
    (one of two at a 1280-pixel page, presenter mode), and the title stays on one line."""
    runs = {"baseline · 1a2b": history([(0.55, 0.5)] * 10), "small data · 9f3c": noisy(100)}
    runs["baseline · 1a2b"][0]["loss"] = 24.1
    for large in (False, True):
        sizes = charts.text_sizes(large)
        fig = charts.learning_curves(runs, "loss", large=large)
        room = charts.CURVES_MIN_WIDTH - fig.layout.margin.l - fig.layout.margin.r
        (note,) = [a for a in fig.layout.annotations if a.name == "note"]
        lines = note.text.split("<br>")
        assert len(lines) >= 2 and all(len(line) * charts.CHAR_WIDTH * sizes.note <= room for line in lines)
        assert fig.layout.margin.t >= 1.2 * (sizes.title + sizes.note * len(lines))  # room over the plot
        assert len(fig.layout.title.text) * charts.CHAR_WIDTH * sizes.title <= charts.CURVES_MIN_WIDTH - 10
        for line in fig.layout.legend.title.text.split("<br>"):
            assert len(line) * charts.CHAR_WIDTH * sizes.body <= charts.CURVES_MIN_WIDTH - 20


def test_wrap_keeps_lines_short_and_cuts_long_names_sensibly():
    text = "after fine-tuning: run transfer-finetuned-with-a-very-long-name · PCA keeps 11%"
    lines = charts.wrap(text, 24)
    assert all(len(line) <= 24 for line in lines) and "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert "transfer-finetuned-with-" in lines  # cut after a hyphen, not mid-word
    assert charts.wrap("x" * 50, 20) == ["x" * 20, "x" * 20, "x" * 10]
    short = charts.wrap("one two three four five six", 9, max_lines=2)
    assert len(short) == 2 and short[-1].endswith("…") and len(short[-1]) <= 9
    assert charts.wrapped_label("<b>cats</b> & dogs", 30) == "&lt;b&gt;cats&lt;/b&gt; &amp; dogs"


def _font_sizes(fig) -> dict:
    """Every text size a figure names: layout, title, axes (ticks, titles), legend, annotations."""
    sizes = {"font": fig.layout.font.size, "legend": fig.layout.legend.font.size}
    if fig.layout.title.text:
        sizes["title"] = fig.layout.title.font.size
    for axis in ("xaxis", "yaxis"):
        sizes[f"{axis} ticks"] = fig.layout[axis].tickfont.size
        sizes[f"{axis} title"] = fig.layout[axis].title.font.size
    for i, a in enumerate(fig.layout.annotations):
        sizes[f"annotation {i}"] = a.font.size
    return sizes


def test_presenter_mode_makes_every_chart_text_larger():
    runs = {"baseline": history([(0.5, 0.55)] * 4), "small": noisy(40)}
    runs["baseline"][0]["loss"] = 24.0
    builders = {
        "accuracy": lambda large: charts.learning_curves(runs, markers={"baseline": 2}, large=large),
        "loss": lambda large: charts.learning_curves(runs, "loss", large=large),
        "counts": lambda large: charts.label_counts({"train": {"cats": 3, "dogs": 4}}, large=large),
        "probabilities": lambda large: charts.probabilities({"cats": 0.8, "dogs": 0.2}, large=large),
        "confusion": lambda large: charts.confusion_matrix([[3, 1], [0, 4]], ["cats", "dogs"], large=large),
        "data curve": lambda large: charts.data_curve(
            {"transfer": [{"size": 20, "accuracy": 0.9, "low": 0.88, "high": 0.92, "count": 785, "seconds": 3.0}]},
            large=large),
    }
    for name, build in builders.items():
        normal, large = _font_sizes(build(False)), _font_sizes(build(True))
        assert normal.keys() == large.keys(), name
        for part in normal:
            # Named, not left to Streamlit's theme (which makes ticks and axis titles small), and larger.
            assert normal[part] is not None and normal[part] >= 12, (name, part)
            assert large[part] >= 1.2 * normal[part], (name, part, normal[part], large[part])
    assert charts.text_sizes(True).body >= 20  # the back row of a classroom


def test_label_counts_one_bar_trace_per_split():
    counts = {"train": {"cats": 1000, "dogs": 1000}, "validation": {"cats": 400, "dogs": 400},
              "test": {"cats": 100, "dogs": 100}}
    fig = charts.label_counts(counts)
    assert [t.type for t in fig.data] == ["bar"] * 3
    assert [t.name for t in fig.data] == ["train", "validation", "test"]
    for trace, per_class in zip(fig.data, counts.values()):
        assert list(trace.x) == ["cats", "dogs"] and list(trace.y) == list(per_class.values())
    assert fig.layout.barmode == "group"


def test_picture_sheet_carries_the_nine_copies_inside_the_figure():
    import base64
    import io

    from PIL import Image

    images = [np.full((20, 30, 3), 25 * i, np.uint8) for i in range(9)]
    picture = charts.sheet(images, cols=3, gap=4)
    assert picture.shape == (3 * 20 + 2 * 4, 3 * 30 + 2 * 4, 3)
    assert (picture[0, 0] == 0).all() and (picture[24, 34] == 100).all() and (picture[20, 0] == 255).all()
    fig = charts.picture_sheet(images)
    assert [t.type for t in fig.data] == ["image"] and fig.data[0].z is None  # no array of numbers to send
    source = fig.data[0].source
    assert source.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    assert decoded.size == (3 * 30 + 2 * 6, 3 * 20 + 2 * 6)


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


def _maps(titles, wrong=(True, False)):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    files = [f"<i>{i}</i>.jpg" for i in range(20)]
    return [embedding.EmbeddingMap(t, rng.normal(size=(20, 2)).astype(np.float32), labels, files,
                                   ("cats <b>", "dogs"), (rng.random(20) < 0.3) if w else None, 0.23)
            for t, w in zip(titles, wrong)]


@pytest.mark.parametrize("titles", [
    ["before fine-tuning: MobileNetV2 (ImageNet) features",
     "after fine-tuning: run " + "transfer-finetuned-" * 4 + "x" * 20],  # a long name typed by a student
    ["small CNN (model 1, run baseline · 2024-05-01 10:22): last hidden layer",
     "MobileNetV2 (ImageNet) features, for comparison"],
])
def test_the_embedding_map_titles_never_meet_nor_leave_the_figure(titles):
    """Issue 19.4: at the page widths (the main column is 796 to 940 pixels at 1280 and 1400, normal
    and presenter mode) each map's title stays over its own map, inside the figure."""
    fig = embedding.figure(_maps(titles))
    big = embedding.for_presenter(fig)
    for shown, large in ((fig, False), (big, True)):
        size = charts.text_sizes(large).subtitle
        left, right = shown.layout.margin.l, shown.layout.margin.r
        heads = [a for a in shown.layout.annotations if a.name != "note"]
        assert len(heads) == 2 and all(a.font.size == size for a in heads)
        for width in (796, 820, 916, 940):
            plot = width - left - right
            spans = []
            for a, axis in zip(heads, ("xaxis", "xaxis2")):
                centre = left + plot * sum(shown.layout[axis].domain) / 2
                half = max(len(line) for line in a.text.split("<br>")) * charts.CHAR_WIDTH * size / 2
                spans.append((centre - half, centre + half))
            assert 0 <= spans[0][0] and spans[0][1] + 10 <= spans[1][0] and spans[1][1] <= width, (width, spans)
        lines = max(a.text.count("<br>") + 1 for a in heads)
        assert lines >= 2 and shown.layout.margin.t >= 1.2 * size * lines  # the wrapped titles fit on top
        texts = [a.text for a in heads] + [t.name + t.hovertemplate for t in shown.data]
        assert not any("<b>" in t for t in texts)  # user text shown literally
        assert not any("<i>" in f for t in shown.data for f, _ in t.customdata)
    assert big.layout.font.size > fig.layout.font.size and big.layout.legend.font.size > fig.layout.legend.font.size
    assert fig.layout.annotations[0].font.size == charts.text_sizes(False).subtitle  # the shared one unchanged


def test_the_embedding_map_legend_names_each_class_once():
    fig = embedding.figure(_maps(["a", "b"], wrong=(True, True)))
    shown = [t.name for t in fig.data if t.showlegend is not False]
    assert sorted(shown) == sorted(set(shown)) == sorted(["cats &lt;b&gt;", "cats &lt;b&gt; · model wrong",
                                                          "dogs", "dogs · model wrong"])
    assert len(fig.data) > len(shown)  # the second map's traces are there, without entries of their own
    assert {t.legendgroup for t in fig.data} == {t.legendgroup for t in fig.data if t.showlegend is not False}


def test_a_loss_chart_keeps_one_scale_from_the_first_epoch():
    """A small CNN's loss chart was linear (0 to 24, validation flat at 0) while it trained, and turned
    logarithmic once it had a few epochs; so did the quick transfer's after its first. Each keeps the
    scale of its first epoch; a run whose losses stay close stays linear throughout."""
    def run(first, later, epochs):
        rows = history([(0.6, 0.6)] * epochs)
        return [{**e, "loss": first[0] if i == 0 else later[0] - 0.01 * i,
                 "val_loss": first[1] if i == 0 else later[1] - 0.01 * i} for i, e in enumerate(rows)]

    cases = {"log": [run((24.1, 0.69), (0.68, 0.69), 6),  # the small CNN on raw pixels
                     run((1.16, 0.30), (0.42, 0.22), 10)],  # the quick transfer head
             "linear": [run((0.30, 0.20), (0.25, 0.18), 10), run((0.70, 0.69), (0.69, 0.68), 6)]}
    for expected, histories in cases.items():
        for losses in histories:
            for epochs in range(1, len(losses) + 1):
                drawn = charts.learning_curves({"run": losses[:epochs]}, "loss").layout.yaxis.type
                assert drawn == expected, (losses[0], epochs, drawn)

"""Plotly figures: learning curves, label counts, image grids, probabilities, confusion matrices;
and what they share: type sizes for normal and presenter mode, user text escaped and wrapped to fit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")


FONT = 15  # readable from the back of a classroom
NO_TOOLBAR = {"displayModeBar": False}  # plotly_chart(config=...): its toolbar sat over titles and bars
_TRAIN_COLOUR, _VAL_COLOUR = "#4C78A8", "#F58518"

SMOOTH_AFTER = 30  # epochs: longer runs (small data, 100 epochs) zig-zag, so their average is drawn
# The narrowest a learning curve is drawn: one of two columns at a 1280-pixel page in presenter mode (389).
CURVES_MIN_WIDTH = 380
CHAR_WIDTH = 0.55  # a character's width in ems, generous: Streamlit's Source Sans averages 0.45, Open Sans 0.52


@dataclass(frozen=True)
class TextSizes:
    """Font sizes in pixels: `body` for ticks, axis titles and legends."""
    body: int
    title: int
    subtitle: int  # the title over each small chart of a grid
    note: int  # what the chart says about itself (a log axis, smoothed lines)


NORMAL_TEXT = TextSizes(body=FONT, title=FONT + 3, subtitle=FONT + 1, note=FONT - 2)
PRESENTER_TEXT = TextSizes(body=FONT + 6, title=FONT + 8, subtitle=FONT + 6, note=FONT + 3)


def text_sizes(large: bool = False) -> TextSizes:
    """The type sizes of every chart; `large` for presenter mode (about a third bigger)."""
    return PRESENTER_TEXT if large else NORMAL_TEXT


def sized_text(fig: go.Figure, sizes: TextSizes) -> go.Figure:
    """Ticks, axis titles, legend and hover text at `sizes.body`, named on the figure itself:
    Streamlit's chart theme gives what a figure leaves unnamed its own small sizes."""
    axis = dict(tickfont=dict(size=sizes.body), title=dict(font=dict(size=sizes.body)))
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    fig.update_layout(font=dict(size=sizes.body), hoverlabel=dict(font=dict(size=sizes.body)),
                      legend=dict(font=dict(size=sizes.body), title=dict(font=dict(size=sizes.body))))
    return fig


def label(text) -> str:
    """A user's name (class, run, file) as Plotly shows it literally: Plotly reads a subset of HTML
    in every label (<a href>, <img>-less tags, <br>, <span style>), so its markup characters are
    written as entities, which it shows as the characters typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fits(width_px: float, font_px: float) -> int:
    """How many characters of a font size fit in a width, counting generously."""
    return max(8, int(width_px / (CHAR_WIDTH * font_px)))


def wrap(text, chars: int, max_lines: int = 4) -> list[str]:
    """Plain text broken into lines of at most `chars` characters, at spaces where it can be (a
    word longer than a line is cut); beyond `max_lines` the last line ends in an ellipsis."""
    lines: list[str] = []
    line = ""
    for word in str(text).split():
        while len(word) > chars:  # a long name with no spaces (a file, a run) is cut, after a - _ . / if it has one
            if line:
                lines.append(line)
                line = ""
            cut = max(word.rfind(mark, 0, chars) for mark in "-_./") + 1
            cut = cut if cut > chars // 3 else chars
            lines.append(word[:cut])
            word = word[cut:]
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line or not lines:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:chars - 1].rstrip() + "…"
    return lines


def wrapped_label(text, chars: int, max_lines: int = 4) -> str:
    """`wrap` then `label`: a user's text as Plotly shows it literally, on lines that fit."""
    return "<br>".join(label(line) for line in wrap(text, chars, max_lines))


def line_count(text: str | None) -> int:
    return str(text or "").count("<br>") + 1


def smoothed(values: Sequence[float | None], window: int) -> list[float | None]:
    """Each value as the mean of the `window` values around it (fewer at the two ends), gaps skipped."""
    half = window // 2
    out: list[float | None] = []
    for i in range(len(values)):
        near = [v for v in values[max(0, i - half):i + half + 1] if v is not None and math.isfinite(v)]
        out.append(sum(near) / len(near) if near else None)
    return out


def smoothing_window(epochs: int) -> int:
    """An odd number of epochs to average over: about a tenth of the run, at least 5."""
    return max(5, epochs // 10) | 1


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _loss_axis(values: Sequence[float], openings: Sequence[Sequence[float]] = ()) -> tuple[str, list[float], str | None]:
    """(axis type, range, note): an axis that shows every loss. A log axis when a run's first epoch
    already spans more than 3x (the small CNN's training loss of 24 beside its validation 0.7; a
    transfer head's 1.2 beside 0.3), or the whole chart more than 20x (a transfer run's 0.02s beside a
    baseline's 0.69s); the note says so in plain words. `openings`: each run's first-epoch losses.
    Decided by the first epoch, a chart drawn while a run trains keeps the scale it ends with."""
    finite = sorted(_finite(values))
    if not finite:
        return "linear", [0, 1], None
    low, top = finite[0], finite[-1]
    opened_wide = any(len(f) > 1 and min(f) > 0 and max(f) > 3 * min(f) for f in map(_finite, openings))
    if low > 0 and (opened_wide or top > 20 * low):
        lo, hi = math.log10(low), math.log10(top)
        pad = max(0.04, 0.05 * (hi - lo))
        note = f"Log scale, so every point fits: loss from {low:.2g} to {top:.3g}."
        return "log", [lo - pad, hi + pad], note
    return "linear", [min(0.0, low), (top * 1.06 if top > 0 else 1.0)], None


def _log_ticks(span: Sequence[float]) -> list[float]:
    """Round numbers for a log axis (its range in powers of ten): the finest of 1-2-5, 1-3 or
    powers of ten that gives at most seven."""
    lo, hi = 10 ** span[0], 10 ** span[1]
    ticks: list[float] = []
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [float(f"{m * 10.0 ** e:.12g}") for e in range(math.floor(span[0]) - 1, math.ceil(span[1]) + 1)
                 for m in steps if lo <= m * 10.0 ** e <= hi]
        if len(ticks) <= 7:
            break
    return ticks


def _epoch_step(epochs: int, sizes: TextSizes, width: int) -> int | None:
    """A tick every 1, 2 or 5 epochs when the labels fit side by side in `width`; None: plotly's choice
    (its own steps are round numbers too once a run is long)."""
    label_px = CHAR_WIDTH * sizes.body * len(str(max(epochs, 1))) + 12
    for step in (1, 2, 5):
        if epochs and epochs / step * label_px <= width:
            return step
    return None


def _legend_height(names: Sequence[str], sizes: TextSizes, width: int, title_lines: int) -> int:
    """The pixels a horizontal legend of these names takes at `width` (rows packed left to right)."""
    rows, used = 1, 0.0
    for name in names:
        entry = 50 + CHAR_WIDTH * sizes.body * len(name)  # the line sample, the gaps, the text
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return int((rows + title_lines) * 1.5 * sizes.body) + 8


def _title_and_notes(fig: go.Figure, title: str, notes: Sequence[str], sizes: TextSizes,
                     width: int, left: int, right: int) -> int:
    """The title at the top (one line: titles here are short), the notes under it over the plot,
    wrapped to fit `width` pixels; returns the top margin they take."""
    fig.update_layout(title=dict(text=title, x=0, xref="container", xanchor="left", y=1, yref="container",
                                 yanchor="top", pad=dict(l=10, t=10), font=dict(size=sizes.title)))
    top = 14 + int(1.4 * sizes.title)
    if notes:
        chars = fits(width - left - right, sizes.note)
        text = "<br>".join(line for note in notes for line in wrap(note, chars, 4))
        fig.add_annotation(text=text, name="note", xref="paper", yref="paper", x=0, y=1, xanchor="left",
                           yanchor="bottom", align="left", showarrow=False, yshift=6,
                           font=dict(size=sizes.note, color="#555"))
        top += int(1.3 * sizes.note * line_count(text)) + 10
    return top


def learning_curves(histories: Mapping[str, Sequence[dict]], metric: str = "accuracy",
                    title: str | None = None, markers: Mapping[str, int] | None = None,
                    large: bool = False) -> go.Figure:
    """Training vs validation per epoch, the legend below.

    One run: training and validation in two colours and two dash styles (dashed, solid).
    Several runs: one colour per run, training dashed, validation solid, one legend entry per
    run. Every point of every run is inside the chart: a loss axis turns logarithmic when a
    linear one would squash most runs. A run longer than SMOOTH_AFTER epochs is drawn as the
    average of the epochs around each (thick) over every epoch (faint). The chart says what it
    did, over the plot. `markers` maps a run name to the epoch after which a vertical line is
    drawn (where fine-tuning starts). `large`: bigger type and chart, for presenter mode.
    """
    sizes = text_sizes(large)
    fig = go.Figure()
    single = len(histories) == 1
    everything: list[float] = []
    longest = max((len(h) for h in histories.values()), default=0)
    window = smoothing_window(longest)
    smoothed_any = False
    value = "%{y:.1%}" if metric == "accuracy" else "%{y:.3f}"
    for i, (name, history) in enumerate(histories.items()):
        colour = PALETTE[i % len(PALETTE)]
        epochs = [h["epoch"] for h in history]
        long = len(history) > SMOOTH_AFTER
        smoothed_any |= long
        for role, key, dash, symbol, size in (("training", metric, "dash", "circle", 8),
                                              ("validation", f"val_{metric}", None, "diamond", 9)):
            y = [h.get(key) for h in history]
            everything += _finite(y)
            line_colour = (_TRAIN_COLOUR if role == "training" else _VAL_COLOUR) if single else colour
            what = f"{label(name)} · {role}"
            # One legend entry a run (its solid validation line); one run: training and validation.
            legend = dict(name=role if single else (label(name) if role == "validation" else what),
                          legendgroup=what if single else label(name),
                          showlegend=single or role == "validation")
            if long:  # every epoch faint, under the average of the epochs around it
                fig.add_scatter(x=epochs, y=y, mode="lines", opacity=0.3, **dict(legend, showlegend=False),
                                line=dict(color=line_colour, width=1.5, dash=dash),
                                hovertemplate=f"{what}, epoch %{{x}}: {value}<extra></extra>")
                fig.add_scatter(x=epochs, y=smoothed(y, window), mode="lines", **legend,
                                line=dict(color=line_colour, dash=dash, width=3.5),
                                hovertemplate=f"{what}, epochs around %{{x}}: {value} on average<extra></extra>")
            else:
                fig.add_scatter(x=epochs, y=y, mode="lines+markers", **legend,
                                line=dict(color=line_colour, dash=dash, width=3),
                                marker=dict(symbol=symbol, size=size + (3 if large else 0)),
                                hovertemplate=f"{what}, epoch %{{x}}: {value}<extra></extra>")
        if markers and name in markers:
            # Where the curves are not: accuracy climbs to the top, a loss falls to the bottom.
            fig.add_vline(x=markers[name] + 0.5, line_dash="dot", line_color=colour,
                          annotation_text="fine-tuning starts", annotation_font_size=sizes.note,
                          annotation_position="bottom right" if metric == "accuracy" else "top right")
    notes = []
    axis_title = metric
    if metric == "accuracy":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:
        openings = [[h[0].get(metric), h[0].get(f"val_{metric}")] for h in histories.values() if h]
        kind, span, note = _loss_axis(everything, openings)
        fig.update_yaxes(type=kind, range=span)
        if kind == "log":
            ticks = _log_ticks(span)
            fig.update_yaxes(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
            axis_title = f"{metric} (log scale)"
            notes.append(note)
    if smoothed_any:
        notes.append(f"Thick lines: the average of {window} epochs; faint: each epoch.")
    left, right = (80 if large else 62), 10
    top = _title_and_notes(fig, title or f"Training vs validation {metric}", notes, sizes,
                           CURVES_MIN_WIDTH, left, right)
    room = fits(CURVES_MIN_WIDTH - 20, sizes.body)
    key = "dashed: training, solid: validation"
    legend_title = (wrapped_label(next(iter(histories)), room, 2) if single
                    else key if len(key) <= room else key.replace(", ", "<br>"))
    names = [t.name for t in fig.data if t.showlegend is not False]
    legend_px = _legend_height(names, sizes, CURVES_MIN_WIDTH - 20, line_count(legend_title)) if names else 0
    plot_px, axis_px = (340 if large else 260), int(3.6 * sizes.body)
    fig.update_layout(xaxis_title="epoch", yaxis_title=axis_title, height=top + plot_px + axis_px + legend_px,
                      margin=dict(t=top, b=axis_px, l=left, r=right),
                      legend=dict(orientation="h", x=0, xanchor="left", yanchor="top", y=-axis_px / plot_px,
                                  title=dict(text=legend_title, side="top")))
    fig.update_xaxes(dtick=_epoch_step(longest, sizes, CURVES_MIN_WIDTH - left - right))
    return sized_text(fig, sizes)


def label_counts(counts: Mapping[str, Mapping[str, int]], large: bool = False) -> go.Figure:
    """Grouped bars: images per class in each split."""
    sizes = text_sizes(large)
    fig = go.Figure()
    for i, (split, per_class) in enumerate(counts.items()):
        fig.add_bar(x=[label(c) for c in per_class], y=list(per_class.values()), name=label(split),
                    marker_color=PALETTE[i % len(PALETTE)], text=list(per_class.values()),
                    textposition="outside", cliponaxis=False, constraintext="none",
                    textfont=dict(size=sizes.body - 1))
    fig.update_layout(barmode="group", title=dict(text="Images per class and split", font=dict(size=sizes.title)),
                      xaxis_title="class", yaxis_title="images", height=440 if large else 360,
                      margin=dict(t=60 if large else 50, b=40, l=70 if large else 50, r=10))
    return sized_text(fig, sizes)


def sheet(images: Sequence[np.ndarray], cols: int = 3, gap: int = 6) -> np.ndarray:
    """Same-sized (H, W, 3) uint8 images as one picture, `cols` to a row, `gap` white pixels between."""
    height, width = np.asarray(images[0]).shape[:2]
    rows = max(1, -(-len(images) // cols))
    out = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        top, left = (i // cols) * (height + gap), (i % cols) * (width + gap)
        out[top:top + height, left:left + width] = np.asarray(image, np.uint8)[..., :3]
    return out


def picture_sheet(images: Sequence[np.ndarray], cols: int = 3, height: int = 380) -> go.Figure:
    """Images in a grid drawn as ONE picture carried inside the figure (a JPEG data URI, plotly's
    Image `source`): the browser fetches nothing, so a superseded script run cannot leave broken
    image links behind, as separate st.image files can while a slider moves. No hover, no zoom."""
    import base64
    import io

    from PIL import Image

    picture = sheet(images, cols)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    fig = go.Figure(go.Image(source=uri, hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[-0.5, picture.shape[1] - 0.5], fixedrange=True)
    fig.update_yaxes(visible=False, range=[picture.shape[0] - 0.5, -0.5], fixedrange=True,
                     scaleanchor="x", constrain="domain")
    fig.update_layout(height=height, margin=dict(t=0, b=0, l=0, r=0), dragmode=False,
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


def probabilities(probs: Mapping[str, float], large: bool = False) -> go.Figure:
    """Horizontal bars, one per class, highest on top, on an axis from 0 to 100 %.

    Show it with config=NO_TOOLBAR: plotly's toolbar would sit over the bars."""
    sizes = text_sizes(large)
    items = sorted(probs.items(), key=lambda kv: kv[1])
    top = max(probs.values()) if probs else 0
    fig = go.Figure(go.Bar(x=[p for _, p in items], y=[label(n) for n, _ in items], orientation="h",
                           text=[f"{p:.1%}" for _, p in items],
                           textposition=["inside" if p > 0.25 else "outside" for _, p in items],
                           cliponaxis=False, textfont=dict(size=sizes.body),
                           marker_color=[PALETTE[0] if p == top else "#BBBBBB" for _, p in items]))
    fig.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1]),
                      height=(90 if large else 70) + (46 if large else 32) * len(items),
                      margin=dict(t=10, b=10, l=10, r=50 if large else 40))
    return sized_text(fig, sizes)


def confusion_matrix(matrix, class_names: Sequence[str], title: str = "Confusion matrix",
                     large: bool = False) -> go.Figure:
    """Counts per (true, predicted) pair: the diagonal is right, everything else a mistake."""
    sizes = text_sizes(large)
    counts = np.asarray(matrix, dtype=int)
    names = [label(n) for n in class_names]
    row_totals = counts.sum(axis=1, keepdims=True)
    # Colour by share of the true class, so a small class's mistakes show as clearly as a large one's.
    share = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    fig = go.Figure(go.Heatmap(
        z=share, x=names, y=names, text=counts, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        textfont=dict(size=sizes.body + 2),
        colorbar=dict(title=dict(text="share of row", font=dict(size=sizes.body)), tickformat=".0%",
                      tickfont=dict(size=sizes.body)),
        hovertemplate="true %{y}, predicted %{x}: %{text} images (%{z:.0%} of %{y})<extra></extra>"))
    fig.update_layout(title=dict(text=title, font=dict(size=sizes.title)), xaxis_title="predicted",
                      yaxis_title="true", height=(170 if large else 140) + (62 if large else 50) * len(names),
                      margin=dict(t=60 if large else 50, b=40, l=70 if large else 60, r=10))
    fig.update_xaxes(side="bottom", type="category")
    fig.update_yaxes(autorange="reversed", type="category")  # first class on top, as the matrix is printed
    return sized_text(fig, sizes)


RECIPE_NAMES = {"transfer": "transfer head (MobileNetV2 features)", "baseline": "small CNN (raw pixels)"}


def data_curve(points: Mapping[str, Sequence[Mapping]], large: bool = False,
               title: str = "How much data is enough?", chance: float | None = None) -> go.Figure:
    """A learning curve over the data: validation accuracy against the photos trained on (log
    axis), one line per recipe, error bars from each accuracy's 95 % interval (`low`, `high`).
    `points` maps a recipe to its points (dicts with size, accuracy, low, high, count, seconds);
    `chance`: the accuracy of a guess (1 / classes), drawn as a dotted line."""
    sizes = text_sizes(large)
    fig = go.Figure()
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dot", line_color="#888", annotation_text="a guess",
                      annotation_position="bottom right", annotation_font_size=sizes.note)
    everything: list[float] = []
    for i, (recipe, rows) in enumerate(points.items()):
        rows = sorted(rows, key=lambda r: r["size"])
        x = [r["size"] for r in rows]
        everything += x
        y = [r["accuracy"] for r in rows]
        name = label(RECIPE_NAMES.get(recipe, recipe))
        fig.add_scatter(
            x=x, y=y, mode="lines+markers", name=name,
            line=dict(color=PALETTE[i % len(PALETTE)], width=3), marker=dict(size=10 + (3 if large else 0)),
            error_y=dict(type="data", symmetric=False, array=[r["high"] - r["accuracy"] for r in rows],
                         arrayminus=[r["accuracy"] - r["low"] for r in rows], thickness=2, width=6),
            customdata=[[r["low"], r["high"], r.get("count", 0), r.get("seconds", 0.0)] for r in rows],
            hovertemplate=(f"{name}<br>%{{x}} photos: %{{y:.1%}} (95 % interval %{{customdata[0]:.0%}}"
                           "-%{customdata[1]:.0%}, %{customdata[2]} validation photos)<br>"
                           "%{customdata[3]:.1f} s<extra></extra>"))
    lo, hi = (min(everything), max(everything)) if everything else (10, 2000)
    span = [math.log10(max(lo, 1)) - 0.12, math.log10(max(hi, 1)) + 0.12]
    ticks = _log_ticks(span)
    left, right = (80 if large else 62), 10
    top = _title_and_notes(fig, title, ["Bars: the 95 % interval of each accuracy on the validation photos."],
                           sizes, 2 * CURVES_MIN_WIDTH, left, right)  # a chart the page's whole width
    plot_px, axis_px = (380 if large else 300), int(3.6 * sizes.body)
    names = [t.name for t in fig.data]
    legend_px = _legend_height(names, sizes, CURVES_MIN_WIDTH - 20, 0) if names else 0
    fig.update_xaxes(type="log", range=span, tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                     title="photos used for training (log scale)")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title="validation accuracy")
    fig.update_layout(height=top + plot_px + axis_px + legend_px, margin=dict(t=top, b=axis_px, l=left, r=right),
                      legend=dict(orientation="h", x=0, xanchor="left", yanchor="top", y=-axis_px / plot_px))
    return sized_text(fig, sizes)


def augment_sweep(points: Sequence[Mapping], setting: str, current=None, large: bool = False) -> go.Figure:
    """A sweep of one augmentation setting: the head's validation accuracy with augmentation at
    each value (mean over the seeds, bars: their spread) against the setting, the accuracy without
    augmentation as a band, and the value in use now marked. `points`: augcheck summaries with a
    `value` each (CheckResult.summary() plus value)."""
    sizes = text_sizes(large)
    rows = list(points)
    categorical = setting == "flip"
    if not categorical:
        rows.sort(key=lambda r: r["value"])
    x = [r["value"] for r in rows]
    fig = go.Figure()
    if rows:
        base, band = rows[0]["without_mean"], rows[0]["without_spread"]
        fig.add_hrect(y0=base - band, y1=base + band, fillcolor="#888", opacity=0.15, line_width=0)
        fig.add_hline(y=base, line_dash="dot", line_color="#666", annotation_text="without augmentation",
                      annotation_position="top left", annotation_font_size=sizes.note)
    fig.add_scatter(x=x, y=[r["with_mean"] for r in rows], mode="lines+markers", name="with augmentation",
                    line=dict(color=PALETTE[0], width=3), marker=dict(size=10 + (3 if large else 0)),
                    error_y=dict(type="data", array=[r["with_spread"] for r in rows], thickness=2, width=6),
                    customdata=[[r["with_spread"], r["seeds"], r["validation"]] for r in rows],
                    hovertemplate=(f"{setting} %{{x}}: %{{y:.1%}} ± %{{customdata[0]:.1%}} "
                                   "(%{customdata[1]} seeds, %{customdata[2]} validation photos)<extra></extra>"))
    if current is not None and (not categorical or current in x):  # a category is placed by its index
        fig.add_vline(x=x.index(current) if categorical else current, line_dash="dash", line_color=PALETTE[1],
                      annotation_text="now", annotation_font_size=sizes.note)
    values = [r["with_mean"] - r["with_spread"] for r in rows] + [r["without_mean"] - r["without_spread"] for r in rows]
    low = max(0.0, min(values, default=0.5) - 0.02)
    left, right = (80 if large else 62), 10
    top = _title_and_notes(fig, f"Augmentation sweep: {setting}",
                           [f"Bars and band: the spread over the seeds (each point: the quick head trained "
                            f"{rows[0]['seeds'] if rows else 0} times)."], sizes, 2 * CURVES_MIN_WIDTH, left, right)
    plot_px, axis_px = (380 if large else 300), int(3.6 * sizes.body)
    fig.update_xaxes(title=setting + ("" if categorical else " (the slider's value)"),
                     type="category" if categorical else "linear")
    fig.update_yaxes(range=[low, 1.0], tickformat=".0%", title="validation accuracy")
    fig.update_layout(height=top + plot_px + axis_px, margin=dict(t=top, b=axis_px, l=left, r=right),
                      showlegend=False)
    return sized_text(fig, sizes)


def reliability(before, after=None, large: bool = False) -> go.Figure:
    """A reliability diagram (calibration.Reliability): in each bin of the model's confidence, the
    share it got right (bars, their count on hover) against the diagonal of a model whose
    confidence comes true; `after` (with the fitted temperature) as a second set of markers."""
    sizes = text_sizes(large)
    fig = go.Figure()
    low = before.edges[0]
    fig.add_scatter(x=[low, 1], y=[low, 1], mode="lines", name="confidence that comes true",
                    line=dict(color="#888", dash="dot"), hoverinfo="skip")
    centres = [(a + b) / 2 for a, b in zip(before.edges[:-1], before.edges[1:])]
    width = (before.edges[1] - before.edges[0]) * 0.9
    few = 10  # a bin of fewer photos is drawn faint: its share right is mostly chance
    fig.add_bar(x=centres, y=[a if a is not None else 0 for a in before.accuracy], width=width,
                name=f"as it is (error {before.ece:.1%})",
                marker=dict(color=PALETTE[0], opacity=[0.85 if n >= few else 0.3 for n in before.counts]),
                text=[str(n) if n else "" for n in before.counts], textposition="outside",
                textfont=dict(size=sizes.note), cliponaxis=False,
                customdata=[[n, c if c is not None else 0] for n, c in zip(before.counts, before.confidence)],
                hovertemplate="%{customdata[0]} photos, said %{customdata[1]:.1%} on average: "
                              "right %{y:.1%}<extra></extra>")
    if after is not None:
        fig.add_scatter(x=[c for c, a in zip(after.confidence, after.accuracy) if c is not None],
                        y=[a for a in after.accuracy if a is not None], mode="markers",
                        name=f"with temperature (error {after.ece:.1%})",
                        marker=dict(color=PALETTE[1], size=11 + (3 if large else 0), symbol="diamond"),
                        hovertemplate="said %{x:.1%}: right %{y:.1%}<extra></extra>")
    left, right = (80 if large else 62), 10
    top = _title_and_notes(fig, "Does its confidence come true?",
                           # Short: in presenter mode's half-width column four lines hold no more
                           [f"Bars: share right per bin, photos counted above (faint: under {few}). "
                            "Dotted: right as often as it says."],
                           sizes, CURVES_MIN_WIDTH, left, right)
    plot_px, axis_px = (380 if large else 300), int(3.6 * sizes.body)
    legend_px = 3 * sizes.body + 12
    fig.update_xaxes(title="confidence (top probability)", range=[low, 1.0], tickformat=".0%")
    fig.update_yaxes(title="share right", range=[0, 1.1], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1])
    fig.update_layout(height=top + plot_px + axis_px + legend_px, margin=dict(t=top, b=axis_px + legend_px,
                                                                               l=left, r=right),
                      legend=dict(orientation="h", yanchor="top", y=-0.22, x=0), bargap=0.05)
    return sized_text(fig, sizes)

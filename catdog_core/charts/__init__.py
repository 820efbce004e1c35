"""Plotly figures: label counts, image grids, probabilities, confusion matrices, the curve over
the data, augmentation sweeps, reliability. The learning curve over epochs lives in charts.epochcurves
and what every figure shares in charts.style; both are named here too, so callers need one import."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .style import (CHAR_WIDTH, CURVES_MIN_WIDTH, FONT, NO_TOOLBAR, NORMAL_TEXT, PALETTE, PRESENTER_TEXT,
                    TextSizes, fits, label, legend_height, line_count, log_ticks, sized_text, text_sizes,
                    title_and_notes, wrap, wrapped_label)
from .epochcurves import SMOOTH_AFTER, learning_curves, smoothed, smoothing_window

__all__ = [
    # what every figure shares (charts.style)
    "CHAR_WIDTH", "CURVES_MIN_WIDTH", "FONT", "NO_TOOLBAR", "NORMAL_TEXT", "PALETTE", "PRESENTER_TEXT", "TextSizes",
    "fits", "label", "line_count", "sized_text", "text_sizes", "wrap", "wrapped_label",
    # the learning curve over epochs (epochcurves)
    "SMOOTH_AFTER", "learning_curves", "smoothed", "smoothing_window",
    # this module's figures
    "RECIPE_NAMES", "augment_sweep", "confusion_matrix", "data_curve", "label_counts", "picture_sheet",
    "probabilities", "reliability", "sheet",
]


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


def _add_recipe(fig: go.Figure, colour: str, recipe: str, rows: Sequence[Mapping], large: bool) -> list:
    """One recipe's line over the data, its 95 % intervals as error bars; returns its sizes."""
    rows = sorted(rows, key=lambda r: r["size"])
    x = [r["size"] for r in rows]
    y = [r["accuracy"] for r in rows]
    name = label(RECIPE_NAMES.get(recipe, recipe))
    fig.add_scatter(
        x=x, y=y, mode="lines+markers", name=name,
        line=dict(color=colour, width=3), marker=dict(size=10 + (3 if large else 0)),
        error_y=dict(type="data", symmetric=False, array=[r["high"] - r["accuracy"] for r in rows],
                     arrayminus=[r["accuracy"] - r["low"] for r in rows], thickness=2, width=6),
        customdata=[[r["low"], r["high"], r.get("count", 0), r.get("seconds", 0.0)] for r in rows],
        hovertemplate=(f"{name}<br>%{{x}} photos: %{{y:.1%}} (95 % interval %{{customdata[0]:.0%}}"
                       "-%{customdata[1]:.0%}, %{customdata[2]} validation photos)<br>"
                       "%{customdata[3]:.1f} s<extra></extra>"))
    return x


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
        everything += _add_recipe(fig, PALETTE[i % len(PALETTE)], recipe, rows, large)
    lo, hi = (min(everything), max(everything)) if everything else (10, 2000)
    span = [math.log10(max(lo, 1)) - 0.12, math.log10(max(hi, 1)) + 0.12]
    ticks = log_ticks(span)
    left, right = (80 if large else 62), 10
    top = title_and_notes(fig, title, ["Bars: the 95 % interval of each accuracy on the validation photos."],
                          sizes, 2 * CURVES_MIN_WIDTH, left, right)  # a chart the page's whole width
    plot_px, axis_px = (380 if large else 300), int(3.6 * sizes.body)
    names = [t.name for t in fig.data]
    legend_px = legend_height(names, sizes, CURVES_MIN_WIDTH - 20, 0) if names else 0
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
    top = title_and_notes(fig, f"Augmentation sweep: {setting}",
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
    top = title_and_notes(fig, "Does its confidence come true?",
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

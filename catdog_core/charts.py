"""Plotly figures: learning curves, label counts, image grids, probabilities, confusion matrices."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")


FONT = 15  # readable from the back of a classroom
NO_TOOLBAR = {"displayModeBar": False}  # plotly_chart(config=...) for small charts: nothing covers the bars
_TRAIN_COLOUR, _VAL_COLOUR = "#4C78A8", "#F58518"


def label(text) -> str:
    """A user's name (class, run, file) as Plotly shows it literally: Plotly reads a subset of HTML
    in every label (<a href>, <img>-less tags, <br>, <span style>), so its markup characters are
    written as entities, which it shows as the characters typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _outlier_ceiling(values: Sequence[float]) -> float | None:
    """A y-axis top that one early outlier (the baseline's first-epoch loss of 24) does not set:
    None when the values have no such outlier."""
    finite = sorted(v for v in values if v is not None and np.isfinite(v))
    if len(finite) < 4:
        return None
    typical = finite[int(0.8 * (len(finite) - 1))]
    return typical * 1.3 if finite[-1] > 3 * typical and typical > 0 else None


def learning_curves(histories: Mapping[str, Sequence[dict]], metric: str = "accuracy",
                    title: str | None = None, markers: Mapping[str, int] | None = None,
                    large: bool = False) -> go.Figure:
    """Training vs validation per epoch.

    One run: training and validation in two colours and two dash styles (dashed, solid).
    Several runs: one colour per run, training dashed with circles, validation solid with
    diamonds. A loss axis is cut above an early outlier, and the chart says so.
    `markers` maps a run name to the epoch after which a vertical line is drawn (where
    fine-tuning starts). `large`: bigger type and chart, for presenter mode.
    """
    fig = go.Figure()
    single = len(histories) == 1
    everything = []
    for i, (name, history) in enumerate(histories.items()):
        colour = PALETTE[i % len(PALETTE)]
        epochs = [h["epoch"] for h in history]
        train_y, val_y = [h[metric] for h in history], [h[f"val_{metric}"] for h in history]
        everything += train_y + val_y
        fig.add_scatter(x=epochs, y=train_y, mode="lines+markers", name=f"{label(name)} · training",
                        line=dict(color=_TRAIN_COLOUR if single else colour, dash="dash", width=3),
                        marker=dict(symbol="circle", size=8))
        fig.add_scatter(x=epochs, y=val_y, mode="lines+markers", name=f"{label(name)} · validation",
                        line=dict(color=_VAL_COLOUR if single else colour, width=3),
                        marker=dict(symbol="diamond", size=9))
        if markers and name in markers:
            fig.add_vline(x=markers[name] + 0.5, line_dash="dot", line_color=colour,
                          annotation_text="fine-tuning starts")
    size = FONT + (4 if large else 0)
    fig.update_layout(title=title or f"Training vs validation {metric}", xaxis_title="epoch",
                      yaxis_title=metric, legend_title_text="run", margin=dict(t=60, b=40, l=60, r=10),
                      height=480 if large else 380, font=dict(size=size), title_font=dict(size=size + 3))
    if metric == "accuracy":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:
        ceiling = _outlier_ceiling(everything)
        if ceiling is not None:
            fig.update_yaxes(range=[0, ceiling])
            fig.add_annotation(text=f"axis cut at {ceiling:.2f}: the highest loss was {max(everything):.1f}",
                               xref="paper", yref="paper", x=1, y=1, xanchor="right", yanchor="bottom",
                               showarrow=False, font=dict(size=size - 3, color="#666"))
    fig.update_xaxes(dtick=1 if max((len(h) for h in histories.values()), default=0) <= 20 else None)
    return fig


def label_counts(counts: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Grouped bars: images per class in each split."""
    fig = go.Figure()
    for i, (split, per_class) in enumerate(counts.items()):
        fig.add_bar(x=[label(c) for c in per_class], y=list(per_class.values()), name=label(split),
                    marker_color=PALETTE[i % len(PALETTE)], text=list(per_class.values()),
                    textposition="outside")
    fig.update_layout(barmode="group", title="Images per class and split", xaxis_title="class",
                      yaxis_title="images", height=360, margin=dict(t=50, b=40, l=50, r=10))
    return fig


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, cols: int = 3,
               height_per_row: int = 220) -> go.Figure:
    """Images in a grid with a title over each, axes hidden."""
    n = len(images)
    rows = max(1, -(-n // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[label(t) for t in titles or [""] * n],
                        horizontal_spacing=0.02, vertical_spacing=0.08 if titles else 0.02)
    for i, image in enumerate(images):
        fig.add_trace(go.Image(z=np.asarray(image)), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height_per_row * rows, margin=dict(t=30, b=0, l=0, r=0))
    return fig


def probabilities(probs: Mapping[str, float], large: bool = False) -> go.Figure:
    """Horizontal bars, one per class, highest on top, on an axis from 0 to 100 %.

    Show it with config=NO_TOOLBAR: plotly's toolbar would sit over the bars."""
    items = sorted(probs.items(), key=lambda kv: kv[1])
    top = max(probs.values()) if probs else 0
    fig = go.Figure(go.Bar(x=[p for _, p in items], y=[label(n) for n, _ in items], orientation="h",
                           text=[f"{p:.1%}" for _, p in items],
                           textposition=["inside" if p > 0.25 else "outside" for _, p in items],
                           cliponaxis=False,
                           marker_color=[PALETTE[0] if p == top else "#BBBBBB" for _, p in items]))
    fig.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1]),
                      height=(80 if large else 70) + (40 if large else 32) * len(items),
                      margin=dict(t=10, b=10, l=10, r=40), font=dict(size=FONT + (4 if large else 0)))
    return fig


def confusion_matrix(matrix, class_names: Sequence[str], title: str = "Confusion matrix") -> go.Figure:
    """Counts per (true, predicted) pair: the diagonal is right, everything else a mistake."""
    counts = np.asarray(matrix, dtype=int)
    names = [label(n) for n in class_names]
    row_totals = counts.sum(axis=1, keepdims=True)
    # Colour by share of the true class, so a small class's mistakes show as clearly as a large one's.
    share = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    fig = go.Figure(go.Heatmap(
        z=share, x=names, y=names, text=counts, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        colorbar=dict(title="share of row", tickformat=".0%"),
        hovertemplate="true %{y}, predicted %{x}: %{text} images (%{z:.0%} of %{y})<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=140 + 50 * len(names),
                      margin=dict(t=50, b=40, l=60, r=10))
    fig.update_xaxes(side="bottom", type="category")
    fig.update_yaxes(autorange="reversed", type="category")  # first class on top, as the matrix is printed
    return fig

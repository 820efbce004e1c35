"""The learning curve over epochs: each run's training and validation lines, long runs smoothed,
a loss axis that shows every point, the fine-tuning marker, room for the title, notes and legend."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import plotly.graph_objects as go

from .style import (CHAR_WIDTH, CURVES_MIN_WIDTH, PALETTE, TextSizes, fits, label, legend_height, line_count,
                    log_ticks, sized_text, text_sizes, title_and_notes, wrapped_label)

_TRAIN_COLOUR, _VAL_COLOUR = "#4C78A8", "#F58518"

SMOOTH_AFTER = 30  # epochs: longer runs (small data, 100 epochs) zig-zag, so their average is drawn


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
    """The values that are numbers: no gaps (None), no NaN or infinity."""
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


def _epoch_step(epochs: int, sizes: TextSizes, width: int) -> int | None:
    """A tick every 1, 2 or 5 epochs when the labels fit side by side in `width`; None: plotly's choice
    (its own steps are round numbers too once a run is long)."""
    label_px = CHAR_WIDTH * sizes.body * len(str(max(epochs, 1))) + 12
    for step in (1, 2, 5):
        if epochs and epochs / step * label_px <= width:
            return step
    return None


# A run's two lines: (role, prefix of its history key, dash, marker symbol, marker size).
_ROLES = (("training", "", "dash", "circle", 8), ("validation", "val_", None, "diamond", 9))


@dataclass(frozen=True)
class CurveLine:
    """One line of the chart: a run's training or validation values and how they are drawn."""
    epochs: list
    values: list
    colour: str
    dash: str | None
    symbol: str
    size: int
    what: str  # "run · role", as hover text names it
    legend: dict  # the trace's name, legend group and whether it has a legend entry


def _curve_lines(name: str, history: Sequence[dict], metric: str, colour: str, single: bool) -> list[CurveLine]:
    """A run's training line and validation line, coloured and named for the legend."""
    lines = []
    for role, prefix, dash, symbol, size in _ROLES:
        what = f"{label(name)} · {role}"
        # One legend entry a run (its solid validation line); one run: training and validation.
        legend = dict(name=role if single else (label(name) if role == "validation" else what),
                      legendgroup=what if single else label(name),
                      showlegend=single or role == "validation")
        lines.append(CurveLine(epochs=[h["epoch"] for h in history], values=[h.get(prefix + metric) for h in history],
                               colour=(_TRAIN_COLOUR if role == "training" else _VAL_COLOUR) if single else colour,
                               dash=dash, symbol=symbol, size=size, what=what, legend=legend))
    return lines


def _draw_line(fig: go.Figure, line: CurveLine, value: str, window: int, large: bool) -> None:
    """A line with a marker an epoch; a long run's every epoch faint, under the average around each."""
    if len(line.values) > SMOOTH_AFTER:
        fig.add_scatter(x=line.epochs, y=line.values, mode="lines", opacity=0.3,
                        **dict(line.legend, showlegend=False),
                        line=dict(color=line.colour, width=1.5, dash=line.dash),
                        hovertemplate=f"{line.what}, epoch %{{x}}: {value}<extra></extra>")
        fig.add_scatter(x=line.epochs, y=smoothed(line.values, window), mode="lines", **line.legend,
                        line=dict(color=line.colour, dash=line.dash, width=3.5),
                        hovertemplate=f"{line.what}, epochs around %{{x}}: {value} on average<extra></extra>")
    else:
        fig.add_scatter(x=line.epochs, y=line.values, mode="lines+markers", **line.legend,
                        line=dict(color=line.colour, dash=line.dash, width=3),
                        marker=dict(symbol=line.symbol, size=line.size + (3 if large else 0)),
                        hovertemplate=f"{line.what}, epoch %{{x}}: {value}<extra></extra>")


def _mark_fine_tuning(fig: go.Figure, epoch: int, colour: str, metric: str, sizes: TextSizes) -> None:
    """A dotted vertical line after the epoch where fine-tuning starts."""
    # Where the curves are not: accuracy climbs to the top, a loss falls to the bottom.
    fig.add_vline(x=epoch + 0.5, line_dash="dot", line_color=colour,
                  annotation_text="fine-tuning starts", annotation_font_size=sizes.note,
                  annotation_position="bottom right" if metric == "accuracy" else "top right")


def _value_axis(fig: go.Figure, histories: Mapping[str, Sequence[dict]], metric: str,
                everything: list[float]) -> tuple[list[str], str]:
    """The y axis: 0 to 100 % for accuracy, a loss on a scale that shows every point; returns the
    chart's notes so far and the axis title."""
    if metric == "accuracy":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        return [], metric
    openings = [[h[0].get(metric), h[0].get(f"val_{metric}")] for h in histories.values() if h]
    kind, span, note = _loss_axis(everything, openings)
    fig.update_yaxes(type=kind, range=span)
    if kind != "log":
        return [], metric
    ticks = log_ticks(span)
    fig.update_yaxes(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    return [note], f"{metric} (log scale)"


def _legend_title(histories: Mapping[str, Sequence[dict]], sizes: TextSizes) -> str:
    """One run: its name; several: which dash is which, on two lines when one does not fit."""
    room = fits(CURVES_MIN_WIDTH - 20, sizes.body)
    key = "dashed: training, solid: validation"
    if len(histories) == 1:
        return wrapped_label(next(iter(histories)), room, 2)
    return key if len(key) <= room else key.replace(", ", "<br>")


def _lay_out(fig: go.Figure, title: str, notes: list[str], axis_title: str, legend_title: str,
             sizes: TextSizes, large: bool, longest: int) -> None:
    """Margins and height that give the title, notes, plot, axis and legend their room at the
    narrowest width the chart is drawn; the legend below the plot."""
    left, right = (80 if large else 62), 10
    top = title_and_notes(fig, title, notes, sizes, CURVES_MIN_WIDTH, left, right)
    names = [t.name for t in fig.data if t.showlegend is not False]
    legend_px = legend_height(names, sizes, CURVES_MIN_WIDTH - 20, line_count(legend_title)) if names else 0
    plot_px, axis_px = (340 if large else 260), int(3.6 * sizes.body)
    fig.update_layout(xaxis_title="epoch", yaxis_title=axis_title, height=top + plot_px + axis_px + legend_px,
                      margin=dict(t=top, b=axis_px, l=left, r=right),
                      legend=dict(orientation="h", x=0, xanchor="left", yanchor="top", y=-axis_px / plot_px,
                                  title=dict(text=legend_title, side="top")))
    fig.update_xaxes(dtick=_epoch_step(longest, sizes, CURVES_MIN_WIDTH - left - right))


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
    longest = max((len(h) for h in histories.values()), default=0)
    window = smoothing_window(longest)
    value = "%{y:.1%}" if metric == "accuracy" else "%{y:.3f}"
    everything: list[float] = []
    for i, (name, history) in enumerate(histories.items()):
        colour = PALETTE[i % len(PALETTE)]
        for line in _curve_lines(name, history, metric, colour, single=len(histories) == 1):
            everything += _finite(line.values)
            _draw_line(fig, line, value, window, large)
        if markers and name in markers:
            _mark_fine_tuning(fig, markers[name], colour, metric, sizes)
    notes, axis_title = _value_axis(fig, histories, metric, everything)
    if any(len(h) > SMOOTH_AFTER for h in histories.values()):
        notes.append(f"Thick lines: the average of {window} epochs; faint: each epoch.")
    _lay_out(fig, title or f"Training vs validation {metric}", notes, axis_title, _legend_title(histories, sizes),
             sizes, large, longest)
    return sized_text(fig, sizes)

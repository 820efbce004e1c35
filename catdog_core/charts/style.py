"""What every figure shares: the palette, type sizes for normal and presenter mode, user text
escaped and wrapped to fit, the title and notes over a plot, a legend's height, round log ticks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")

FONT = 15  # readable from the back of a classroom
NO_TOOLBAR = {"displayModeBar": False}  # plotly_chart(config=...): its toolbar sat over titles and bars
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
    """How many lines a Plotly label of <br>-separated lines takes."""
    return str(text or "").count("<br>") + 1


def log_ticks(span: Sequence[float]) -> list[float]:
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


def legend_height(names: Sequence[str], sizes: TextSizes, width: int, title_lines: int) -> int:
    """The pixels a horizontal legend of these names takes at `width` (rows packed left to right)."""
    rows, used = 1, 0.0
    for name in names:
        entry = 50 + CHAR_WIDTH * sizes.body * len(name)  # the line sample, the gaps, the text
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return int((rows + title_lines) * 1.5 * sizes.body) + 8


def title_and_notes(fig: go.Figure, title: str, notes: Sequence[str], sizes: TextSizes,
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

"""The embedding maps drawn: each map a panel of points coloured by class with the model's
mistakes as crosses, the hover thumbnails, presenter mode's bigger type, the HTML export."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np

THUMB = 56  # pixels of the hover thumbnails


@dataclass
class EmbeddingMap:
    """One panel: the held-out photos as points, their classes and the model's mistakes."""
    title: str
    points: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,) int
    files: list[str]
    class_names: tuple[str, ...]
    wrong: np.ndarray | None  # (N,) bool: the model's mistakes, or None
    explained: float | None  # share of the variance the two axes keep (PCA)


def thumbnail(image: np.ndarray) -> str:
    """A photo as a small JPEG data: URL, for a point's hover."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).resize((THUMB, THUMB)).save(buffer, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


MAP_MIN_WIDTH = 780  # pixels: the narrowest the map is drawn (the main column at a 1280 page in presenter mode: 796)
SPACING = 0.06  # between the maps, a share of the width


def _size_text(fig, titles: list[str], large: bool) -> None:
    """Each map's title wrapped to its map's width (at MAP_MIN_WIDTH, so two never meet and the right
    one never runs off the figure), the type sized for presenter mode or not, the top margin to fit."""
    from ..charts.style import fits, line_count, sized_text, text_sizes, wrapped_label

    sizes = text_sizes(large)
    margin = 20
    n = max(1, len(titles))
    map_width = (MAP_MIN_WIDTH - 2 * margin) * (1 - SPACING * (n - 1)) / n
    texts = [wrapped_label(t, fits(map_width, sizes.subtitle)) for t in titles]
    for annotation, text in zip(fig.layout.annotations, texts):
        annotation.update(text=text, font=dict(size=sizes.subtitle))
    top = 16 + int(1.3 * sizes.subtitle * max((line_count(t) for t in texts), default=1))
    fig.update_layout(height=(640 if large else 560) + top - 60, margin=dict(t=top, b=20, l=margin, r=margin),
                      legend=dict(orientation="h", yanchor="top", y=-0.02), meta=dict(titles=titles))
    sized_text(fig, sizes)


def _add_points(fig, m: EmbeddingMap, col: int, thumbs: list[str] | None, in_legend: set[str]) -> None:
    """One map's points: per class, the ones the model gets right (dots) and wrong (crosses)."""
    from ..charts.style import PALETTE, label as shown

    for label, name in enumerate(m.class_names):
        idx = np.flatnonzero(m.labels == label)
        wrong = m.wrong[idx] if m.wrong is not None else np.zeros(len(idx), bool)
        for is_wrong in (False, True):
            chosen = idx[wrong == is_wrong]
            if not len(chosen):
                continue
            group = f"{label}:{is_wrong}"
            fig.add_scatter(
                x=m.points[chosen, 0], y=m.points[chosen, 1], mode="markers", row=1, col=col,
                name=shown(name) + (" · model wrong" if is_wrong else ""), legendgroup=group,
                showlegend=group not in in_legend, legendrank=2 * label + int(is_wrong),  # each class by its mistakes
                marker=dict(color=PALETTE[label % len(PALETTE)], size=11 if is_wrong else 6,
                            symbol="x" if is_wrong else "circle", opacity=0.9 if is_wrong else 0.55,
                            line=dict(width=1, color="black") if is_wrong else None),
                customdata=[[shown(m.files[i]), thumbs[i] if thumbs else ""] for i in chosen],
                hovertemplate=f"{shown(name)}<br>%{{customdata[0]}}<extra></extra>")
            in_legend.add(group)


def figure(maps: list[EmbeddingMap], images: np.ndarray | None = None, large: bool = False,
           thumbs: list[str] | None = None):
    """The maps side by side as one plotly figure. With the images (or their `thumbs`, made by
    thumbnails()), each point carries its thumbnail (shown on hover by the HTML export's script,
    and by the app on selection). `large`: presenter mode's bigger type (`for_presenter` makes it
    of a built figure)."""
    from plotly.subplots import make_subplots

    from ..charts.style import label as shown

    titles = [m.title + (f" · PCA keeps {m.explained:.0%}" if m.explained is not None else "") for m in maps]
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=[shown(t) for t in titles],
                        horizontal_spacing=SPACING)
    if thumbs is None and images is not None:
        thumbs = [thumbnail(image) for image in images]
    in_legend: set[str] = set()  # each class (and its mistakes) once, however many maps show it
    for col, m in enumerate(maps, start=1):
        _add_points(fig, m, col, thumbs, in_legend)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    _size_text(fig, titles, large)
    return fig


def for_presenter(fig):
    """A copy of a built map with presenter mode's bigger type; the built one is shared by every
    session, so it is not changed."""
    import plotly.graph_objects as go

    big = go.Figure(fig)
    meta = big.layout.meta if isinstance(big.layout.meta, dict) else {}
    titles = list(meta.get("titles") or  # a figure built before titles were kept: its shown text
                  (html.unescape(str(a.text or "").replace("<br>", " ")) for a in big.layout.annotations))
    _size_text(big, titles, True)
    return big


HOVER_SCRIPT = """
var plot = document.getElementById('{plot_id}');
var tip = document.createElement('img');
tip.style.cssText = 'position:fixed;display:none;width:112px;height:112px;border:2px solid #333;'
                  + 'background:#fff;pointer-events:none;z-index:10';
document.body.appendChild(tip);
plot.on('plotly_hover', function (event) {
  var point = event.points[0];
  if (!point.customdata || !point.customdata[1]) return;
  tip.src = point.customdata[1];
  tip.style.left = (event.event.clientX + 16) + 'px';
  tip.style.top = (event.event.clientY + 16) + 'px';
  tip.style.display = 'block';
});
plot.on('plotly_unhover', function () { tip.style.display = 'none'; });
"""


def write_html(fig, path) -> None:
    """A self-contained HTML page (plotly.js inside) that shows each point's thumbnail on hover."""
    from pathlib import Path

    from ..fileio import write_atomic

    html = fig.to_html(include_plotlyjs=True, full_html=True, post_script=HOVER_SCRIPT)
    write_atomic(Path(path), html.encode("utf-8"))

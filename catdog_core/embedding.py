"""An embedding map: the held-out images (validation and test) as points, placed by
what a network computes of them, projected to 2-D, coloured by class, with a model's
mistakes marked. Side by side, MobileNetV2's features and the small CNN's last hidden
layer for the same images show why transfer learning wins: the classes fall apart
in the first and mix in the second. For a fine-tuned run: its base before and after.

PCA is the projection (plain NumPy: an SVD, or the Gram matrix when the features are
wider than the images are many); UMAP is used when `umap-learn` is installed and asked for.
"""

from __future__ import annotations

import base64
import html
import io
import time
from dataclasses import dataclass

import numpy as np

from .errors import CatdogError
from .fileio import Recent

THUMB = 56  # pixels of the hover thumbnails


@dataclass
class EmbeddingMap:
    title: str
    points: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,) int
    files: list[str]
    class_names: tuple[str, ...]
    wrong: np.ndarray | None  # (N,) bool: the model's mistakes, or None
    explained: float | None  # share of the variance the two axes keep (PCA)


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, D) -> (N, 2) principal components, and the share of variance they keep."""
    x = np.asarray(features, np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[1] > x.shape[0]:  # wide (the small CNN's 87 616 numbers an image): the N x N Gram matrix
        gram = x @ x.T
        values, vectors = np.linalg.eigh(gram)
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0, None), vectors[:, order]
        points = vectors[:, :2] * np.sqrt(values[:2])
        total = values.sum()
    else:
        _, singular, vt = np.linalg.svd(x, full_matrices=False)
        points = x @ vt[:2].T
        values = singular ** 2
        total = values.sum()
    return points.astype(np.float32), float(values[:2].sum() / total) if total > 0 else 0.0


def project(features: np.ndarray, method: str = "pca") -> tuple[np.ndarray, float | None]:
    if method == "umap":
        try:
            import umap  # optional
        except ImportError:
            raise CatdogError("UMAP needs the umap-learn package (pip install umap-learn); PCA works without it.") from None
        return np.asarray(umap.UMAP(n_components=2, random_state=0).fit_transform(features), np.float32), None
    if method != "pca":
        raise CatdogError(f"Unknown projection {method!r}; choose pca or umap.")
    return pca_2d(features)


def held_out_images(dataset) -> np.ndarray:
    """The validation and test images (all of the post's validation folder), in that order."""
    return np.concatenate([dataset.validation.images, dataset.test.images])


# Every frozen-base run of a dataset shares MobileNetV2's map (only its crosses differ) and every map
# of a dataset the same hover thumbnails: each made once per process, not once per run (under a
# class, five new quick runs built five of each and kept the batch lane 24 s from class sets).
_base_maps = Recent(4)  # (dataset key, weights, method) -> (points, share of variance kept)
_thumbs = Recent(2)  # dataset key -> the held-out photos' thumbnails


def base_projection(dataset, method: str = "pca", weights: str | None = None) -> tuple[np.ndarray, float | None]:
    """The frozen ImageNet base's features of the held-out photos, projected (kept per dataset)."""
    from . import config, features

    weights = weights or config.base_weights_setting()
    name = f"{dataset.key}|{features.weights_digest(weights)}|{method}"
    return _base_maps.get(name) or _base_maps.put(name, project(transfer_features(dataset, weights), method))


def thumbnails(dataset) -> list[str]:
    """The held-out photos' hover thumbnails, as data: URLs (kept per dataset)."""
    found = _thumbs.get(dataset.key)
    if found is None:
        found = _thumbs.put(dataset.key, [_thumbnail(image) for image in held_out_images(dataset)])
    return found


def _mistakes(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from .evaluate import logits_of

    return logits_of(model, images).argmax(axis=1) != labels


def _kept_mistakes(run, dataset) -> np.ndarray | None:
    """Which held-out photos the run gets wrong, from the evaluations kept when it was saved (no
    forward pass over 1,000 photos); None when they were not kept."""
    from .evaluate import remembered

    found = [remembered(run, dataset.key, split) for split in ("validation", "test")]
    if any(f is None or f.count != len(dataset.split(f.split)) for f in found):
        return None
    masks = []
    for evaluation in found:
        mask = np.zeros(evaluation.count, bool)
        mask[[m.index for m in evaluation.mistakes]] = True
        masks.append(mask)
    return np.concatenate(masks)


def transfer_features(dataset, weights: str | None = None, images: np.ndarray | None = None) -> np.ndarray:
    """The frozen ImageNet MobileNetV2's pooled features of the held-out images (cached by content)."""
    from . import config, features, models

    weights = weights or config.base_weights_setting()
    extractor = features.FeatureExtractor(models.build_features(weights), weights)
    val = features.cached_features(extractor, dataset.key, "validation", dataset.validation.images)
    test = features.cached_features(extractor, dataset.key, "test", dataset.test.images)
    return np.concatenate([val, test])


def hidden_features(model, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """What a model feeds its last layer (the input of 'logits'), for each image."""
    import keras

    logits = model.get_layer("logits") if any(l.name == "logits" for l in model.layers) else model.layers[-1]
    probe = keras.Model(model.input, logits.input)  # one input, as it is called (see explain.activations)
    out = [np.asarray(probe(images[i:i + batch].astype("float32"), training=False), np.float16)
           for i in range(0, len(images), batch)]  # float16: the small CNN's 87 616 numbers an image
    return np.concatenate(out).astype(np.float32)


class _HeldOut:
    """The held-out photos' labels and files; their pixels are joined only when a map needs them."""

    def __init__(self, dataset):
        self.dataset, self.names = dataset, tuple(dataset.class_names)
        self.labels = np.concatenate([dataset.validation.labels, dataset.test.labels])
        self.files = list(dataset.validation.files) + list(dataset.test.files)
        self._images = None

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = held_out_images(self.dataset)
        return self._images

    def map(self, title: str, points: np.ndarray, explained: float | None, wrong) -> EmbeddingMap:
        return EmbeddingMap(title, points, self.labels, self.files, self.names, wrong, explained)


_small_maps = Recent(4)  # the small CNN run's map, by that run, its model file, the dataset and method


def _small_cnn_map(dataset, held: _HeldOut, method: str) -> EmbeddingMap | None:
    """The latest model 1 run on this data, as a map of its last hidden layer (kept per run and data)."""
    from . import runs

    small = next((r for r in runs.on_dataset(runs.list_runs().runs, dataset.key, held.names)
                  if r.recipe == "baseline"), None)
    if small is None:
        return None
    stat = small.model_path.stat()
    name = f"{small.run_id}|{small.name}|{stat.st_size}|{stat.st_mtime_ns}|{dataset.key}|{method}"
    found = _small_maps.get(name)
    if found is None:
        model = runs.load_model(small)
        found = _small_maps.put(name, held.map(f"small CNN (model 1, run {small.name}): last hidden layer",
                                               *project(hidden_features(model, held.images), method),
                                               _mistakes(model, held.images, held.labels)))
    return found


def maps_for(run, dataset, method: str = "pca", weights: str | None = None) -> list[EmbeddingMap]:
    """The maps for a run: transfer features with its mistakes beside the small CNN's view (the
    latest model 1 run on this data, when there is one); for a fine-tuned run, before and after."""
    from . import runs

    if tuple(run.class_names) != tuple(dataset.class_names):
        raise CatdogError("This run was trained on other classes; pick a run of this dataset.")
    held = _HeldOut(dataset)
    frozen = run.recipe == "transfer" and run.fine_tune_from_epoch is None
    wrong = _kept_mistakes(run, dataset)
    model = None if frozen and wrong is not None else runs.load_model(run)  # a frozen base's map needs no model
    if wrong is None:
        wrong = _mistakes(model, held.images, held.labels)
    base = base_projection(dataset, method, weights)
    if run.recipe != "transfer":
        return [held.map(f"{run.recipe} (run {run.name}): last hidden layer",
                         *project(hidden_features(model, held.images), method), wrong),
                held.map("MobileNetV2 (ImageNet) features, for comparison", *base, None)]
    if not frozen:
        return [held.map("before fine-tuning: MobileNetV2 (ImageNet) features", *base, None),
                held.map(f"after fine-tuning: run {run.name}", *project(hidden_features(model, held.images), method),
                         wrong)]
    small = _small_cnn_map(dataset, held, method)
    return [held.map("MobileNetV2 (ImageNet) features", *base, wrong)] + ([small] if small is not None else [])


def _thumbnail(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).resize((THUMB, THUMB)).save(buffer, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


MAP_MIN_WIDTH = 780  # pixels: the narrowest the map is drawn (the main column at a 1280 page in presenter mode: 796)
SPACING = 0.06  # between the maps, a share of the width


def _size_text(fig, titles: list[str], large: bool) -> None:
    """Each map's title wrapped to its map's width (at MAP_MIN_WIDTH, so two never meet and the right
    one never runs off the figure), the type sized for presenter mode or not, the top margin to fit."""
    from .charts import fits, line_count, sized_text, text_sizes, wrapped_label

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


def figure(maps: list[EmbeddingMap], images: np.ndarray | None = None, large: bool = False,
           thumbs: list[str] | None = None):
    """The maps side by side as one plotly figure. With the images (or their `thumbs`, made by
    thumbnails()), each point carries its thumbnail (shown on hover by the HTML export's script,
    and by the app on selection). `large`: presenter mode's bigger type (`for_presenter` makes it
    of a built figure)."""
    from plotly.subplots import make_subplots

    from .charts import PALETTE, label as shown

    titles = [m.title + (f" · PCA keeps {m.explained:.0%}" if m.explained is not None else "") for m in maps]
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=[shown(t) for t in titles],
                        horizontal_spacing=SPACING)
    if thumbs is None and images is not None:
        thumbs = [_thumbnail(image) for image in images]
    in_legend: set[str] = set()  # each class (and its mistakes) once, however many maps show it
    for col, m in enumerate(maps, start=1):
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

    from .fileio import write_atomic

    html = fig.to_html(include_plotlyjs=True, full_html=True, post_script=HOVER_SCRIPT)
    write_atomic(Path(path), html.encode("utf-8"))


def build(run, dataset, method: str = "pca", weights: str | None = None):
    """(figure, seconds): the maps of a run as a figure with thumbnails, and how long it took."""
    started = time.perf_counter()
    maps = maps_for(run, dataset, method, weights)
    fig = figure(maps, thumbs=thumbnails(dataset))
    return fig, time.perf_counter() - started

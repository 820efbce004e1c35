"""An embedding map: the held-out images (validation and test) as points, placed by
what a network computes of them, projected to 2-D, coloured by class, with a model's
mistakes marked. Side by side, MobileNetV2's features and the small CNN's last hidden
layer for the same images show why transfer learning wins: the classes fall apart
in the first and mix in the second. For a fine-tuned run: its base before and after.

PCA is the projection (plain NumPy: an SVD, or the Gram matrix when the features are
wider than the images are many); UMAP is used when `umap-learn` is installed and asked for.
This module makes the maps; embedding.figure draws them (its names are named here too).
"""

from __future__ import annotations

import time

import numpy as np

from .figure import (HOVER_SCRIPT, MAP_MIN_WIDTH, SPACING, THUMB, EmbeddingMap, figure, for_presenter,
                     thumbnail, write_html)
from ..errors import CatdogError
from ..fileio import Recent

__all__ = ["EmbeddingMap", "base_projection", "build", "held_out_images", "hidden_features", "maps_for", "pca_2d",
           "project", "thumbnails", "transfer_features",
           # the maps drawn (embedding.figure)
           "HOVER_SCRIPT", "MAP_MIN_WIDTH", "SPACING", "THUMB", "figure", "for_presenter", "thumbnail", "write_html"]


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
    """(N, D) -> (N, 2) by PCA (with the share of variance kept) or UMAP (None)."""
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
    from .. import config, features

    weights = weights or config.base_weights_setting()
    name = f"{dataset.key}|{features.weights_digest(weights)}|{method}"
    return _base_maps.get(name) or _base_maps.put(name, project(transfer_features(dataset, weights), method))


def thumbnails(dataset) -> list[str]:
    """The held-out photos' hover thumbnails, as data: URLs (kept per dataset)."""
    found = _thumbs.get(dataset.key)
    if found is None:
        found = _thumbs.put(dataset.key, [thumbnail(image) for image in held_out_images(dataset)])
    return found


def _mistakes(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from ..evaluate import logits_of

    return logits_of(model, images).argmax(axis=1) != labels


def _kept_mistakes(run, dataset) -> np.ndarray | None:
    """Which held-out photos the run gets wrong, from the evaluations kept when it was saved (no
    forward pass over 1,000 photos); None when they were not kept."""
    from ..evaluate import remembered

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
    from .. import config, features, models

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
    from .. import runs

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
    from .. import runs

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


def build(run, dataset, method: str = "pca", weights: str | None = None):
    """(figure, seconds): the maps of a run as a figure with thumbnails, and how long it took."""
    started = time.perf_counter()
    maps = maps_for(run, dataset, method, weights)
    fig = figure(maps, thumbs=thumbnails(dataset))
    return fig, time.perf_counter() - started

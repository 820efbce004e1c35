"""What the model service does, one function per request. Runs inside the service
process (see `process`); every answer is plain data the web server can draw without
TensorFlow: numpy arrays, the dataclasses of `answers`, strings, bytes and plotly figures.

A request names a saved run by its id and a dataset by its source (None for the
configured one), never by an object: the service loads and keeps them itself.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from .. import augment, dataset, explain, images, novelty, predict, runs
from .. import evaluate as evaluation
from ..augment import AugmentSettings
from ..errors import CatdogError
from .beside import seen_in_dataset, unlike_training
from .answers import Answer, CheckAnswer, Explanation, LayerView, Miss, ModelInfo, PreparedData

MAX_MISS_MAPS = 12  # Grad-CAM overlays for a labelled check: the misses a page shows
REQUESTS: dict[str, Callable] = {}  # name -> task: the only names a request may call (each @request below)


def request(task: Callable) -> Callable:
    """Register a task as a request the service answers, under its own name."""
    REQUESTS[task.__name__] = task
    return task


def _model(run_id: str):
    run = runs.find_run(run_id)
    return run, runs.load_model(run)


# ---------------------------------------------------------------- pictures


@request
def picture(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Untrusted bytes -> (display copy, 160x160 model input), or InvalidImage."""
    return images.load_for_model(data)


@request
def pictures(items: list[bytes]) -> list[np.ndarray | str]:
    """Model-sized copies of several photos (thumbnails); a refused photo gives its sentence."""
    out: list[np.ndarray | str] = []
    for data in items:
        try:
            out.append(images.load_for_model(data)[1])
        except CatdogError as exc:
            out.append(str(exc))
    return out


@request
def preview(image: np.ndarray, settings: dict, n: int) -> np.ndarray:
    return augment.preview(np.asarray(image, np.uint8), AugmentSettings.from_dict(settings), n)


@request
def recipe_summary(name: str, num_classes: int, settings: dict | None) -> str:
    from .. import models

    chosen = AugmentSettings.from_dict(settings) if settings else None
    return models.recipe_summary(name, num_classes, chosen)


# ---------------------------------------------------------------- datasets


@request
def prepare_dataset(data: str | None, allow_download: bool, progress=None) -> PreparedData:
    """Find, unpack, check and decode a dataset into the disk cache (once per machine)."""
    loaded = dataset.load_dataset(data, progress=progress, allow_download=allow_download)
    return PreparedData(loaded.source, loaded.key, loaded.auto_split, dataset.signature_of(loaded))


@request
def import_zip(data: bytes, name: str, from_photos: bool = False, uploader: str = "", progress=None) -> Path:
    from .. import uploads

    return uploads.import_zip(data, name, progress=progress, from_photos=from_photos, uploader=uploader)


# ---------------------------------------------------------------- models


@request
def open_model(run_id: str) -> ModelInfo:
    """Load a run's model and trace its graphs now, so the first photo is answered at once."""
    run, model = _model(run_id)
    explains = explain.supports(model)
    if explains:
        explain.warm_up(model)
    return ModelInfo(run.run_id, tuple(run.class_names), explains)


@request
def classify(run_id: str, data: bytes, heatmap: bool) -> Answer:
    run, model = _model(run_id)
    shown, model_input = images.load_for_model(data)
    prediction = predict.classify(model, model_input, run.class_names)
    looked = None
    if heatmap and explain.supports(model):
        looked = explain.overlay(shown, explain.grad_cam(model, model_input))
    return Answer(shown, prediction, looked, seen_in_dataset(run, [model_input])[0], unlike_training(run, [model_input])[0])


_explained: "OrderedDict[tuple, tuple]" = OrderedDict()  # (model file, photo digest, view) -> (heatmap, numbers)
EXPLAINED_KEPT = 64  # 160x160 float32 heatmaps: 6.5 MB; a page rerun redraws a batch without recomputing


@request
def explain_photo(run_id: str, data: bytes, view: str = "occlusion") -> Explanation:
    """One photo's heatmap for the class the model predicts, one of explain.VIEWS, painted over the photo.

    Occlusion runs the model ~65 times, so its heatmap is kept by the model file and the photo's
    bytes: the page's reruns (every click redraws every photo) ask again and are answered at once.
    """
    import hashlib

    if view not in explain.VIEWS:
        raise CatdogError(f"Unknown view {view!r}; choose one of {', '.join(explain.VIEWS)}.")
    run, model = _model(run_id)
    if view != "occlusion" and not explain.supports(model):
        raise CatdogError(explain.UNSUPPORTED)
    shown, model_input = images.load_for_model(data)
    stat = run.model_path.stat()
    key = (str(run.model_path), stat.st_size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest(), view)
    if key in _explained:
        _explained.move_to_end(key)
        heat, numbers = _explained[key]
    else:
        heat, numbers = _explain_anew(run, model, model_input, view)
        _explained[key] = (heat, numbers)
        while len(_explained) > EXPLAINED_KEPT:
            _explained.popitem(last=False)
    return Explanation(view, explain.overlay(shown, heat), **numbers)


def _explain_anew(run, model, model_input: np.ndarray, view: str) -> tuple[np.ndarray, dict]:
    """(heatmap, Explanation's numbers) for the predicted class, computed one way of explain.VIEWS."""
    prediction = predict.classify(model, model_input, run.class_names)  # the label the page shows
    class_index = list(run.class_names).index(prediction.label)
    numbers = dict(class_name=prediction.label, probability=prediction.confidence)
    if view != "occlusion":
        return explain.grad_cam(model, model_input, class_index), numbers
    forward = predict.frozen_base_forward(model)
    found = explain.occlusion(model, model_input, class_index, forward=forward)
    numbers.update(lowest=found.lowest, largest_drop=float(found.drops.max()),
                   grid=int(found.drops.shape[0]), passes=found.passes,
                   engine="TensorFlow" if forward is None else "TFLite")
    return found.heatmap, numbers


@request
def classify_frame(run_id: str, frame: np.ndarray) -> predict.Prediction:
    """One video frame (any size, RGB uint8) through the pixel path's resize and the model, with
    whether it is unlike the training photos when their reference is kept already (a frame never
    waits for one to be made: Classify's photos make it)."""
    from dataclasses import replace

    run, model = _model(run_id)
    frame = np.ascontiguousarray(np.asarray(frame)[..., :3], dtype=np.uint8)
    model_input = images.resize_for_model(frame)
    prediction = predict.classify(model, model_input, run.class_names)
    try:
        verdicts = novelty.judge(run, model_input[None], allow_compute=False)
    except (CatdogError, OSError, ValueError):
        verdicts = None
    if verdicts and verdicts[0].out_of_distribution is not None:
        prediction = replace(prediction, unlike=verdicts[0].out_of_distribution)
    return prediction


@request
def check_labelled(run_id: str, items: list[tuple[str, bytes]], heatmap: bool) -> CheckAnswer:
    run, model = _model(run_id)
    result = evaluation.check_labelled(model, run.class_names, items)
    misses = []
    for miss in result.misses[:MAX_MISS_MAPS]:
        looked = None
        if heatmap and explain.supports(model):
            looked = explain.overlay(miss.picture, explain.grad_cam(model, miss.model_input))
        misses.append(Miss(miss.name, miss.true_label, miss.prediction, miss.picture, looked))
    inputs = [c.model_input for c in result.checked]
    trained_on = [s is not None and s.split == "train" for s in seen_in_dataset(run, inputs)]
    unlike = tuple(c.name for c, v in zip(result.checked, unlike_training(run, inputs)) if v is not None and v.out_of_distribution)
    right_unseen = sum(c.prediction.label == c.true_label for c, seen in zip(result.checked, trained_on) if not seen)
    return CheckAnswer(result.class_names, result.right, result.total, result.confusion, misses,
                       len(result.misses), result.unlabelled, result.refused,
                       tuple(c.name for c, seen in zip(result.checked, trained_on) if seen), right_unseen, unlike)


@request
def activations(run_id: str, image: np.ndarray, settings: dict | None) -> tuple[np.ndarray, list[LayerView]]:
    """(the photo as the model sees it, augmented when settings are given; each convolution's maps)."""
    _, model = _model(run_id)
    shown = np.asarray(image, np.uint8)
    if settings is not None:
        shown = augment.preview(shown, AugmentSettings.from_dict(settings), 1)[0]
    views = [LayerView(a.layer, a.filters, a.size, explain.channel_grid(a.maps), explain.silent_filters(a.maps))
             for a in explain.activations(model, shown)]
    return shown, views


_evaluations: "OrderedDict[tuple, object]" = OrderedDict()  # (model file, dataset key, split) -> Evaluation
EVALUATIONS_KEPT = 16


@request
def evaluate(run_id: str, data: str | None, split: str = "test", progress=None):
    """A run on a split, computed once per model file and dataset content: a class opening the
    Evaluate page together waits for one evaluation, not thirty."""
    run = runs.find_run(run_id)
    loaded = dataset.load_dataset(data, progress=progress, allow_download=False)
    stat = run.model_path.stat()
    key = (str(run.model_path), stat.st_size, stat.st_mtime_ns, loaded.key, split)
    if key in _evaluations:
        _evaluations.move_to_end(key)
        return _evaluations[key]
    result = evaluation.remembered(run, loaded.key, split)  # the worker measured it when it saved the run
    if result is None:
        result = evaluation.evaluate_run(runs.load_model(run), loaded, run.class_names, split, progress=progress)
        evaluation.remember(run, loaded.key, result)
    _evaluations[key] = result
    while len(_evaluations) > EVALUATIONS_KEPT:
        _evaluations.popitem(last=False)
    return result


_maps: "OrderedDict[tuple, object]" = OrderedDict()  # (model file, dataset key, method) -> (figure, seconds)
MAPS_KEPT = 4


@request
def embedding_map(run_id: str, data: str | None, method: str):
    """(plotly figure, seconds) of the run's embedding map on the dataset, built once per model file
    and dataset content."""
    from .. import embedding

    run = runs.find_run(run_id)
    loaded = dataset.load_dataset(data, allow_download=False)
    stat = run.model_path.stat()
    key = (str(run.model_path), stat.st_size, stat.st_mtime_ns, loaded.key, method)
    if key not in _maps:
        _maps[key] = embedding.build(run, loaded, method)
        while len(_maps) > MAPS_KEPT:
            _maps.popitem(last=False)
    _maps.move_to_end(key)
    return _maps[key]


@request
def suspects(data: str | None, progress=None):
    """The dataset's suspicious labels (suspects.SuspectReport): out-of-fold answers over its training
    split from cached MobileNetV2 features, kept by dataset content, weights and method."""
    from ..lessons import suspects as found

    loaded = dataset.load_dataset(data, progress=progress, allow_download=False)
    return found.find_suspects(loaded, progress=progress)


@request
def tflite_zip(run_id: str) -> bytes:
    from .. import export

    return export.tflite_zip(runs.find_run(run_id))


@request
def keras_file(run_id: str) -> bytes:
    from .. import export

    return export.keras_bytes(runs.find_run(run_id))


@request
def ping() -> int:
    """The service's process id (tests and the benchmark use it)."""
    import os

    return os.getpid()

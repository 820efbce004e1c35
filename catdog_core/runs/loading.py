"""A run's model: its file vetted before Keras builds anything (size, layers, parameters), then
loaded once per process with safe_mode on and kept in a small cache. A frozen-base run's head and
base files are vetted too (digest, members, shapes), and its model is built by this code's recipe."""

from __future__ import annotations

import json
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

from ..errors import CatdogError
from .checks import Bad, regular_file
from .record import (BASE_FILE, FROZEN_BASE, HEAD_FILE, LOADED_MODELS, MAX_HEAD_BYTES, MAX_MODEL_BYTES,
                     MAX_MODEL_CONFIG_BYTES, MAX_PARAMS, MODEL_FILE, Run)


_PARAM_RULES = {
    "Dense": lambda c, s: (s[-1] + 1) * c.get("units", 0) if s else c.get("units", 0),
    "Conv2D": lambda c, s: _kernel(c) * ((s[-1] if s else 1) + 0) * c.get("filters", 0) + c.get("filters", 0),
    "DepthwiseConv2D": lambda c, s: _kernel(c) * (s[-1] if s else 1) * c.get("depth_multiplier", 1),
    "BatchNormalization": lambda c, s: 4 * (s[-1] if s else 0),
    "Embedding": lambda c, s: c.get("input_dim", 0) * c.get("output_dim", 0),
}


def _kernel(cfg: dict) -> int:
    size = cfg.get("kernel_size", 1)
    values = size if isinstance(size, (list, tuple)) else [size]
    product = 1
    for v in values:
        product *= int(v) if isinstance(v, int) and v > 0 else 1
    return product


def _count_params(layer_config, depth: int = 0) -> int:
    """An upper estimate of a saved model's parameters, from its config alone."""
    if depth > 20 or not isinstance(layer_config, dict):
        return 0
    cfg = layer_config.get("config") if isinstance(layer_config.get("config"), dict) else {}
    total = 0
    for child in cfg.get("layers", []) if isinstance(cfg.get("layers"), list) else []:
        total += _count_params(child, depth + 1)
    shape = (layer_config.get("build_config") or {}).get("input_shape") if isinstance(
        layer_config.get("build_config"), dict) else None
    dims = [d for d in shape if isinstance(d, int)] if isinstance(shape, list) and shape and not isinstance(
        shape[0], list) else []
    rule = _PARAM_RULES.get(str(layer_config.get("class_name")))
    if rule is not None:
        safe_cfg = {k: (v if isinstance(v, (int, list)) and not isinstance(v, bool) else 0)
                    for k, v in cfg.items() if k in ("units", "filters", "kernel_size", "depth_multiplier",
                                                     "input_dim", "output_dim")}
        try:
            total += int(rule(safe_cfg, dims))
        except (TypeError, ValueError):
            total += MAX_PARAMS + 1
    return total


def _logits_units(layer_config, depth: int = 0) -> int | None:
    if depth > 20 or not isinstance(layer_config, dict):
        return None
    cfg = layer_config.get("config") if isinstance(layer_config.get("config"), dict) else {}
    if layer_config.get("class_name") == "Dense" and cfg.get("name") == "logits":
        units = cfg.get("units")
        return units if isinstance(units, int) else None
    for child in cfg.get("layers", []) if isinstance(cfg.get("layers"), list) else []:
        found = _logits_units(child, depth + 1)
        if found is not None:
            return found
    return None


def check_model_file(path: Path, classes: int | None = None) -> None:
    """Refuse a .keras file that is too big, or whose layers need too many parameters, before
    Keras builds it; raises CatdogError with a sentence."""
    regular_file(path, MAX_MODEL_BYTES, MODEL_FILE)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_MODEL_CONFIG_BYTES:
                raise Bad("its model configuration is over the size limit")
            weights = sum(i.file_size for i in archive.infolist())
            if weights > 2 * MAX_MODEL_BYTES:
                raise Bad("its model unpacks to more than the size limit")
            model_config = json.loads(archive.read(info).decode("utf-8"))
    except Bad:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError, UnicodeDecodeError) as exc:
        raise Bad(f"{MODEL_FILE} is not a Keras model file ({type(exc).__name__})") from None
    params = _count_params(model_config)
    if params > MAX_PARAMS:
        raise Bad(f"its model would need about {params / 1e6:,.0f} million parameters, "
                   f"over the {MAX_PARAMS / 1e6:.0f} million any recipe here uses")
    if classes is not None:
        units = _logits_units(model_config)
        if units is not None and units != classes:
            raise Bad(f"its model answers {units} classes but its class list names {classes}")


FEATURES = 1280  # MobileNetV2's pooled features: the rows of a frozen-base run's head


def check_head_files(run: Run):
    """A frozen-base run's files, vetted: its base file has the digest its meta names, and its head
    is two finite float32 arrays of the shapes its classes need, read without pickles or a zip bomb.
    Returns (kernel, bias)."""
    import numpy as np

    from ..features import weights_digest

    regular_file(run.path / BASE_FILE, MAX_MODEL_BYTES, BASE_FILE)
    regular_file(run.path / HEAD_FILE, MAX_HEAD_BYTES, HEAD_FILE)
    if weights_digest(str(run.path / BASE_FILE)) != run.base_digest:
        raise Bad(f"its {BASE_FILE} is not the file it was saved with")
    classes = len(run.class_names)
    shapes = {"kernel": (FEATURES, classes), "bias": (classes,)}
    try:
        with zipfile.ZipFile(run.path / HEAD_FILE) as archive:
            if sorted(archive.namelist()) != ["bias.npy", "kernel.npy"] or any(
                    i.file_size > MAX_HEAD_BYTES for i in archive.infolist()):
                raise Bad(f"its {HEAD_FILE} does not hold just a kernel and a bias")
        with np.load(run.path / HEAD_FILE, allow_pickle=False) as arrays:
            kernel, bias = arrays["kernel"], arrays["bias"]
    except Bad:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise Bad(f"its {HEAD_FILE} is not a saved head ({type(exc).__name__})") from None
    for name, array in (("kernel", kernel), ("bias", bias)):
        if array.dtype != np.float32 or array.shape != shapes[name] or not np.isfinite(array).all():
            raise Bad(f"its head's {name} is not {shapes[name]} finite float32 numbers for {classes} classes")
    return kernel, bias


def _frozen_base_model(run: Run, kernel, bias):
    """The run's inference model, rebuilt: this code's transfer recipe on the run's base weights
    (shared by every run on the same base), with the head's weights set."""
    from ..augment import NO_AUGMENTATION
    from ..models import build

    built = build("transfer", len(run.class_names), NO_AUGMENTATION, weights=str(run.path / BASE_FILE),
                  share_base=True)
    built.inference.get_layer("logits").set_weights([kernel, bias])
    return built.inference


_models: "OrderedDict[tuple, object]" = OrderedDict()
_models_lock = threading.Lock()


def load_model(run: Run):
    """The run's Keras model, checked, then loaded once per process with safe_mode on.

    Kept in a small least-recently-used cache keyed by the file (path, size, mtime).
    """
    key = _files_key(run)
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        model = _loaded(run, _vetted(run))
        _check_it_runs(run, model)
        _models[key] = model
        while len(_models) > LOADED_MODELS:
            _models.popitem(last=False)
        return model


def _files_key(run: Run) -> tuple:
    """The run's model files by path, size, time and inode: a rewritten file is another key."""
    files = [run.model_path] + ([run.path / BASE_FILE] if run.model_format == FROZEN_BASE else [])
    try:
        return tuple((str(path), st.st_size, st.st_mtime_ns, st.st_ino) for path, st in
                     ((path, path.stat()) for path in files))
    except OSError as exc:
        raise CatdogError(f"The model of run {run.run_id} could not be read ({exc.strerror or exc}).") from None


def _vetted(run: Run):
    """The run's files checked before anything loads them; a frozen-base run's (kernel, bias), else None."""
    try:
        if run.model_format == FROZEN_BASE:
            return check_head_files(run)
        check_model_file(run.model_path, len(run.class_names))
        return None
    except CatdogError as exc:
        raise CatdogError(f"The model of run {run.run_id} was refused: {exc}.") from None


def _loaded(run: Run, head):
    """The run's inference model: rebuilt on its base with `head`'s weights, or its .keras file in safe mode."""
    import keras

    try:
        if run.model_format == FROZEN_BASE:
            return _frozen_base_model(run, *head)
        return keras.models.load_model(run.model_path, safe_mode=True, compile=False)
    except Exception as exc:
        raise CatdogError(f"The model of run {run.run_id} could not be loaded ({_first_line(exc)}).") from None


def _check_it_runs(run: Run, model) -> None:
    """The model answers the run's classes and runs on an image (its graph traced now, not on the
    first photo a student sends)."""
    if int(model.output_shape[-1]) != len(run.class_names):
        raise CatdogError(f"The model of run {run.run_id} answers {model.output_shape[-1]} classes but the "
                          f"run names {len(run.class_names)}.")
    from ..predict import warm_up

    try:
        warm_up(model)
    except Exception as exc:
        raise CatdogError(f"The model of run {run.run_id} could not run on an image ({_first_line(exc)}).") from None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def forget_models(folder: Path) -> None:
    """Drop the loaded models of a run folder (it is being deleted)."""
    with _models_lock:
        for key in [k for k in _models if k[0][0].startswith(str(folder))]:
            del _models[key]

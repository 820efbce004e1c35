"""Reading a run folder as untrusted input: plain files under size caps, JSON checked against
a schema to the leaf, one sentence (Bad) for whatever is wrong."""

from __future__ import annotations

import json
import math
import os
import stat as stat_module
import threading
from collections import OrderedDict
from pathlib import Path

from ..augment import AugmentSettings
from ..errors import CatdogError
from .record import (BASE_FILE, COMPLETE, FROZEN_BASE, HEAD_FILE, HISTORY_FILE, MAX_CLASSES, MAX_EXCLUDED,
                     MAX_HEAD_BYTES, MAX_JSON_BYTES, MAX_MODEL_BYTES, MAX_NAME, META_FILE, MODEL_FILE, Run)


class Bad(CatdogError):
    """Why a run folder cannot be used, as the end of a sentence."""


def regular_file(path: Path, cap: int, what: str) -> int:
    """The size of `path`, which must be a plain file (not a link, FIFO or device) under `cap` bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise Bad(f"{what} is missing") from None
    except OSError as exc:
        raise Bad(f"{what} is unreadable ({exc.strerror or exc})") from None
    if not stat_module.S_ISREG(st.st_mode):
        raise Bad(f"{what} is not a plain file")
    if st.st_size > cap:
        raise Bad(f"{what} is {st.st_size / 2**20:.1f} MB, over the {cap / 2**20:.0f} MB limit")
    return st.st_size


def read_json(path: Path, what: str):
    regular_file(path, MAX_JSON_BYTES, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise Bad(f"{what} is over the size limit")
        return json.loads(raw.decode("utf-8"))
    except Bad:
        raise
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Bad(f"its metadata is unreadable ({type(exc).__name__})") from None


def _text(value, what: str, limit: int = MAX_NAME, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise Bad(f"its {what} is not a text of up to {limit} characters")
    return value


def _int(value, what: str, low: int = 0, high: int = 100_000, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Bad(f"its {what} is not a whole number from {low} to {high}")
    return value


def _number(value, what: str, low: float = -math.inf, high: float = math.inf, none: bool = True) -> float | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise Bad(f"its {what} is not a number from {low:g} to {high:g}")
    return float(value)


def _bounded(value, name: str, what: str, none: bool = False):
    """A job setting of a saved run within its bounds (jobspec.BOUNDS, the trainer's own)."""
    from ..jobspec import BOUNDS

    bound = BOUNDS[name]
    if value is None and none:
        return None
    if not bound.holds(value):
        raise Bad(f"its {what} is not {'a whole number' if bound.whole else 'a number'} "
                  f"from {bound.low:g} to {bound.high:g}")
    return value if bound.whole else float(value)


def _dict(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Bad(f"its {what} is not a table of settings")
    return value


_HISTORY_FIELDS = {"epoch": (1, 100_000), "epochs": (1, 100_000)}
_HISTORY_NUMBERS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def _checked_history(history) -> list[dict]:
    if not isinstance(history, list) or len(history) > 10_000:
        raise Bad("its history is not a list of epochs")
    out = []
    for item in history:
        if not isinstance(item, dict):
            raise Bad("its history is not a list of epochs")
        row = {name: _int(item.get(name), f"history {name}", *bounds) for name, bounds in _HISTORY_FIELDS.items()}
        for name in _HISTORY_NUMBERS:
            low, high = (0.0, 1.0) if name.endswith("accuracy") else (0.0, math.inf)
            row[name] = _number(item.get(name), f"history {name}", low, high, none=False)
        row["stage"] = _text(item.get("stage", "train"), "history stage", 20)
        out.append(row)
    return out


_read: "OrderedDict[tuple, Run]" = OrderedDict()  # a run folder's files (path, size, mtime) -> Run
_read_lock = threading.Lock()


def read_run(path: Path) -> Run:
    """A run folder, checked; parsed once per process for as long as its files do not change."""
    model_files = (HEAD_FILE, BASE_FILE) if os.path.lexists(path / HEAD_FILE) else (MODEL_FILE,)
    try:
        stamp = tuple((st.st_size, st.st_mtime_ns, st.st_ino) for st in
                      (os.lstat(path / name) for name in (META_FILE, HISTORY_FILE, COMPLETE) + model_files))
    except OSError:
        stamp = None
    memo = (str(path), stamp)
    if stamp is not None:
        with _read_lock:
            if memo in _read:
                _read.move_to_end(memo)
                return _read[memo]
    run = _read_run_now(path)
    if stamp is not None:
        with _read_lock:
            _read[memo] = run
            while len(_read) > 2000:
                _read.popitem(last=False)
    return run


def _read_run_now(path: Path) -> Run:
    if not (path / COMPLETE).is_file():
        raise Bad("it has no COMPLETE marker (an interrupted save)")
    try:
        return _checked_run(path)
    except Bad as exc:
        text = str(exc)
        about_files = "metadata" in text or text.startswith((MODEL_FILE, HEAD_FILE, BASE_FILE))
        raise Bad(text if about_files else f"its metadata is unusable: {text}") from None


def _checked_spec(spec, recipe: str) -> dict:
    """The job a run was trained from, every field checked to the leaf; {} for runs saved before it."""

    spec = _dict(spec, "job")
    if not spec:
        return {}
    if spec.get("recipe") != recipe:
        raise Bad("its job names another recipe")
    checked = {
        "recipe": recipe,
        "epochs": _bounded(spec.get("epochs"), "epochs", "job epochs"),
        "data": None if spec.get("data") is None else _text(spec.get("data"), "job data", 4096),
        "use_cache": spec.get("use_cache", True) is True,
        "learning_rate": _bounded(spec.get("learning_rate"), "learning_rate", "job learning rate", none=True),
        "fine_tune_epochs": _bounded(spec.get("fine_tune_epochs", 0), "fine_tune_epochs", "job fine-tune epochs"),
        "fine_tune_at": _bounded(spec.get("fine_tune_at", 0), "fine_tune_at", "job fine-tune layer"),
        "label": _text(spec.get("label", ""), "job label", 200, empty=True),
        "seed": _bounded(spec.get("seed", 0), "seed", "job seed"),
        "weights": None if spec.get("weights") is None else _text(spec.get("weights"), "job weights", 4096),
        "min_steps": _bounded(spec.get("min_steps", 0), "min_steps", "job minimum steps"),
    }
    if spec.get("exclude"):
        checked["exclude"] = _checked_paths(spec["exclude"], "job's list of photos left out")
    if "variants" in spec:  # only when not the default, as JobSpec.to_dict writes it
        checked["variants"] = _bounded(spec["variants"], "variants", "job's augmented variants")
    try:
        checked["settings"] = AugmentSettings.from_dict(_dict(spec.get("settings"), "job settings")).to_dict()
    except (CatdogError, TypeError, ValueError):
        raise Bad("its job's augmentation settings are unusable") from None
    return checked


def _checked_paths(value, what: str) -> list[str]:
    """Photo paths a run left out of training: a list of at most MAX_EXCLUDED texts."""
    if not isinstance(value, list) or len(value) > MAX_EXCLUDED:
        raise Bad(f"its {what} is not a list of up to {MAX_EXCLUDED} paths")
    return [_text(v, what, 4096) for v in value]


_DATASET_TEXTS = ("source", "location", "key", "kind")


def _checked_dataset(value) -> dict:
    """The saved summary of the data a run was trained on, to the leaf: the texts pages show, the
    {split: {class: count}} table they add up, the class list, the skipped count."""
    dataset = _dict(value, "dataset")
    checked: dict = {}
    for key in _DATASET_TEXTS:
        if key in dataset:
            checked[key] = _text(dataset[key], f"dataset {key}", 4096, empty=True)
    if "classes" in dataset:
        classes = dataset["classes"]
        if not isinstance(classes, list) or len(classes) > MAX_CLASSES:
            raise Bad("its dataset classes are not a list of names")
        checked["classes"] = [_text(c, "dataset class name") for c in classes]
    if "counts" in dataset:
        counts = _dict(dataset["counts"], "dataset counts")
        if len(counts) > 8:
            raise Bad("its dataset counts name too many splits")
        checked["counts"] = {}
        for split, per_class in counts.items():
            per_class = _dict(per_class, "dataset counts of a split")
            if len(per_class) > MAX_CLASSES:
                raise Bad("its dataset counts name too many classes")
            checked["counts"][_text(split, "split name", 32)] = {
                _text(name, "class name"): _int(n, "image count", 0, 10**9) for name, n in per_class.items()}
    if "skipped" in dataset:
        checked["skipped"] = _int(dataset["skipped"], "skipped count", 0, 10**9)
    if "auto_split" in dataset:
        checked["auto_split"] = dataset["auto_split"] is True
    return checked


def _checked_settings(value) -> dict:
    settings = _dict(value, "settings")
    if not settings:
        return {}
    try:
        return AugmentSettings.from_dict(settings).to_dict()
    except (CatdogError, TypeError, ValueError):
        raise Bad("its augmentation settings are unusable") from None


def _checked_model(path: Path, model, recipe: str) -> tuple[str, str]:
    """(format, base digest) of a run's model, its files present as plain files under their caps."""
    if model is None:  # every run saved before the frozen-base format
        regular_file(path / MODEL_FILE, MAX_MODEL_BYTES, MODEL_FILE)
        return "keras", ""
    model = _dict(model, "model")
    if model.get("format") != FROZEN_BASE or recipe != "transfer":
        raise Bad("its model format is not one this app writes")
    digest = model.get("base")
    if not isinstance(digest, str) or len(digest) != 20 or any(c not in "0123456789abcdef" for c in digest):
        raise Bad("its model's base digest is malformed")
    regular_file(path / HEAD_FILE, MAX_HEAD_BYTES, HEAD_FILE)
    regular_file(path / BASE_FILE, MAX_MODEL_BYTES, BASE_FILE)
    return FROZEN_BASE, digest


def _checked_run(path: Path) -> Run:
    from ..models import RECIPES

    if not (path / COMPLETE).is_file():
        raise Bad("it has no COMPLETE marker (an interrupted save)")
    meta = read_json(path / META_FILE, META_FILE)
    history = _checked_history(read_json(path / HISTORY_FILE, HISTORY_FILE))
    if not isinstance(meta, dict):
        raise Bad("its metadata is not a table")
    recipe = meta.get("recipe")
    if recipe not in RECIPES:
        raise Bad("its recipe is not one of this app's recipes")
    model_format, base_digest = _checked_model(path, meta.get("model"), recipe)
    names = meta.get("class_names")
    if not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES:
        raise Bad(f"its class_names is not a list of 2 to {MAX_CLASSES} names")
    names = tuple(_text(n, "class name") for n in names)
    if len(set(names)) != len(names):
        raise Bad("its class names repeat")
    epochs = _int(meta.get("epochs"), "epochs")
    extra = _dict(meta.get("extra"), "extra")
    for key in ("label", "name"):
        if key in extra:
            _text(extra[key], key, 200, empty=True)
    if "excluded" in extra:
        extra["excluded"] = _checked_paths(extra["excluded"], "list of photos left out")
    notes = meta.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) and len(n) <= 1000 for n in notes[:20]):
        raise Bad("its notes are not a list of texts")
    return Run(
        run_id=path.name, path=path, recipe=recipe, class_names=names, epochs=epochs,
        epochs_requested=_int(meta.get("epochs_requested", epochs), "epochs_requested"),
        stopped=bool(meta.get("stopped", False) is True),
        test_accuracy=_number(meta.get("test_accuracy"), "test accuracy", 0.0, 1.0),
        test_loss=_number(meta.get("test_loss"), "test loss", 0.0),
        seconds=_number(meta.get("seconds", 0.0), "seconds", 0.0, none=False),
        created=_text(str(meta.get("created", "")), "date", 64, empty=True),
        settings=_checked_settings(meta.get("settings")), dataset=_checked_dataset(meta.get("dataset")),
        history=history, extra=extra,
        fine_tune_from_epoch=_int(meta.get("fine_tune_from_epoch"), "fine-tune start", none=True),
        test_count=_int(meta.get("test_count"), "test count", high=10**9, none=True),
        notes=tuple(notes[:20]), spec=_checked_spec(meta.get("spec"), recipe),
        model_format=model_format, base_digest=base_digest,
    )

"""Reading a run folder as untrusted input: plain files under size caps, JSON checked against
a schema to the leaf (each field's check in fields), one sentence (Bad) for whatever is wrong."""

from __future__ import annotations

import json
import os
import stat as stat_module
import threading
from collections import OrderedDict
from pathlib import Path

from ..augment import AugmentSettings
from ..errors import CatdogError
from .fields import (Bad, bounded, checked_dataset, checked_history, checked_paths, checked_settings, integer,
                     number, table, text)
from .record import (BASE_FILE, COMPLETE, FROZEN_BASE, HEAD_FILE, HISTORY_FILE, MAX_CLASSES, MAX_HEAD_BYTES,
                     MAX_JSON_BYTES, MAX_MODEL_BYTES, META_FILE, MODEL_FILE, Run)


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

    spec = table(spec, "job")
    if not spec:
        return {}
    if spec.get("recipe") != recipe:
        raise Bad("its job names another recipe")
    checked = {
        "recipe": recipe,
        "epochs": bounded(spec.get("epochs"), "epochs", "job epochs"),
        "data": None if spec.get("data") is None else text(spec.get("data"), "job data", 4096),
        "use_cache": spec.get("use_cache", True) is True,
        "learning_rate": bounded(spec.get("learning_rate"), "learning_rate", "job learning rate", none=True),
        "fine_tune_epochs": bounded(spec.get("fine_tune_epochs", 0), "fine_tune_epochs", "job fine-tune epochs"),
        "fine_tune_at": bounded(spec.get("fine_tune_at", 0), "fine_tune_at", "job fine-tune layer"),
        "label": text(spec.get("label", ""), "job label", 200, empty=True),
        "seed": bounded(spec.get("seed", 0), "seed", "job seed"),
        "weights": None if spec.get("weights") is None else text(spec.get("weights"), "job weights", 4096),
        "min_steps": bounded(spec.get("min_steps", 0), "min_steps", "job minimum steps"),
    }
    if spec.get("exclude"):
        checked["exclude"] = checked_paths(spec["exclude"], "job's list of photos left out")
    if "variants" in spec:  # only when not the default, as JobSpec.to_dict writes it
        checked["variants"] = bounded(spec["variants"], "variants", "job's augmented variants")
    try:
        checked["settings"] = AugmentSettings.from_dict(table(spec.get("settings"), "job settings")).to_dict()
    except (CatdogError, TypeError, ValueError):
        raise Bad("its job's augmentation settings are unusable") from None
    return checked


def _checked_model(path: Path, model, recipe: str) -> tuple[str, str]:
    """(format, base digest) of a run's model, its files present as plain files under their caps."""
    if model is None:  # every run saved before the frozen-base format
        regular_file(path / MODEL_FILE, MAX_MODEL_BYTES, MODEL_FILE)
        return "keras", ""
    model = table(model, "model")
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
    history = checked_history(read_json(path / HISTORY_FILE, HISTORY_FILE))
    if not isinstance(meta, dict):
        raise Bad("its metadata is not a table")
    recipe = meta.get("recipe")
    if recipe not in RECIPES:
        raise Bad("its recipe is not one of this app's recipes")
    model_format, base_digest = _checked_model(path, meta.get("model"), recipe)
    names = _class_names(meta.get("class_names"))
    epochs = integer(meta.get("epochs"), "epochs")
    extra = _checked_extra(meta.get("extra"))
    notes = _checked_notes(meta.get("notes", []))
    return Run(
        run_id=path.name, path=path, recipe=recipe, class_names=names, epochs=epochs,
        epochs_requested=integer(meta.get("epochs_requested", epochs), "epochs_requested"),
        stopped=bool(meta.get("stopped", False) is True),
        test_accuracy=number(meta.get("test_accuracy"), "test accuracy", 0.0, 1.0),
        test_loss=number(meta.get("test_loss"), "test loss", 0.0),
        seconds=number(meta.get("seconds", 0.0), "seconds", 0.0, none=False),
        created=text(str(meta.get("created", "")), "date", 64, empty=True),
        settings=checked_settings(meta.get("settings")), dataset=checked_dataset(meta.get("dataset")),
        history=history, extra=extra,
        fine_tune_from_epoch=integer(meta.get("fine_tune_from_epoch"), "fine-tune start", none=True),
        test_count=integer(meta.get("test_count"), "test count", high=10**9, none=True),
        notes=tuple(notes[:20]), spec=_checked_spec(meta.get("spec"), recipe),
        model_format=model_format, base_digest=base_digest,
    )


def _class_names(names) -> tuple[str, ...]:
    if not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES:
        raise Bad(f"its class_names is not a list of 2 to {MAX_CLASSES} names")
    names = tuple(text(n, "class name") for n in names)
    if len(set(names)) != len(names):
        raise Bad("its class names repeat")
    return names


def _checked_extra(value) -> dict:
    """The run's extra table (a page's label and name, the photos left out), its known keys checked."""
    extra = table(value, "extra")
    for key in ("label", "name"):
        if key in extra:
            text(extra[key], key, 200, empty=True)
    if "excluded" in extra:
        extra["excluded"] = checked_paths(extra["excluded"], "list of photos left out")
    return extra


def _checked_notes(notes) -> list:
    if not isinstance(notes, list) or not all(isinstance(n, str) and len(n) <= 1000 for n in notes[:20]):
        raise Bad("its notes are not a list of texts")
    return notes

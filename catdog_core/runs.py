"""Saved runs on disk: one folder per training, written whole or not at all,
and checked whenever it is read.

A run is written into ``runs/.incomplete-<id>/``; its ``COMPLETE`` marker is
written last and the folder is then renamed to ``runs/<id>/``. A crash at any
point leaves at most a dot-folder that is never listed.

A run folder is also untrusted input: anyone who can write to CATDOG_HOME can
put one there. Its JSON files are read with a size cap and checked against a
schema (types, lengths, a class list that matches the model's outputs); its
model file is refused over a size cap, or when its layers would need more
parameters than any recipe here, before Keras builds anything. A folder that
fails is skipped with one sentence in the runs table, never a crash.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import stat as stat_module
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import config
from .errors import CatdogError, RunNotFound

MODEL_FILE = "model.keras"
META_FILE = "meta.json"
HISTORY_FILE = "history.json"
COMPLETE = "COMPLETE"
MAX_JSON_BYTES = 1024 * 1024
MAX_MODEL_BYTES = 200 * 1024 * 1024
MAX_MODEL_CONFIG_BYTES = 8 * 1024 * 1024
MAX_PARAMS = 30_000_000  # MobileNetV2 has 2.3 M; the small CNN 0.2 M
MAX_CLASSES = 1000
MAX_NAME = 255
LOADED_MODELS = 4  # models kept in memory per process
SMALL_SPLIT = 30  # fewer images than this: an accuracy is shown as too few to judge


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path
    recipe: str
    class_names: tuple[str, ...]
    epochs: int
    epochs_requested: int
    stopped: bool
    test_accuracy: float | None
    test_loss: float | None
    seconds: float
    created: str
    settings: dict
    dataset: dict
    history: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    fine_tune_from_epoch: int | None = None  # fine-tuning began after this epoch
    test_count: int | None = None  # images in the test split it was measured on
    notes: tuple[str, ...] = ()

    @property
    def best_val_accuracy(self) -> float | None:
        values = [h["val_accuracy"] for h in self.history]
        return max(values) if values else None

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1]["val_accuracy"] if self.history else None

    @property
    def val_count(self) -> int | None:
        counts = self.dataset.get("counts", {}).get("validation")
        return sum(counts.values()) if isinstance(counts, dict) else None

    @property
    def dataset_key(self) -> str:
        return str(self.dataset.get("key", ""))

    @property
    def label(self) -> str:
        return str(self.extra.get("label", ""))

    @property
    def name(self) -> str:
        """The name a person gave the run, else its id."""
        return str(self.extra.get("name") or self.run_id)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def title(self) -> str:
        """One line naming the run for pickers and messages (plain text)."""
        acc = self.val_accuracy
        return f"{self.recipe} · {self.name}" + (f" · val {acc:.1%}" if acc is not None else "")

    def row(self) -> dict:
        """One line of the runs table."""
        return {
            "run": self.run_id,
            "name": self.extra.get("name") or "",
            "recipe": self.recipe,
            "epochs": str(self.epochs) if not self.stopped else f"{self.epochs} of {self.epochs_requested} (stopped)",
            "val acc": self.val_accuracy,
            "best val acc": self.best_val_accuracy,
            "test acc": self.test_accuracy,
            "test images": self.test_count,
            "seconds": round(self.seconds, 1),
            "date": self.created[:16].replace("T", " "),
            "classes": ", ".join(self.class_names),
        }


@dataclass
class RunListing:
    runs: list[Run]
    problems: list[str]


def runs_dir() -> Path:
    return config.catdog_home() / "runs"


def _write_json(path: Path, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _new_id(recipe: str) -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{recipe}-{secrets.token_hex(2)}"


def save_run(result, dataset_description: dict, extra: dict | None = None, base: Path | None = None) -> Run:
    """Write a finished TrainResult as a run folder, atomically. Its model is the inference model.

    `base` is the runs folder (default CATDOG_HOME/runs); a Ray task writes into a folder of its own.
    """
    base = Path(base) if base is not None else runs_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
        run_id = _new_id(result.recipe)
        tmp = base / f".incomplete-{run_id}"
        tmp.mkdir()
    except OSError as exc:
        raise CatdogError(f"Cannot write runs to {base} ({exc.strerror or exc}); "
                          f"set {config.ENV_HOME} to a writable folder.") from None
    try:
        result.model.save(tmp / MODEL_FILE)
        history = [h.to_dict() for h in result.history]
        _write_json(tmp / HISTORY_FILE, history)
        meta = {
            "run_id": run_id,
            "recipe": result.recipe,
            "class_names": list(result.class_names),
            "epochs": result.epochs_done,
            "epochs_requested": result.epochs_requested,
            "stopped": result.stopped,
            "fine_tune_from_epoch": result.fine_tune_from_epoch,
            "test_accuracy": result.test_accuracy,
            "test_loss": result.test_loss,
            "test_count": getattr(result, "test_count", None),
            "seconds": result.seconds,
            "setup_seconds": result.setup_seconds,
            "cached_features": result.cached,
            "engine": result.engine,
            "notes": list(getattr(result, "notes", [])),
            "output": "logits",  # the saved model returns logits; softmax gives probabilities
            # microseconds: runs saved within one second must still list newest first
            "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            "settings": result.settings.to_dict(),
            "dataset": dataset_description,
            "extra": extra or {},
        }
        _write_json(tmp / META_FILE, meta)
        _write_json(tmp / COMPLETE, {"written": time.time()})
        os.rename(tmp, base / run_id)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise CatdogError(f"Could not save the run in {base} ({exc.strerror or exc}); "
                              "earlier runs are untouched.") from None
        raise
    return _read_run(base / run_id)


# ---------------------------------------------------------------- reading, checked


class _Bad(CatdogError):
    """Why a run folder cannot be used, as the end of a sentence."""


def _regular_file(path: Path, cap: int, what: str) -> int:
    """The size of `path`, which must be a plain file (not a link, FIFO or device) under `cap` bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _Bad(f"{what} is missing") from None
    except OSError as exc:
        raise _Bad(f"{what} is unreadable ({exc.strerror or exc})") from None
    if not stat_module.S_ISREG(st.st_mode):
        raise _Bad(f"{what} is not a plain file")
    if st.st_size > cap:
        raise _Bad(f"{what} is {st.st_size / 2**20:.1f} MB, over the {cap / 2**20:.0f} MB limit")
    return st.st_size


def _read_json(path: Path, what: str):
    _regular_file(path, MAX_JSON_BYTES, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise _Bad(f"{what} is over the size limit")
        return json.loads(raw.decode("utf-8"))
    except _Bad:
        raise
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _Bad(f"its metadata is unreadable ({type(exc).__name__})") from None


def _text(value, what: str, limit: int = MAX_NAME, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise _Bad(f"its {what} is not a text of up to {limit} characters")
    return value


def _int(value, what: str, low: int = 0, high: int = 100_000, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Bad(f"its {what} is not a whole number from {low} to {high}")
    return value


def _number(value, what: str, low: float = -math.inf, high: float = math.inf, none: bool = True) -> float | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise _Bad(f"its {what} is not a number from {low:g} to {high:g}")
    return float(value)


def _dict(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"its {what} is not a table of settings")
    return value


_HISTORY_FIELDS = {"epoch": (1, 100_000), "epochs": (1, 100_000)}
_HISTORY_NUMBERS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def _checked_history(history) -> list[dict]:
    if not isinstance(history, list) or len(history) > 10_000:
        raise _Bad("its history is not a list of epochs")
    out = []
    for item in history:
        if not isinstance(item, dict):
            raise _Bad("its history is not a list of epochs")
        row = {name: _int(item.get(name), f"history {name}", *bounds) for name, bounds in _HISTORY_FIELDS.items()}
        for name in _HISTORY_NUMBERS:
            low, high = (0.0, 1.0) if name.endswith("accuracy") else (0.0, math.inf)
            row[name] = _number(item.get(name), f"history {name}", low, high, none=False)
        row["stage"] = _text(item.get("stage", "train"), "history stage", 20)
        out.append(row)
    return out


_read: "OrderedDict[tuple, Run]" = OrderedDict()  # a run folder's files (path, size, mtime) -> Run
_read_lock = threading.Lock()


def _read_run(path: Path) -> Run:
    """A run folder, checked; parsed once per process for as long as its files do not change."""
    try:
        stamp = tuple((st.st_size, st.st_mtime_ns, st.st_ino) for st in
                      (os.lstat(path / name) for name in (META_FILE, HISTORY_FILE, COMPLETE, MODEL_FILE)))
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
        raise _Bad("it has no COMPLETE marker (an interrupted save)")
    _regular_file(path / MODEL_FILE, MAX_MODEL_BYTES, MODEL_FILE)
    try:
        return _checked_run(path)
    except _Bad as exc:
        text = str(exc)
        raise _Bad(text if "metadata" in text or text.startswith(MODEL_FILE) else f"its metadata is unusable: {text}") from None


def _checked_run(path: Path) -> Run:
    from .models import RECIPES

    if not (path / COMPLETE).is_file():
        raise _Bad("it has no COMPLETE marker (an interrupted save)")
    _regular_file(path / MODEL_FILE, MAX_MODEL_BYTES, MODEL_FILE)
    meta = _read_json(path / META_FILE, META_FILE)
    history = _checked_history(_read_json(path / HISTORY_FILE, HISTORY_FILE))
    if not isinstance(meta, dict):
        raise _Bad("its metadata is not a table")
    recipe = meta.get("recipe")
    if recipe not in RECIPES:
        raise _Bad("its recipe is not one of this app's recipes")
    names = meta.get("class_names")
    if not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES:
        raise _Bad(f"its class_names is not a list of 2 to {MAX_CLASSES} names")
    names = tuple(_text(n, "class name") for n in names)
    if len(set(names)) != len(names):
        raise _Bad("its class names repeat")
    epochs = _int(meta.get("epochs"), "epochs")
    extra = _dict(meta.get("extra"), "extra")
    for key in ("label", "name"):
        if key in extra:
            _text(extra[key], key, 200, empty=True)
    notes = meta.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) and len(n) <= 1000 for n in notes[:20]):
        raise _Bad("its notes are not a list of texts")
    return Run(
        run_id=path.name, path=path, recipe=recipe, class_names=names, epochs=epochs,
        epochs_requested=_int(meta.get("epochs_requested", epochs), "epochs_requested"),
        stopped=bool(meta.get("stopped", False) is True),
        test_accuracy=_number(meta.get("test_accuracy"), "test accuracy", 0.0, 1.0),
        test_loss=_number(meta.get("test_loss"), "test loss", 0.0),
        seconds=_number(meta.get("seconds", 0.0), "seconds", 0.0, none=False),
        created=_text(str(meta.get("created", "")), "date", 64, empty=True),
        settings=_dict(meta.get("settings"), "settings"), dataset=_dict(meta.get("dataset"), "dataset"),
        history=history, extra=extra,
        fine_tune_from_epoch=_int(meta.get("fine_tune_from_epoch"), "fine-tune start", none=True),
        test_count=_int(meta.get("test_count"), "test count", high=10**9, none=True),
        notes=tuple(notes[:20]),
    )


def list_runs() -> RunListing:
    """Every usable run, newest first, and a sentence for each folder that was skipped."""
    base = runs_dir()
    runs, problems = [], []
    try:
        entries = sorted(base.iterdir(), reverse=True) if base.is_dir() else []
    except OSError:
        entries = []
    for path in entries[:5000]:
        if path.name.startswith(".") or path.is_symlink() or not path.is_dir():
            continue
        try:
            runs.append(_read_run(path))
        except CatdogError as exc:
            problems.append(f"Run folder {path.name[:80]} was skipped: {exc}.")
    runs.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    return RunListing(runs, problems)


def latest(recipe: str | None = None) -> Run | None:
    for run in list_runs().runs:
        if recipe is None or run.recipe == recipe:
            return run
    return None


def on_dataset(listing: list[Run], key: str | None, class_names=None) -> list[Run]:
    """The runs trained on this dataset (same content key; same classes when a run has no key)."""
    classes = tuple(class_names) if class_names is not None else None
    return [r for r in listing
            if (key and r.dataset_key == key) or (not r.dataset_key and classes is not None and r.class_names == classes)]


def best(listing: list[Run], key: str | None = None, class_names=None, recipe: str | None = None) -> Run | None:
    """The default run: among runs on this dataset (all runs when key and classes are None),
    the best validation accuracy, the newest on a tie; stopped runs count as well."""
    pool = listing if key is None and class_names is None else on_dataset(listing, key, class_names)
    pool = [r for r in pool if recipe is None or r.recipe == recipe]
    if not pool:
        return None
    return max(pool, key=lambda r: (r.val_accuracy if r.val_accuracy is not None else -1.0, r.created))


def find_run(name: str) -> Run:
    """A run by id, by 'latest' / 'latest:RECIPE' / 'best' / 'best:RECIPE', or by folder path."""
    if name in ("latest", "best") or name.startswith(("latest:", "best:")):
        which, _, recipe = name.partition(":")
        recipe = recipe or None
        run = latest(recipe) if which == "latest" else best(list_runs().runs, recipe=recipe)
        if run is None:
            raise RunNotFound(f"There is no saved run{' of ' + recipe if recipe else ''} yet; train one first.")
        return run
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 4096:
        raise RunNotFound("That is not a run name; `python -m catdog_core runs` lists them.")
    candidate = Path(name)
    try:
        if candidate.is_dir() and (candidate / META_FILE).exists():
            path = candidate  # a run folder given by path (command line)
        else:
            path = runs_dir() / candidate.name
        usable = path.is_dir() and not path.name.startswith(".")
    except OSError:
        usable = False
    if not usable:
        raise RunNotFound(f"No saved run is called {name[:120]!r}; `python -m catdog_core runs` lists them.")
    try:
        return _read_run(path)
    except CatdogError as exc:
        raise RunNotFound(f"Run {name[:120]} cannot be used: {exc}.") from None


# ---------------------------------------------------------------- models, checked before building


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
    _regular_file(path, MAX_MODEL_BYTES, MODEL_FILE)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_MODEL_CONFIG_BYTES:
                raise _Bad("its model configuration is over the size limit")
            weights = sum(i.file_size for i in archive.infolist())
            if weights > 2 * MAX_MODEL_BYTES:
                raise _Bad("its model unpacks to more than the size limit")
            model_config = json.loads(archive.read(info).decode("utf-8"))
    except _Bad:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError, UnicodeDecodeError) as exc:
        raise _Bad(f"{MODEL_FILE} is not a Keras model file ({type(exc).__name__})") from None
    params = _count_params(model_config)
    if params > MAX_PARAMS:
        raise _Bad(f"its model would need about {params / 1e6:,.0f} million parameters, "
                   f"over the {MAX_PARAMS / 1e6:.0f} million any recipe here uses")
    if classes is not None:
        units = _logits_units(model_config)
        if units is not None and units != classes:
            raise _Bad(f"its model answers {units} classes but its class list names {classes}")


_models: "OrderedDict[tuple, object]" = OrderedDict()
_models_lock = threading.Lock()


def load_model(run: Run):
    """The run's Keras model, checked, then loaded once per process with safe_mode on.

    Kept in a small least-recently-used cache keyed by the file (path, size, mtime).
    """
    import keras

    try:
        st = run.model_path.stat()
        key = (str(run.model_path), st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise CatdogError(f"The model of run {run.run_id} could not be read ({exc.strerror or exc}).") from None
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        try:
            check_model_file(run.model_path, len(run.class_names))
        except CatdogError as exc:
            raise CatdogError(f"The model of run {run.run_id} was refused: {exc}.") from None
        try:
            model = keras.models.load_model(run.model_path, safe_mode=True, compile=False)
        except Exception as exc:
            raise CatdogError(f"The model of run {run.run_id} could not be loaded "
                              f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}).") from None
        if int(model.output_shape[-1]) != len(run.class_names):
            raise CatdogError(f"The model of run {run.run_id} answers {model.output_shape[-1]} classes but the "
                              f"run names {len(run.class_names)}.")
        from .predict import warm_up

        try:
            warm_up(model)  # the compiled graph is traced now, not on the first photo a student sends
        except Exception as exc:
            raise CatdogError(f"The model of run {run.run_id} could not run on an image "
                              f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}).") from None
        _models[key] = model
        while len(_models) > LOADED_MODELS:
            _models.popitem(last=False)
        return model


# ---------------------------------------------------------------- renaming and deleting


_NAME_OK = re.compile(r"^[^\x00-\x1f\x7f]{1,80}$")


def rename_run(run: Run, name: str) -> Run:
    """Give a run a name of up to 80 characters (shown instead of its id); atomic."""
    from .fileio import write_atomic

    name = str(name or "").strip()
    if not _NAME_OK.match(name):
        raise CatdogError("A run's name is 1 to 80 characters, without control characters.")
    meta = _read_json(run.path / META_FILE, META_FILE)
    meta.setdefault("extra", {})["name"] = name
    write_atomic(run.path / META_FILE, json.dumps(meta, indent=1).encode("utf-8"))
    return _read_run(run.path)


def delete_run(run: Run) -> None:
    """Remove a run: renamed into a dot-folder first (never listed), then deleted."""
    base = runs_dir()
    if run.path.parent.resolve() != base.resolve():
        raise CatdogError("Only runs in this app's runs folder can be deleted.")
    doomed = base / f".deleting-{run.run_id}-{secrets.token_hex(2)}"
    try:
        os.rename(run.path, doomed)
    except OSError as exc:
        raise CatdogError(f"Could not delete run {run.run_id} ({exc.strerror or exc}).") from None
    shutil.rmtree(doomed, ignore_errors=True)
    with _models_lock:
        for key in [k for k in _models if k[0].startswith(str(run.path))]:
            del _models[key]


def import_run(packed: bytes, run_id: str) -> Run:
    """A run folder sent back as a zip (by a Ray task) written into the runs folder whole:
    unpacked into a dot-folder, checked like any run, then renamed into place."""
    import io

    from .sources import check_member_name

    if not re.fullmatch(r"[0-9]{8}-[0-9]{6}-[a-z]+-[0-9a-f]{4}", str(run_id)):
        raise CatdogError("The cluster sent back a run with a malformed name; it was not kept.")
    base = runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".incomplete-{run_id}"
    try:
        tmp.mkdir()
        with zipfile.ZipFile(io.BytesIO(packed)) as archive:
            for member in archive.infolist():
                parts = check_member_name(member.filename, "the run sent back")
                if len(parts) != 1 or member.file_size > MAX_MODEL_BYTES:
                    raise CatdogError("The cluster sent back a run folder with unexpected files; it was not kept.")
                (tmp / parts[0]).write_bytes(archive.read(member))
        _read_run(tmp)  # the same checks as every run read from disk
        os.rename(tmp, base / run_id)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, CatdogError):
            raise CatdogError(f"The run sent back by the cluster was refused: {exc}.") from None
        raise CatdogError(f"The run sent back by the cluster could not be written ({type(exc).__name__}).") from None
    return _read_run(base / run_id)


def post_comparison(listing: list[Run], label: str) -> list[dict]:
    """One row per recipe: the post's accuracy beside the latest run with that label."""
    from .models import RECIPES

    rows = []
    for name, recipe in RECIPES.items():
        run = next((r for r in listing if r.recipe == name and r.label == label), None)
        rows.append({
            "model": recipe.title,
            "post val acc": recipe.post_val,
            "post test acc": recipe.post_test,
            "our val acc": run.val_accuracy if run else None,
            "our test acc": run.test_accuracy if run else None,
            "epochs": run.epochs if run else None,
            "run": run.run_id if run else None,
        })
    return rows

"""Saved runs on disk: one folder per training, written whole or not at all.

A run is written into ``runs/.incomplete-<id>/``; its ``COMPLETE`` marker is
written last and the folder is then renamed to ``runs/<id>/``. A crash at any
point leaves at most a dot-folder that is never listed, and a folder without
its marker (or with unreadable metadata) is reported as damaged, not loaded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import config
from .errors import CatdogError, RunNotFound

MODEL_FILE = "model.keras"
META_FILE = "meta.json"
HISTORY_FILE = "history.json"
COMPLETE = "COMPLETE"


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

    @property
    def best_val_accuracy(self) -> float | None:
        values = [h["val_accuracy"] for h in self.history]
        return max(values) if values else None

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1]["val_accuracy"] if self.history else None

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def row(self) -> dict:
        """One line of the runs table."""
        return {
            "run": self.run_id,
            "recipe": self.recipe,
            "epochs": self.epochs if not self.stopped else f"{self.epochs} of {self.epochs_requested} (stopped)",
            "best val acc": self.best_val_accuracy,
            "test acc": self.test_accuracy,
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


def save_run(result, dataset_description: dict, extra: dict | None = None) -> Run:
    """Write a finished TrainResult as a run folder, atomically."""
    base = runs_dir()
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
            "seconds": result.seconds,
            "setup_seconds": result.setup_seconds,
            "cached_features": result.cached,
            "engine": result.engine,
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


def _read_run(path: Path) -> Run:
    if not (path / COMPLETE).is_file():
        raise CatdogError("it has no COMPLETE marker (an interrupted save)")
    if not (path / MODEL_FILE).is_file():
        raise CatdogError(f"{MODEL_FILE} is missing")
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        history = json.loads((path / HISTORY_FILE).read_text(encoding="utf-8"))
        return Run(
            run_id=path.name, path=path, recipe=str(meta["recipe"]),
            class_names=tuple(meta["class_names"]), epochs=int(meta["epochs"]),
            epochs_requested=int(meta.get("epochs_requested", meta["epochs"])),
            stopped=bool(meta.get("stopped", False)), test_accuracy=meta.get("test_accuracy"),
            test_loss=meta.get("test_loss"), seconds=float(meta.get("seconds", 0.0)),
            created=str(meta.get("created", "")), settings=dict(meta.get("settings", {})),
            dataset=dict(meta.get("dataset", {})), history=list(history), extra=dict(meta.get("extra", {})),
            fine_tune_from_epoch=meta.get("fine_tune_from_epoch"),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatdogError(f"its metadata is unreadable ({type(exc).__name__})") from None


def list_runs() -> RunListing:
    """Every complete run, newest first, and a sentence for each damaged folder."""
    base = runs_dir()
    runs, problems = [], []
    if not base.is_dir():
        return RunListing(runs, problems)
    for path in sorted(base.iterdir(), reverse=True):
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            runs.append(_read_run(path))
        except CatdogError as exc:
            problems.append(f"Run folder {path.name} was skipped: {exc}.")
    runs.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    return RunListing(runs, problems)


def latest(recipe: str | None = None) -> Run | None:
    for run in list_runs().runs:
        if recipe is None or run.recipe == recipe:
            return run
    return None


def find_run(name: str) -> Run:
    """A run by id, by 'latest' / 'latest:RECIPE', or by folder path."""
    if name == "latest" or name.startswith("latest:"):
        recipe = name.partition(":")[2] or None
        run = latest(recipe)
        if run is None:
            raise RunNotFound(f"There is no saved run{' of ' + recipe if recipe else ''} yet; train one first.")
        return run
    candidate = Path(name)
    if candidate.is_dir() and (candidate / META_FILE).exists():
        path = candidate  # a run folder given by path (command line)
    else:
        path = runs_dir() / candidate.name
    if not path.is_dir() or path.name.startswith("."):
        raise RunNotFound(f"No saved run is called {name!r}; `python -m catdog_core runs` lists them.")
    try:
        return _read_run(path)
    except CatdogError as exc:
        raise RunNotFound(f"Run {name} cannot be used: {exc}.") from None


_models: dict[tuple[str, int], object] = {}
_models_lock = threading.Lock()


def load_model(run: Run):
    """The run's Keras model, loaded once per process with safe_mode on."""
    import keras

    stat = run.model_path.stat()
    key = (str(run.model_path), stat.st_mtime_ns)
    with _models_lock:
        if key not in _models:
            try:
                _models[key] = keras.models.load_model(run.model_path, safe_mode=True, compile=False)
            except Exception as exc:
                raise CatdogError(f"The model of run {run.run_id} could not be loaded "
                                  f"({str(exc).splitlines()[0][:160]}).") from None
        return _models[key]


def post_comparison(listing: list[Run], label: str) -> list[dict]:
    """One row per recipe: the post's accuracy beside the latest run with that label."""
    from .models import RECIPES

    rows = []
    for name, recipe in RECIPES.items():
        run = next((r for r in listing if r.recipe == name and r.extra.get("label") == label), None)
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

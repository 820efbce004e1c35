"""Writing a run: into runs/.incomplete-<id>/, its COMPLETE marker last, then renamed into place."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from .. import config
from ..errors import CatdogError
from ..fileio import owner_tag
from .checks import read_run
from .record import COMPLETE, HISTORY_FILE, META_FILE, MODEL_FILE, Run, runs_dir


def write_json(path: Path, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def new_id(recipe: str) -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{recipe}-{secrets.token_hex(2)}"


def save_run(result, dataset_description: dict, extra: dict | None = None, base: Path | None = None,
             spec: dict | None = None) -> Run:
    """Write a finished TrainResult as a run folder, atomically. Its model is the inference model;
    `spec` is the job it was trained from (JobSpec.to_dict()), kept so a script can retrain it.

    `base` is the runs folder (default CATDOG_HOME/runs); a Ray task writes into a folder of its own.
    """
    base = Path(base) if base is not None else runs_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
        run_id = new_id(result.recipe)
        tmp = base / f".incomplete-{run_id}-{owner_tag()}"
        tmp.mkdir()
    except OSError as exc:
        raise CatdogError(f"Cannot write runs to {base} ({exc.strerror or exc}); "
                          f"set {config.ENV_HOME} to a writable folder.") from None
    try:
        result.model.save(tmp / MODEL_FILE)
        history = [h.to_dict() for h in result.history]
        write_json(tmp / HISTORY_FILE, history)
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
            "spec": spec or {},
        }
        write_json(tmp / META_FILE, meta)
        write_json(tmp / COMPLETE, {"written": time.time()})
        os.rename(tmp, base / run_id)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise CatdogError(f"Could not save the run in {base} ({exc.strerror or exc}); "
                              "earlier runs are untouched.") from None
        raise
    return read_run(base / run_id)

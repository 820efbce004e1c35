"""Writing a run: into runs/.incomplete-<id>/, its COMPLETE marker last, then renamed into place."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path

from .. import config
from ..errors import CatdogError
from ..fileio import owner_tag, write_atomic
from .checks import read_run
from .record import BASE_FILE, COMPLETE, FROZEN_BASE, HEAD_FILE, HISTORY_FILE, META_FILE, MODEL_FILE, Run, runs_dir

STORE_GRACE = 3600  # seconds a stored base no run links to is kept (a job may be about to link it)


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
    run_id, tmp = _incomplete_folder(base, result.recipe)
    try:
        model_entry = write_model(result, tmp)
        write_json(tmp / HISTORY_FILE, [h.to_dict() for h in result.history])
        meta = _meta(result, run_id, dataset_description, extra, spec)
        if model_entry is not None:
            meta["model"] = model_entry
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


def _incomplete_folder(base: Path, recipe: str) -> tuple[str, Path]:
    """(a new run's id, the folder it is written in before it is renamed into place)."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        run_id = new_id(recipe)
        tmp = base / f".incomplete-{run_id}-{owner_tag()}"
        tmp.mkdir()
    except OSError as exc:
        raise CatdogError(f"Cannot write runs to {base} ({exc.strerror or exc}); "
                          f"set {config.ENV_HOME} to a writable folder.") from None
    return run_id, tmp


def _meta(result, run_id: str, dataset_description: dict, extra: dict | None, spec: dict | None) -> dict:
    """The run's META_FILE: what was trained, on what, how it did and how long it took."""
    return {
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


def _synced(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _frozen_parts(result):
    """(base, logits layer) of a transfer run whose MobileNetV2 never trained, else None."""
    from ..models import BASE_NAME

    if result.recipe != "transfer" or result.fine_tune_from_epoch is not None:
        return None
    try:
        base, logits = result.model.get_layer(BASE_NAME), result.model.get_layer("logits")
    except ValueError:
        return None
    return None if base.trainable else (base, logits)


def write_model(result, folder: Path) -> dict | None:
    """Write the result's model into a run folder being made. A frozen-base transfer run gets its
    head's weights (HEAD_FILE) and a link to its base's stored weights (BASE_FILE), and returns the
    "model" entry its meta needs; every other run gets one whole .keras file (returns None)."""
    import numpy as np

    parts = _frozen_parts(result)
    if parts is None:
        result.model.save(folder / MODEL_FILE)
        return None
    base, logits = parts
    kernel, bias = logits.get_weights()
    write_atomic(folder / HEAD_FILE,
                 lambda f: np.savez(f, kernel=np.asarray(kernel, np.float32), bias=np.asarray(bias, np.float32)))
    digest = link_base(base, folder / BASE_FILE)
    return {"format": FROZEN_BASE, "base": digest}


_stored: dict[int, tuple] = {}  # id(base) -> (weakref to it, its stored file, digest)
_stored_lock = threading.Lock()


def store_dir() -> Path:
    return config.catdog_home() / "bases"


def link_base(base, target: Path) -> str:
    """Link (or, across file systems, copy) the frozen base's stored weights to `target`; returns
    their digest. They are written once per process and base into CATDOG_HOME/bases/<digest>."""
    for attempt in (0, 1):
        stored, digest = store_base(base, fresh=attempt == 1)
        try:
            os.link(stored, target)
            return digest
        except FileNotFoundError:
            continue  # pruned since this process wrote it: write it again
        except OSError:  # another file system, or no hard links there: a copy
            with open(stored, "rb") as src:
                write_atomic(target, lambda f: shutil.copyfileobj(src, f))
            return digest
    raise CatdogError("The base's weights could not be stored for the run.")


def store_base(base, fresh: bool = False) -> tuple[Path, str]:
    """(file, digest) of this frozen base's weights in the store, written on the first call for it
    (~0.55 s: Keras walks the base's layers) and then only looked up: in this process by the base,
    in a new one by the note of the weights file a shared base came from."""
    from ..models import share_base_as

    folder = store_dir()  # per home: a process may serve another CATDOG_HOME later (tests do)
    with _stored_lock:
        known = _stored.get(id(base))
        if (known is not None and known[0]() is base and not fresh and known[1].parent == folder
                and _holds(known[1], known[2])):
            return known[1], known[2]
        note = _source_note(folder, base)
        stored = None if fresh or note is None else _noted(folder, note)
        if stored is None:
            stored = _save_base(folder, base)
            if note is not None:
                write_atomic(note, stored.name.split(".")[0].encode())
        digest = stored.name.split(".")[0]
        _prune(folder, keep=stored)
        _stored.clear()  # bounded: the base this process saved runs of last (a worker has one)
        _stored[id(base)] = (weakref.ref(base), stored, digest)
    share_base_as(digest, base)  # a run loaded in this process reuses this base, not a second copy
    return stored, digest


def _source_note(folder: Path, base) -> Path | None:
    """Where the store notes which stored file holds a shared base's weights: the base was loaded
    from a weights file (models.base_source), so a new process knows them without saving them
    again (~0.5 s a process). None for a base of no known file."""
    import keras

    from ..models import base_source

    source = base_source(base)
    if source is None:
        return None
    return folder / f"source-{source}-keras{keras.__version__}.txt"


def _noted(folder: Path, note: Path) -> Path | None:
    """The stored file a note names, if it still holds what its name says."""
    try:
        digest = note.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    stored = folder / f"{digest}.weights.h5"
    return stored if digest.isalnum() and _holds(stored, digest) else None


def _save_base(folder: Path, base) -> Path:
    """Save the base's weights into the store under their digest; returns the stored file."""
    from ..features import weights_digest

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{owner_tag()}{secrets.token_hex(4)}.weights.h5"
    try:
        base.save_weights(tmp)
        _synced(tmp)
        digest = weights_digest(str(tmp))
        stored = folder / f"{digest}.weights.h5"
        if _holds(stored, digest):
            tmp.unlink()
        else:  # absent, or not what its name says (damaged, planted): ours replaces it
            os.replace(tmp, stored)
    finally:
        tmp.unlink(missing_ok=True)
    return stored


def _holds(path: Path, digest: str) -> bool:
    """Whether `path` is a plain file with these bytes (hashed again only when its stat changes)."""
    from ..features import weights_digest

    try:
        return path.is_file() and not path.is_symlink() and weights_digest(str(path)) == digest
    except OSError:
        return False


def _prune(folder: Path, keep: Path) -> None:
    """Drop stored bases that no run links to any more (older than STORE_GRACE)."""
    now = time.time()
    for path in folder.glob("*.weights.h5"):
        try:
            st = path.stat()
            if path != keep and st.st_nlink == 1 and now - st.st_mtime > STORE_GRACE:
                path.unlink()
        except OSError:
            pass

"""A training job's checkpoint folder: after every finished epoch, the learner's weights
(weights.npz, read back without pickles) and what a run needs beside them (checkpoint.json),
each replaced whole; jobs.run's `salvage` makes a finished run of it when the process training
it is killed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .result import TrainResult

CHECKPOINT_WEIGHTS = "weights.npz"


def read_checkpoint_weights(folder: Path) -> list[np.ndarray]:
    """The weights write_checkpoint wrote, for `learner.set_weights` (no pickles are read)."""
    with np.load(Path(folder) / CHECKPOINT_WEIGHTS, allow_pickle=False) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def write_checkpoint(folder: Path, learner, result: TrainResult, stage: str) -> None:
    """The learner's weights and the run's history after a finished epoch.

    Not keras.callbacks.BackupAndRestore or ModelCheckpoint: those resume or keep weights for a
    later fit, while a salvaged job becomes a finished run in another process, which also needs the
    history, the stage (frozen or fine-tune) and whether the head or the whole model was learning.
    """
    from ..fileio import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    arrays = io.BytesIO()  # every weight in the learner's own order: ~1 ms for the head, where
    np.savez(arrays, *learner.get_weights())  # Keras' save_weights walked the layers for ~60 ms
    write_atomic(folder / CHECKPOINT_WEIGHTS, arrays.getvalue())
    info = {"learner": "head" if learner.name == "head" else "model", "stage": stage,
            "history": [h.to_dict() for h in result.history], "class_names": list(result.class_names),
            "fine_tune_from_epoch": result.fine_tune_from_epoch, "epochs_requested": result.epochs_requested,
            "notes": result.notes}
    write_atomic(folder / "checkpoint.json", json.dumps(info).encode("utf-8", "surrogatepass"))

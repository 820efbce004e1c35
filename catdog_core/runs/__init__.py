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

Laid out by job: record (the Run and the files), save (atomic writing), checks (reading
untrusted folders; fields, each JSON field's check), listing (finding runs), loading (vetting
and loading a model), manage (rename, delete, import).
"""

from .checks import read_json, read_run  # noqa: F401
from .listing import (best, find_run, latest, latest_seconds, list_runs, on_dataset, post_comparison,  # noqa: F401
                      seconds_per_epoch)
from .loading import check_model_file, load_model  # noqa: F401
from .manage import delete_run, import_run, rename_run  # noqa: F401
from .record import (BASE_FILE, COMPLETE, FROZEN_BASE, HEAD_FILE, HISTORY_FILE, LOADED_MODELS,  # noqa: F401
                     MAX_CLASSES, MAX_JSON_BYTES, MAX_MODEL_BYTES, MAX_MODEL_CONFIG_BYTES, MAX_NAME, MAX_PARAMS,
                     META_FILE, MODEL_FILE, Run, RunListing, runs_dir)
from .save import new_id, save_run, write_json  # noqa: F401

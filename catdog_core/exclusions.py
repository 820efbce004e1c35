"""The photos a user leaves out of training: a checked list beside the dataset, in
CATDOG_HOME/exclusions/<dataset key>[-<owner>].json (one per session), never by deleting files;
a job carries it in JobSpec.exclude and training leaves those photos out of the training split
only (validation and test stay as they are)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from . import config
from .errors import InvalidSettings
from .fileio import write_atomic
from .jobspec import MAX_EXCLUDE

EXCLUSION_FILES = 512  # exclusion lists kept (one per dataset and session), the newest


def exclusions_path(dataset_key: str, owner: str = "") -> Path:
    """Where `owner`'s list for a dataset is kept: one file per session, so one student's ticks and
    Clear never touch a classmate's list ("" is the command line's)."""
    if not dataset_key or not all(c in "0123456789abcdef" for c in dataset_key):
        raise InvalidSettings("This dataset has no content key yet; load it first.")
    whose = f"-{hashlib.sha1(owner.encode('utf-8')).hexdigest()[:16]}" if owner else ""
    return config.catdog_home() / "exclusions" / f"{dataset_key}{whose}.json"


def check_exclusions(data, paths) -> tuple[str, ...]:
    """The paths as a sorted tuple, each a photo of the dataset's training split, at most
    MAX_EXCLUDE, and every class keeping a training photo; else InvalidSettings with a sentence."""
    paths = tuple(sorted(set(str(p) for p in paths)))
    if len(paths) > MAX_EXCLUDE:
        raise InvalidSettings(f"At most {MAX_EXCLUDE} photos can be left out, not {len(paths)}.")
    index = {f: i for i, f in enumerate(data.train.files)}
    outside = [p for p in paths if p not in index]
    if outside:
        raise InvalidSettings(f"'{outside[0][:200]}' is not a photo of this dataset's training split; only "
                              "training photos can be left out (validation and test stay as they are).")
    left = np.ones(len(data.train), bool)
    left[[index[p] for p in paths]] = False
    for c, name in enumerate(data.class_names):
        if not np.any(left & (data.train.labels == c)):
            raise InvalidSettings(f"That would leave class '{name[:60]}' without training photos.")
    return paths


def kept_rows(data, exclude) -> np.ndarray | None:
    """The indices of the training photos a job keeps, or None when it keeps them all."""
    if not exclude:
        return None
    gone = set(check_exclusions(data, exclude))
    return np.array([i for i, f in enumerate(data.train.files) if f not in gone], np.int64)


def load_exclusions(data, owner: str = "") -> tuple[str, ...]:
    """The photos `owner` left out of this dataset's training; () when none (or the list is unusable)."""
    try:
        path = exclusions_path(data.key, owner)
        if path.stat().st_size > 1024**2:
            return ()
        values = json.loads(path.read_text(encoding="utf-8")).get("exclude", [])
        return check_exclusions(data, values if isinstance(values, list) else [])
    except (OSError, ValueError, AttributeError, InvalidSettings):
        return ()


def save_exclusions(data, paths, owner: str = "") -> tuple[str, ...]:
    """Keep `owner`'s list (checked) beside the dataset, written atomically; returns what was kept."""
    paths = check_exclusions(data, paths)
    path = exclusions_path(data.key, owner)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"dataset_key": data.key, "exclude": list(paths)}, indent=1)
                 .encode("utf-8", "surrogatepass"))
    try:
        files = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[EXCLUSION_FILES:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
    return paths

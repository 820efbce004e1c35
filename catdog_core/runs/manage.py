"""Changing saved runs: rename one, delete one, take in one a Ray task sent back."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import zipfile

from .. import names
from ..errors import CatdogError
from ..owners import TERMINAL, Actor
from ..fileio import owner_tag
from .checks import read_json, read_run
from .loading import forget_models
from .record import MAX_MODEL_BYTES, META_FILE, Run, runs_dir


MAX_RUN_NAME = 80  # characters


def rename_run(run: Run, name: str, actor: Actor = TERMINAL) -> Run:
    """Give a run a name (shown instead of its id, to the whole class: the board's character rules,
    names.clean); atomic. Only its owner or the teacher may (owners.NotYours)."""
    from ..fileio import write_atomic

    actor.check(run.owner, "rename this run")
    name = names.clean(name, MAX_RUN_NAME, "A run's name")
    meta = read_json(run.path / META_FILE, META_FILE)
    meta.setdefault("extra", {})["name"] = name
    write_atomic(run.path / META_FILE, json.dumps(meta, indent=1).encode("utf-8"))
    return read_run(run.path)


def delete_run(run: Run, actor: Actor = TERMINAL) -> None:
    """Remove a run: renamed into a dot-folder first (never listed), then deleted. Only its owner
    or the teacher may (owners.NotYours)."""
    actor.check(run.owner, "delete this run")
    base = runs_dir()
    if run.path.parent.resolve() != base.resolve():
        raise CatdogError("Only runs in this app's runs folder can be deleted.")
    doomed = base / f".deleting-{run.run_id}-{owner_tag()}{secrets.token_hex(2)}"
    try:
        os.rename(run.path, doomed)
    except OSError as exc:
        raise CatdogError(f"Could not delete run {run.run_id} ({exc.strerror or exc}).") from None
    shutil.rmtree(doomed, ignore_errors=True)
    forget_models(run.path)


def import_run(packed: bytes, run_id: str) -> Run:
    """A run folder sent back as a zip (by a Ray task) written into the runs folder whole:
    unpacked into a dot-folder, checked like any run, then renamed into place."""
    import io

    from ..sources import check_member_name

    if not re.fullmatch(r"[0-9]{8}-[0-9]{6}-[a-z]+-[0-9a-f]{4}", str(run_id)):
        raise CatdogError("The cluster sent back a run with a malformed name; it was not kept.")
    base = runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".incomplete-{run_id}-{owner_tag()}"
    try:
        tmp.mkdir()
        with zipfile.ZipFile(io.BytesIO(packed)) as archive:
            for member in archive.infolist():
                parts = check_member_name(member.filename, "the run sent back")
                if len(parts) != 1 or member.file_size > MAX_MODEL_BYTES:
                    raise CatdogError("The cluster sent back a run folder with unexpected files; it was not kept.")
                (tmp / parts[0]).write_bytes(archive.read(member))
        read_run(tmp)  # the same checks as every run read from disk
        os.rename(tmp, base / run_id)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, CatdogError):
            raise CatdogError(f"The run sent back by the cluster was refused: {exc}.") from None
        raise CatdogError(f"The run sent back by the cluster could not be written ({type(exc).__name__}).") from None
    return read_run(base / run_id)

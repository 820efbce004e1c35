"""The uploads kept in ``CATDOG_HOME/uploads``: each one's list entry (a JSON file beside its
zip), who may see and change it, and its removal and sharing. `uploads` makes them."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import config, sources
from ..errors import CatdogError
from ..fileio import write_atomic
from ..owners import TERMINAL, Actor, NotYours

INFO_SUFFIX = ".json"


@dataclass(frozen=True)
class ClassSet:
    """One saved upload, as the list of earlier uploads shows it."""

    path: Path
    name: str
    classes: tuple[str, ...]
    images: int
    created: float
    owners: tuple[str, ...] = ()  # the sessions that uploaded it (the same bytes twice: both)
    shared: bool = False  # the teacher showed it to the whole class


def uploads_dir() -> Path:
    return config.catdog_home() / "uploads"


def forget(target: Path) -> None:
    """Remove an upload and everything made from it."""
    try:
        extracted = sources.extracted_dir(target)
    except OSError:
        extracted = None
    if extracted is not None:
        shutil.rmtree(extracted, ignore_errors=True)
    target.unlink(missing_ok=True)
    target.with_suffix(INFO_SUFFIX).unlink(missing_ok=True)


def write_info(target: Path, info: dict) -> None:
    """Write an upload's list entry beside it."""
    try:
        write_atomic(target.with_suffix(INFO_SUFFIX), json.dumps(info).encode("utf-8", "surrogatepass"))
    except OSError:
        pass  # only the list of earlier uploads loses its label


def read_info(path: Path) -> ClassSet | None:
    """An upload's list entry, or None when it has none that can be read."""
    try:
        info = json.loads(path.with_suffix(INFO_SUFFIX).read_text(encoding="utf-8"))
        classes = tuple(str(c)[:100] for c in info.get("classes", [])[:100])
        owners = tuple(str(o)[:100] for o in info.get("owners", [])[:1000])
        return ClassSet(path, str(info.get("name", path.name))[:120], classes, int(info.get("images", 0)),
                        float(info.get("created", 0.0)), owners, info.get("shared") is True)
    except (OSError, ValueError, TypeError, AttributeError):
        return None  # an upload still being written, or one that was refused


def list_sets(actor: Actor = TERMINAL) -> list[ClassSet]:
    """Earlier uploads that `actor` may see, newest first, for reopening without uploading again: a
    student's own and those the teacher shared; the teacher sees every one (a set from before
    uploads had owners is the teacher's)."""
    folder = uploads_dir()
    found = [read_info(path) for path in (folder.glob("*.zip") if folder.is_dir() else ())]
    seen = [s for s in found if s is not None and (actor.teacher or s.shared or actor.owner in s.owners)]
    return sorted(seen, key=lambda s: s.created, reverse=True)


def _one_of(path: str | Path, actor: Actor) -> ClassSet:
    path = Path(path)
    if path.parent.resolve() != uploads_dir().resolve() or path.suffix != ".zip":
        raise CatdogError("Only uploads in this app's uploads folder can be removed.")
    found = read_info(path)
    if found is None or not (actor.teacher or actor.owner in found.owners):
        raise NotYours("You cannot change that upload: only whoever uploaded it or the teacher may.")
    return found


def delete_set(path: str | Path, actor: Actor = TERMINAL) -> None:
    """Remove one earlier upload (its zip, unpacked folder and list entry). A student removes it for
    themself: the files go when no one else uploaded the same set (the teacher's removal is for all)."""
    found = _one_of(path, actor)
    others = [o for o in found.owners if o != actor.owner]
    if actor.teacher or not others:
        forget(found.path)
        return
    info = json.loads(found.path.with_suffix(INFO_SUFFIX).read_text(encoding="utf-8"))
    write_info(found.path, {**info, "owners": others})


def share_set(path: str | Path, shared: bool, actor: Actor = TERMINAL) -> None:
    """The teacher shows an upload to the whole class (or hides it again)."""
    if not actor.teacher:
        raise NotYours("Only the teacher can share an upload with the class.")
    found = _one_of(path, actor)
    info = json.loads(found.path.with_suffix(INFO_SUFFIX).read_text(encoding="utf-8"))
    write_info(found.path, {**info, "shared": bool(shared)})

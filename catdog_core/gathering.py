"""The photos one session gathers on the Your classes page before saving them as a set: kept on
disk under CATDOG_HOME/gathering/<session>/ (never in the web server's memory), bounded in bytes
per session, and found again after a reload (the session's pass keeps its owner string).

Each photo is one file named by its content; `classes.json` beside them says which class holds
which, in order. A photo is checked as an upload is (images.inspect) before it is kept."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import config, dataset, images
from .errors import CatdogError
from .fileio import write_atomic

MAX_CLASSES = 10
MAX_PHOTOS = 200  # per class
MAX_BYTES = 100 * 1024**2  # the photos one session holds at once
INDEX = "classes.json"
# A session finds its folder again only through its pass, and a student's pass lasts 30 days
# (classroom.PASS_SECONDS); without a class a reload is a new session at once. A folder untouched
# for longer than any pass lasts has nobody left who can open it: sweep() removes it.
KEPT_DAYS = 31


@dataclass(frozen=True)
class Photo:
    shown: str  # the name it was uploaded under, made harmless (images.safe_display_name)
    file: str  # its file in the session's folder: <sha1>.<ext>


class Gathering:
    """One session's classes being built. Every change rewrites the small index atomically."""

    def __init__(self, owner: str, home: Path | None = None):
        digest = hashlib.sha1(owner.encode("utf-8")).hexdigest()[:20]
        self.folder = Path(home if home is not None else config.catdog_home()) / "gathering" / digest

    def classes(self) -> dict[str, list[Photo]]:
        """{class name: its photos, oldest first}; {} when nothing was gathered (or the index is unusable)."""
        try:
            raw = json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
            return {str(name): [Photo(str(s), str(f)) for s, f in photos if self._known(str(f))]
                    for name, photos in list(raw.items())[:MAX_CLASSES]}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def _known(self, file: str) -> bool:
        return "/" not in file and not file.startswith(".") and (self.folder / file).is_file()

    def _save(self, classes: dict[str, list[Photo]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / INDEX, json.dumps(
            {name: [[p.shown, p.file] for p in photos] for name, photos in classes.items()}).encode("utf-8"))
        used = {p.file for photos in classes.values() for p in photos} | {INDEX}
        for path in self.folder.iterdir():  # a photo no class holds any more
            if path.name not in used and not path.name.startswith(".tmp-"):
                path.unlink(missing_ok=True)

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file()) if self.folder.is_dir() else 0

    def add_class(self, name: str) -> None:
        """A new, empty class; CatdogError with a sentence for a name a folder cannot have."""
        classes = self.classes()
        if not name:
            raise CatdogError("Give the class a name.")
        if len(name) > 60 or any(ch in name for ch in '/\\\0:') or name.startswith("."):
            raise CatdogError("A class name is up to 60 characters, without / \\ : or a leading dot.")
        if name in classes:
            raise CatdogError(f"There is already a class called {name}.")
        if len(classes) >= MAX_CLASSES:
            raise CatdogError(f"Up to {MAX_CLASSES} classes.")
        classes[name] = []
        self._save(classes)

    def remove_class(self, name: str) -> None:
        classes = self.classes()
        classes.pop(name, None)
        self._save(classes)

    def add_photos(self, name: str, files) -> list[str]:
        """Keep each photo (name, bytes) in class `name`; returns what was refused and why, a sentence each."""
        classes = self.classes()
        if name not in classes:
            return []
        problems, used = [], self.used_bytes()
        for file_name, data in files:
            if len(classes[name]) >= MAX_PHOTOS:
                problems.append(f"{name} already has {MAX_PHOTOS} photos.")
                break
            if used + len(data) > MAX_BYTES:
                problems.append(f"Your photos would take more than {MAX_BYTES // 2**20} MB on this server; save "
                                "these classes as a set, or remove some photos, before adding more.")
                break
            try:
                images.inspect(data)
            except CatdogError as exc:
                problems.append(f"{images.safe_display_name(file_name)}: {exc}")
                continue
            file = self._keep(data)
            if all(p.file != file for p in classes[name]):  # the same photo twice: kept once
                classes[name].append(Photo(images.safe_display_name(file_name), file))
                used += len(data)
        self._save(classes)
        return problems

    def _keep(self, data: bytes) -> str:
        ext = dataset.FORMAT_EXTENSION.get(images.describe_format(data[:1024]) or "JPEG", ".jpg")
        file = hashlib.sha1(data).hexdigest()[:24] + ext
        if not (self.folder / file).is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / file, bytes(data))
        return file

    def remove_photo(self, name: str, file: str) -> None:
        classes = self.classes()
        classes[name] = [p for p in classes.get(name, []) if p.file != file]
        self._save(classes)

    def read(self, photo: Photo) -> bytes:
        return (self.folder / photo.file).read_bytes()

    def as_zip(self) -> bytes:
        """The gathered classes as a zip of class folders: what uploads.import_zip takes."""
        from .uploads import zip_of_classes

        return zip_of_classes({name: [(p.shown, self.read(p)) for p in photos]
                               for name, photos in self.classes().items()})

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def sweep(home: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the gathering folders no session can reach any more (nothing in them changed for
    KEPT_DAYS); returns them. The web server sweeps once per home when it starts."""
    root = Path(home if home is not None else config.catdog_home()) / "gathering"
    now = time.time() if now is None else now
    removed = []
    try:
        folders = [f for f in root.iterdir() if f.is_dir() and not f.is_symlink()]
    except OSError:
        return removed
    for folder in folders:
        try:
            newest = max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
        except (OSError, ValueError):
            continue
        if now - newest > KEPT_DAYS * 86400:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed

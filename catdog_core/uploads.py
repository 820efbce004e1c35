"""Users' own classes: zips uploaded from the browser, checked and kept in
``CATDOG_HOME/uploads``, with limits on what one upload and all of them
together may cost, and a list to reopen them from.

A refused upload keeps nothing: not the zip, not its unpacked folder, not its
decoded images. Every failure, from a damaged archive to a full disk, is one
sentence (InvalidDataset or CatdogError), never a traceback.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import config, dataset, sources
from .dataset.files import class_name
from .errors import CatdogError, InvalidDataset
from .fileio import write_atomic
from .owners import TERMINAL, Actor, NotYours
from .progress import Progress
from .sources import ZipLimits

# One uploaded zip, compressed; checked before anything is written. The same number is Streamlit's
# per-file limit in .streamlit/config.toml (server.maxUploadSize, in MB) and SECURITY.md's (a test
# holds the three together). A larger set comes as photos (import_zip(..., from_photos=True)).
MAX_UPLOAD_ZIP_BYTES = 50 * 1024**2
LIMITS = ZipLimits(members=5_000, total_bytes=500 * 1024**2, member_bytes=dataset.MAX_FILE_BYTES)
QUOTA_BYTES = 2 * 1024**3  # every upload together: zips and their unpacked folders
STUDENT_SHARE_BYTES = QUOTA_BYTES // 4  # what one student's uploads may take of it
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


def _upload_stem(name: str) -> str:
    """An uploaded file's name reduced to a harmless file-name stem."""
    stem = Path(str(name).replace("\\", "/").rsplit("/", 1)[-1]).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:40].strip("._") or "upload"


def _class_folders(names: list[str], shown: str) -> list[str] | None:
    """The class folder names a zip's member list implies (None for a train/validation layout)."""
    paths = []
    for member in names:
        parts = sources.check_member_name(member, shown)
        if parts and not member.endswith("/") and not any(p.startswith((".", "__MACOSX")) for p in parts):
            paths.append(parts)
    folders: set[str] = set()
    for _ in range(4):  # a top folder that only wraps folders is not a class: look inside it
        folders = {p[0] for p in paths if len(p) > 1}
        loose = any(len(p) == 1 for p in paths)
        wraps_folders = len(folders) == 1 and any(len(p) > 2 for p in paths)
        if wraps_folders and not loose and "train" not in folders:
            paths = [p[1:] for p in paths]
            continue
        break
    if "train" in folders:
        return None
    return sorted({class_name(f) for f in folders})  # NFC, and control or bidi characters refused here


def _used_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass
    return total


def _set_bytes(zip_path: Path) -> int:
    """What one upload takes: its zip and its unpacked folder."""
    try:
        return zip_path.stat().st_size + _used_bytes(sources.extracted_dir(zip_path))
    except OSError:
        return 0


def _quota_left() -> int:
    """Bytes the uploads may still take: the zips and their unpacked folders count."""
    used = _used_bytes(uploads_dir())
    for zip_path in uploads_dir().glob("*.zip") if uploads_dir().is_dir() else ():
        try:
            used += _used_bytes(sources.extracted_dir(zip_path))
        except OSError:
            pass
    return QUOTA_BYTES - used


def _check_quota(size: int, uploader: str) -> None:
    """Refuse, in one sentence with the limit, an upload of `size` bytes (zip and unpacked) past
    the class's space or past the uploader's share of it."""
    if size > _quota_left():
        raise CatdogError(f"The space for uploaded classes on this server is full "
                          f"({QUOTA_BYTES / 2**30:.0f} GB); remove an earlier upload first.")
    if uploader:
        used = sum(_set_bytes(s.path) for s in list_sets(Actor(uploader)) if uploader in s.owners)
        if used + size > STUDENT_SHARE_BYTES:
            raise CatdogError(f"Your uploads would take {(used + size) / 2**20:.0f} MB; each student may keep "
                              f"{STUDENT_SHARE_BYTES // 2**20} MB, so remove one of yours first.")


def _forget(target: Path) -> None:
    """Remove an upload and everything made from it."""
    try:
        extracted = sources.extracted_dir(target)
    except OSError:
        extracted = None
    if extracted is not None:
        shutil.rmtree(extracted, ignore_errors=True)
    target.unlink(missing_ok=True)
    target.with_suffix(INFO_SUFFIX).unlink(missing_ok=True)


def import_zip(data: bytes, name: str, progress: Progress | None = None, from_photos: bool = False,
               uploader: str = "") -> Path:
    """An uploaded zip of class folders, checked and kept in CATDOG_HOME/uploads; returns its path.

    The zip holds one folder of images per class (split automatically) or the
    post's train/ and validation/ layout. Anything unusable raises
    InvalidDataset (or CatdogError for the server's own trouble) and leaves
    nothing behind. `from_photos`: the zip was made here from photos uploaded one by one
    (zip_of_classes), each within Streamlit's per-file limit; the set may then be as large as
    an unpacked upload may be (LIMITS.total_bytes). `uploader`: the session it is kept for (only
    it and the teacher see it, see list_sets), within its share of the space.
    """
    shown = _upload_stem(name) + ".zip"
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidDataset("No file contents were received.")
    data = bytes(data)
    limit = LIMITS.total_bytes if from_photos else MAX_UPLOAD_ZIP_BYTES
    if len(data) > limit:
        more = "" if from_photos else "; a larger set can be added as photos on the Your classes page"
        raise InvalidDataset(f"{shown} is {len(data) / 1024**2:.0f} MB; uploads are limited to "
                             f"{limit // 1024**2} MB, so use fewer or smaller images{more}.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = sources.check_members(archive, shown, LIMITS)
            names = [m.filename for m in members]
            unpacked_size = sum(m.file_size for m in members)
    except InvalidDataset:
        raise
    except Exception:
        raise InvalidDataset(f"{shown} is not a zip archive (or is damaged); zip your class folders and upload that.") from None
    classes = _class_folders(names, shown)
    if classes is not None and len(classes) < 2:
        found = f"only one class folder ({classes[0][:60]})" if classes else "no class folders"
        raise InvalidDataset(f"{shown} has {found}; put at least two folders in the zip, one per class, "
                             "each holding that class's images.")

    import hashlib

    folder = uploads_dir()
    target = folder / f"{_upload_stem(name)}-{hashlib.sha1(data).hexdigest()[:12]}.zip"
    known = target.is_file()
    if not known:
        _check_quota(len(data) + unpacked_size, uploader)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not known:  # the same bytes again reuse the file, its unpacked copy and the cache
            write_atomic(target, data)
    except OSError as exc:
        raise sources.zip_problem(exc, shown) from None

    loaded = None
    try:
        loaded = dataset.load_dataset(target, progress=progress)
        _check_upload(loaded, classes)
    except Exception as exc:
        if loaded is not None:
            dataset.forget(loaded.key)  # its decoded images too: nothing refused is kept
        message = _as_uploaded(str(exc), target, shown)  # before the files it names are gone
        _forget(target)
        if isinstance(exc, CatdogError):
            raise type(exc)(message) from None
        raise sources.zip_problem(exc, shown) from None
    before = _read_info(target) if known else None
    info = {"name": Path(str(name).replace("\\", "/")).name[:120], "classes": list(loaded.class_names),
            "images": sum(len(loaded.split(s)) for s in dataset.SPLITS), "created": time.time(),
            "owners": sorted(set(before.owners if before else ()) | ({uploader} if uploader else set())),
            "shared": bool(before and before.shared)}
    _write_info(target, info)
    return target


def _write_info(target: Path, info: dict) -> None:
    try:
        write_atomic(target.with_suffix(INFO_SUFFIX), json.dumps(info).encode("utf-8", "surrogatepass"))
    except OSError:
        pass  # only the list of earlier uploads loses its label


def _as_uploaded(message: str, target: Path, shown: str) -> str:
    """A refusal that names the upload as the user named it, never where this server keeps it."""
    try:
        unpacked = [str(sources.extracted_dir(target))]
    except OSError:
        unpacked = []
    for stored in unpacked + [str(target), f"local zip {target.name}", target.name]:
        message = message.replace(stored, shown)
    return message.replace(str(config.catdog_home()), "this server")


def zip_of_classes(classes: dict[str, list[tuple[str, bytes]]]) -> bytes:
    """Photos gathered per class (in the browser) as a zip of class folders: what import_zip takes."""
    from .images import describe_format

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, photos in classes.items():
            for i, (_, data) in enumerate(photos):
                ext = dataset.FORMAT_EXTENSION.get(describe_format(data[:1024]) or "JPEG", ".jpg")
                # A fixed date: the same photos make the same bytes (uploads are kept by content)
                archive.writestr(zipfile.ZipInfo(f"{name}/{i:03d}{ext}", date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _check_upload(data: dataset.Dataset, folders: list[str] | None) -> None:
    """What the loader tolerates in a prepared dataset but an upload should not have."""
    for folder in folders or ():
        if folder not in data.class_names:
            raise InvalidDataset(f"Class '{folder[:60]}' has no usable images (JPEG, PNG, GIF, BMP or WebP); "
                                 f"each class needs at least {dataset.MIN_IMAGES_PER_CLASS}.")
    counts = dataset.label_counts(data)
    for name in data.class_names:
        total = sum(counts[s][name] for s in dataset.SPLITS)
        if total < dataset.MIN_IMAGES_PER_CLASS:
            raise InvalidDataset(f"Class '{name[:60]}' has {total} usable images; each class needs at least "
                                 f"{dataset.MIN_IMAGES_PER_CLASS}.")
        if counts["train"][name] == 0:
            raise InvalidDataset(f"Class '{name[:60]}' has no training images; put some in train/{name[:60]}/.")


def _read_info(path: Path) -> ClassSet | None:
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
    found = [_read_info(path) for path in (folder.glob("*.zip") if folder.is_dir() else ())]
    seen = [s for s in found if s is not None and (actor.teacher or s.shared or actor.owner in s.owners)]
    return sorted(seen, key=lambda s: s.created, reverse=True)


def _one_of(path: str | Path, actor: Actor) -> ClassSet:
    path = Path(path)
    if path.parent.resolve() != uploads_dir().resolve() or path.suffix != ".zip":
        raise CatdogError("Only uploads in this app's uploads folder can be removed.")
    found = _read_info(path)
    if found is None or not (actor.teacher or actor.owner in found.owners):
        raise NotYours("You cannot change that upload: only whoever uploaded it or the teacher may.")
    return found


def delete_set(path: str | Path, actor: Actor = TERMINAL) -> None:
    """Remove one earlier upload (its zip, unpacked folder and list entry). A student removes it for
    themself: the files go when no one else uploaded the same set (the teacher's removal is for all)."""
    found = _one_of(path, actor)
    others = [o for o in found.owners if o != actor.owner]
    if actor.teacher or not others:
        _forget(found.path)
        return
    info = json.loads(found.path.with_suffix(INFO_SUFFIX).read_text(encoding="utf-8"))
    _write_info(found.path, {**info, "owners": others})


def share_set(path: str | Path, shared: bool, actor: Actor = TERMINAL) -> None:
    """The teacher shows an upload to the whole class (or hides it again)."""
    if not actor.teacher:
        raise NotYours("Only the teacher can share an upload with the class.")
    found = _one_of(path, actor)
    info = json.loads(found.path.with_suffix(INFO_SUFFIX).read_text(encoding="utf-8"))
    _write_info(found.path, {**info, "shared": bool(shared)})

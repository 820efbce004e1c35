"""Users' own classes: zips uploaded from the browser, checked and kept in
``CATDOG_HOME/uploads``, with limits on what one upload and all of them
together may cost, and a list to reopen them from.

A refused upload keeps nothing: not the zip, not its unpacked folder, not its
decoded images. Every failure, from a damaged archive to a full disk, is one
sentence (InvalidDataset or CatdogError), never a traceback. The kept uploads'
list, owners, removal and sharing are uploads/sets.py's.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import config, dataset, sources
from ..dataset.files import class_name
from ..errors import CatdogError, InvalidDataset
from ..fileio import write_atomic
from ..owners import Actor
from ..progress import Progress
from ..sources import ZipLimits
from .sets import (INFO_SUFFIX, ClassSet, delete_set, forget, list_sets, read_info, share_set, uploads_dir,
                   write_info)

# One uploaded zip, compressed; checked before anything is written. The same number is Streamlit's
# per-file limit in .streamlit/config.toml (server.maxUploadSize, in MB) and SECURITY.md's (a test
# holds the three together). A larger set comes as photos (import_zip(..., from_photos=True)).
MAX_UPLOAD_ZIP_BYTES = 50 * 1024**2
LIMITS = ZipLimits(members=5_000, total_bytes=500 * 1024**2, member_bytes=dataset.MAX_FILE_BYTES)
QUOTA_BYTES = 2 * 1024**3  # every upload together: zips and their unpacked folders
STUDENT_SHARE_BYTES = QUOTA_BYTES // 4  # what one student's uploads may take of it

__all__ = [  # this module's names, and those of the kept sets, as callers know them
    "INFO_SUFFIX", "LIMITS", "MAX_UPLOAD_ZIP_BYTES", "QUOTA_BYTES", "STUDENT_SHARE_BYTES", "ClassSet",
    "delete_set", "import_zip", "list_sets", "share_set", "uploads_dir", "zip_of_classes",
]


@dataclass(frozen=True)
class _Listing:
    """What an uploaded zip's member list says, read before anything is written."""

    classes: list[str] | None  # the class folders it implies (None: a train/validation layout)
    unpacked_bytes: int


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
    data = _checked_size(data, shown, from_photos)
    listing = _read_listing(data, shown)
    target, known = _keep_zip(data, name, shown, listing, uploader)
    loaded = _load_checked(target, listing.classes, shown, progress)
    write_info(target, _list_entry(name, loaded, read_info(target) if known else None, uploader))
    return target


def _list_entry(name: str, loaded: dataset.Dataset, before: ClassSet | None, uploader: str) -> dict:
    """The upload as the list of earlier uploads shows it; the same bytes again add their uploader."""
    return {"name": Path(str(name).replace("\\", "/")).name[:120], "classes": list(loaded.class_names),
            "images": sum(len(loaded.split(s)) for s in dataset.SPLITS), "created": time.time(),
            "owners": sorted(set(before.owners if before else ()) | ({uploader} if uploader else set())),
            "shared": bool(before and before.shared)}


def _checked_size(data, shown: str, from_photos: bool) -> bytes:
    """The upload's bytes, refused when missing or over the limit for its kind."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidDataset("No file contents were received.")
    data = bytes(data)
    limit = LIMITS.total_bytes if from_photos else MAX_UPLOAD_ZIP_BYTES
    if len(data) > limit:
        more = "" if from_photos else "; a larger set can be added as photos on the Your classes page"
        raise InvalidDataset(f"{shown} is {len(data) / 1024**2:.0f} MB; uploads are limited to "
                             f"{limit // 1024**2} MB, so use fewer or smaller images{more}.")
    return data


def _read_listing(data: bytes, shown: str) -> _Listing:
    """The zip's members checked, and the class folders they imply: at least two."""
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
    return _Listing(classes, unpacked_size)


def _keep_zip(data: bytes, name: str, shown: str, listing: _Listing, uploader: str) -> tuple[Path, bool]:
    """The zip written into the uploads folder under a name from its content, within the quota;
    returns its path and whether the same bytes were kept already."""
    import hashlib

    folder = uploads_dir()
    target = folder / f"{_upload_stem(name)}-{hashlib.sha1(data).hexdigest()[:12]}.zip"
    known = target.is_file()
    if not known:
        _check_quota(len(data) + listing.unpacked_bytes, uploader)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not known:  # the same bytes again reuse the file, its unpacked copy and the cache
            write_atomic(target, data)
    except OSError as exc:
        raise sources.zip_problem(exc, shown) from None
    return target, known


def _load_checked(target: Path, classes: list[str] | None, shown: str,
                  progress: Progress | None) -> dataset.Dataset:
    """The kept zip loaded as a dataset and checked as an upload; a refusal removes all of it."""
    loaded = None
    try:
        loaded = dataset.load_dataset(target, progress=progress)
        _check_upload(loaded, classes)
    except Exception as exc:
        if loaded is not None:
            dataset.forget(loaded.key)  # its decoded images too: nothing refused is kept
        message = _as_uploaded(str(exc), target, shown)  # before the files it names are gone
        forget(target)
        if isinstance(exc, CatdogError):
            raise type(exc)(message) from None
        raise sources.zip_problem(exc, shown) from None
    return loaded


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
    from ..images import describe_format

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

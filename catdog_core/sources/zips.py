"""Zips of datasets: every member checked from the archive's list before anything is written
(paths, names, sizes, methods, bombs), unpacked once per machine under a lock into a temporary
folder renamed into place, and every failure turned into one sentence."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import CatdogError, InvalidDataset
from ..fileio import owner_tag
from .locks import exclusive, lock_path
from ..progress import Progress

MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed, for a dataset zip named by the teacher
MAX_ZIP_MEMBERS = 200_000
MAX_NAME_BYTES = 255  # one path component, as most filesystems allow
MAX_PATH_BYTES = 1024


@dataclass(frozen=True)
class ZipLimits:
    members: int = MAX_ZIP_MEMBERS
    total_bytes: int = MAX_ZIP_BYTES
    member_bytes: int = MAX_ZIP_BYTES


def extracted_dir(path: Path) -> Path:
    """Where a local zip is unpacked: a new folder whenever the zip file changes."""
    stat = path.stat()
    tag = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return config.catdog_home() / "datasets" / f"{path.stem[:60]}-{tag}"


def check_member_name(name: str, shown: str) -> list[str]:
    """A zip member's path parts, refusing anything that could land outside the archive's folder."""
    if "\x00" in name:
        raise InvalidDataset(f"{shown} has a member whose name holds a NUL character; it was not imported.")
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise InvalidDataset(f"{shown} contains a path outside the archive ({name[:80]}); it was not imported.")
    parts = [p for p in parts if p not in ("", ".")]
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES or any(
            len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise InvalidDataset(f"{shown} has a member with a name longer than files may have "
                             f"({name[:60]}…); shorten the folder or file names and zip it again.")
    return parts


def check_members(archive: zipfile.ZipFile, shown: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Every member checked before anything is written: count, sizes, names, encryption, compression."""
    members = archive.infolist()
    if len(members) > limits.members:
        raise InvalidDataset(f"{shown} holds {len(members):,} files, over the limit of {limits.members:,}.")
    for member in members:
        _check_member(member, shown, limits)
    total = sum(member.file_size for member in members)
    if total > limits.total_bytes:
        raise InvalidDataset(f"{shown} unpacks to {total / 2**20:,.0f} MB, over the "
                             f"{limits.total_bytes / 2**20:,.0f} MB limit.")
    return members


def _check_member(member: zipfile.ZipInfo, shown: str, limits: ZipLimits) -> None:
    """One member's name, encryption, compression method and size."""
    check_member_name(member.filename, shown)
    if member.flag_bits & 0x1:
        raise InvalidDataset(f"{shown} is password-protected (encrypted); zip the folders without a password.")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                    zipfile.ZIP_LZMA):
        raise InvalidDataset(f"{shown} uses a compression method this app cannot unpack "
                             f"(method {member.compress_type}); zip it again with ordinary (deflate) compression.")
    if member.file_size > limits.member_bytes:
        raise InvalidDataset(f"{shown} has a file of {member.file_size / 2**20:,.0f} MB "
                             f"({member.filename[-60:]}), over the {limits.member_bytes / 2**20:,.0f} MB limit per file.")


def unpack(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], dest: Path, shown: str,
           progress: Progress | None = None) -> None:
    """Write checked members under dest, never more bytes than each declares."""
    for i, member in enumerate(members):
        parts = check_member_name(member.filename, shown)
        if not parts:
            continue
        target = dest.joinpath(*parts)
        if member.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as src, open(target, "xb") as out:
            left = member.file_size
            while chunk := src.read(min(1 << 20, left + 1)):
                left -= len(chunk)
                if left < 0:  # zipfile checks too; this keeps a lying header from filling the disk
                    raise InvalidDataset(f"{shown} is damaged: {member.filename[-60:]} is longer than it says.")
                out.write(chunk)
        if progress and i % 200 == 0:
            progress(i, len(members), "Unpacking the dataset")


def zip_problem(exc: BaseException, shown: str) -> CatdogError:
    """Any failure while reading or unpacking a zip, as one sentence."""
    if isinstance(exc, CatdogError):
        return exc
    if isinstance(exc, (zipfile.BadZipFile, EOFError, ValueError, zipfile.LargeZipFile)):
        return InvalidDataset(f"{shown} is a damaged zip archive; zip the folders again.")
    if isinstance(exc, NotImplementedError):
        return InvalidDataset(f"{shown} uses a zip feature this app cannot unpack; zip it again with ordinary settings.")
    if isinstance(exc, RuntimeError):  # zipfile's "password required" and friends
        return InvalidDataset(f"{shown} could not be unpacked ({str(exc)[:80]}).")
    if isinstance(exc, OSError):
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return CatdogError(f"The disk is full while unpacking {shown}; nothing was kept. Free some space "
                               f"or set {config.ENV_HOME} to a bigger disk.")
        if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            return InvalidDataset(f"{shown} has a file and a folder with the same name; rename one and zip it again.")
        if exc.errno == errno.ENAMETOOLONG:
            return InvalidDataset(f"{shown} has a name longer than files may have; shorten it and zip again.")
        return CatdogError(f"Could not unpack {shown} ({exc.strerror or type(exc).__name__}); nothing was kept.")
    return CatdogError(f"Could not unpack {shown} ({type(exc).__name__}); nothing was kept.")


def extract_zip(path: Path, progress: Progress | None = None, limits: ZipLimits | None = None) -> Path:
    """Unpack a local zip once into CATDOG_HOME; refuses paths outside it and zip bombs.

    Threads and processes asking at once share one unpacking (a lock file,
    then an atomic rename); a refused or failed zip leaves nothing behind.
    """
    dest = extracted_dir(path)
    if dest.exists():
        return dest
    with exclusive(lock_path(f"unpack-{dest.name[:200]}")):
        if not dest.exists():  # another thread or process may have unpacked it while this one waited
            _unpack_into_place(path, dest, limits or ZipLimits(), progress)
    return dest


def _unpack_into_place(path: Path, dest: Path, limits: ZipLimits, progress: Progress | None) -> None:
    """Check and unpack into a temporary folder beside dest, renamed to dest only when complete."""
    shown = path.name[:80]
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".unzip-{owner_tag()}"))
        with zipfile.ZipFile(path) as archive:
            members = check_members(archive, shown, limits)
            unpack(archive, members, tmp, shown, progress)
        os.replace(tmp, dest)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception):
            raise zip_problem(exc, shown) from None
        raise

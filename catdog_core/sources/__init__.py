"""Where a dataset comes from: a local folder, a local zip, or the post's archive
downloaded into Keras' cache. This module finds it, downloads it (with
progress) and unpacks it, once per machine (a local zip through sources/zips.py, under
the locks of sources/locks.py).

Unpacking is safe to ask for from many threads and processes at once (eight
browser tabs opened right after the server starts, a CLI beside the app): one
of them unpacks under a lock file into a temporary folder and renames it into
place; the others wait for the lock and find the folder ready.
"""

from __future__ import annotations

import os
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import DatasetUnavailable, InvalidDataset, NotUnpacked
from ..fileio import write_atomic
from .locks import STALE_SECONDS, TEMP_PREFIXES, clean_leftovers, exclusive, lock_path
from ..progress import Progress
from .zips import (MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_ZIP_BYTES, MAX_ZIP_MEMBERS, ZipLimits,
                   check_member_name, check_members, extract_zip, extracted_dir, unpack, zip_problem)

DOWNLOADING = "Downloading the dataset"  # the one phase whose done and total count bytes (see progress.py)

__all__ = [  # this module's names, and those of the locks and zips it uses, as callers know them
    "DOWNLOADING", "MAX_NAME_BYTES", "MAX_PATH_BYTES", "MAX_ZIP_BYTES", "MAX_ZIP_MEMBERS", "STALE_SECONDS",
    "TEMP_PREFIXES", "DataSource", "ZipLimits", "check_member_name", "check_members", "clean_leftovers",
    "dataset_root", "downloaded_here", "exclusive", "extract_zip", "extracted_dir", "find_source",
    "lock_path", "offline_message", "unpack", "visible_dirs", "zip_problem",
]


@dataclass(frozen=True)
class DataSource:
    """Where the images came from, in words a student can read."""

    kind: str  # "download", "folder" or "zip"
    location: str
    root: Path
    description: str


def find_source(data: str | os.PathLike | None = None, progress: Progress | None = None,
                allow_download: bool = True, unpack: bool = True) -> DataSource:
    """The argument, else $CATDOG_DATA_DIR, else the post's archive via Keras' cache.

    With unpack=False nothing slow happens: a zip not unpacked yet raises
    DatasetUnavailable instead (for callers that only look, without a progress bar).
    """
    chosen = data if data is not None else config.data_dir_setting()
    if chosen is not None:
        return _local_source(Path(chosen).expanduser(), progress, unpack)
    return _downloaded_source(progress, allow_download and unpack, unpack)


def _not_unpacked(name: str) -> NotUnpacked:
    return NotUnpacked(f"{name} is not unpacked yet; loading the dataset unpacks it.")


def _local_source(path: Path, progress: Progress | None, unpack: bool = True) -> DataSource:
    try:
        exists, is_file, is_dir = path.exists(), path.is_file(), path.is_dir()
    except OSError:  # a name too long for the filesystem, a permission problem on the way
        exists = is_file = is_dir = False
    if not exists:
        raise DatasetUnavailable(
            f"The dataset path {path} does not exist; point {config.ENV_DATA_DIR} "
            f"(or --data) at {config.EXPECTED_LAYOUT}."
        )
    if is_file:
        if not zipfile.is_zipfile(path):
            raise InvalidDataset(f"{path.name} is neither a folder nor a .zip archive; expected {config.EXPECTED_LAYOUT}.")
        if not unpack and not extracted_dir(path).exists():
            raise _not_unpacked(path.name)
        root = dataset_root(extract_zip(path, progress))
        return DataSource("zip", str(path), root, f"local zip {path.name}")
    if not is_dir:  # a device, a pipe, a socket: nothing to read a dataset from (and never opened)
        raise InvalidDataset(f"{path.name} is neither a folder nor a .zip archive (it is a device, a pipe or "
                             f"another special file); expected {config.EXPECTED_LAYOUT}.")
    return DataSource("folder", str(path), dataset_root(path), f"local folder {path.name}")


def _downloaded_source(progress: Progress | None, allow_download: bool, unpack: bool = True) -> DataSource:
    datasets = config.keras_home() / "datasets"
    archive = datasets / config.DATA_FNAME
    extracted = datasets / (config.DATA_FNAME.split(".")[0] + "_extracted")
    marker = extracted / ".catdog-complete"
    if not marker.exists():
        if not archive.exists():
            if not allow_download:
                raise DatasetUnavailable(offline_message("it has not been downloaded yet"))
            _download(config.DATA_URL, archive, progress)
        if not unpack:
            raise _not_unpacked(config.DATA_FNAME)
        with exclusive(lock_path("unpack-download")):  # two loaders at once unpack it once
            if not marker.exists():
                _extract_with_keras(progress)
                marker.write_text("ok\n")
    return DataSource("download", config.DATA_URL, dataset_root(extracted), config.DATA_DESCRIPTION)


def offline_message(why: str) -> str:
    return (
        f"The cats-and-dogs dataset is not available ({why}). Download "
        f"{config.DATA_URL} on a machine with internet and set {config.ENV_DATA_DIR} to the "
        f"zip or its unpacked folder: {config.EXPECTED_LAYOUT}. Offline, the transfer recipe also needs "
        f"{config.ENV_BASE_WEIGHTS} set to a MobileNetV2 no-top .h5 weights file. Restart the app afterwards."
    )


def _download(url: str, target: Path, progress: Progress | None) -> None:
    """Fetch into Keras' cache under a temporary name, renamed only when complete."""
    def fetch(out):
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, DOWNLOADING)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, fetch)
        _downloaded_marker(target).write_text("downloaded by catdog\n")
    except OSError as exc:
        raise DatasetUnavailable(offline_message(f"the download failed: {exc}")) from None


def _downloaded_marker(archive: Path) -> Path:
    return archive.with_name(archive.name + ".catdog-downloaded")


def downloaded_here() -> bool:
    """Whether the post's archive in Keras' cache was downloaded by this app; False for a copy put
    there by hand (or by Keras for another program), which the Home page must not call a download."""
    return _downloaded_marker(config.keras_home() / "datasets" / config.DATA_FNAME).is_file()


def _extract_with_keras(progress: Progress | None) -> None:
    import keras  # heavy; only needed here

    if progress:
        progress(0, 0, "Unpacking the dataset")
    try:
        keras.utils.get_file(config.DATA_FNAME, origin=config.DATA_URL, extract=True,
                             cache_dir=str(config.keras_home()))
    except Exception as exc:  # a damaged archive or a failed re-download
        raise DatasetUnavailable(offline_message(f"unpacking failed: {exc}")) from None


def visible_dirs(path: Path) -> list[Path]:
    """The folders inside `path` a dataset may use: no links, hidden folders or macOS leftovers."""
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()
                  and not p.name.startswith((".", "__MACOSX")))


def dataset_root(path: Path) -> Path:
    """Descend through single wrapper folders (a zip's top folder) to the layout."""
    try:
        return _descend(path)
    except OSError as exc:  # unreadable folder, a link loop, a folder that vanished meanwhile
        raise InvalidDataset(f"The dataset folder {path.name} could not be read ({exc.strerror or exc}); "
                             f"expected {config.EXPECTED_LAYOUT}.") from None


def _descend(path: Path) -> Path:
    for _ in range(4):
        if (path / "train").is_dir():
            return path
        subdirs = visible_dirs(path)
        has_files = any(p.is_file() for p in path.iterdir() if not p.name.startswith("."))
        if len(subdirs) == 1 and not has_files:
            path = subdirs[0]
            continue
        if subdirs:
            return path  # class folders directly: split automatically
        break
    raise InvalidDataset(f"{path} holds no class folders; expected {config.EXPECTED_LAYOUT}.")

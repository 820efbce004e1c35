"""The class's own files: its private folder, the error a damaged one raises, and server.json,
what a running `catdog classroom` says about itself (its addresses, its process)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..fileio import write_atomic


class ClassroomError(Exception):
    """Something about the class's own files that the teacher must fix (not a student's doing)."""


def class_folder(home: Path | None = None) -> Path:
    """CATDOG_HOME/classroom, made private to the teacher (0700) if it was not."""
    path = Path(home if home is not None else config.catdog_home()) / "classroom"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@dataclass(frozen=True)
class ServerInfo:
    """A running `catdog classroom`: its https addresses (best first) and its process."""

    urls: tuple[str, ...]
    pid: int
    fingerprint: str = ""


def write_server_info(where: Path, info: ServerInfo) -> None:
    write_atomic(where / "server.json", json.dumps({"urls": list(info.urls), "pid": info.pid,
                                                    "fingerprint": info.fingerprint}).encode())


def clear_server_info(where: Path, pid: int) -> None:
    """Remove server.json if it is this process's (a second server may have started since)."""
    info = _read_server_info(where / "server.json")
    if info is not None and info.pid == pid:
        (where / "server.json").unlink(missing_ok=True)


def server_info(home: Path | None = None) -> ServerInfo | None:
    """The class server of this home while it runs, else None."""
    info = _read_server_info(Path(home if home is not None else config.catdog_home()) / "classroom" / "server.json")
    return info if info is not None and _alive(info.pid) else None


def _read_server_info(path: Path) -> ServerInfo | None:
    try:
        if not path.is_file() or path.stat().st_size > 64 * 1024:
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        info = ServerInfo(tuple(str(u) for u in raw["urls"] if str(u).startswith("https://")), int(raw["pid"]),
                          str(raw.get("fingerprint", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Servers a test starts and watches: `streamlit run app.py` on a free port, the processes it
started, whether one has ended or loads TensorFlow. Written once; the browser, load and classroom
tests use it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from _common import free_port, stop_process, wait_healthy  # conftest put benchmarks/ on the path
from bench_door import ClassServer  # the benchmarks' classroom server, shared
from conftest import REPO


class ServerURL(str):
    """The server's URL, with the process id of `streamlit run` (to read what it has loaded)."""

    pid: int


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (the model service's lanes, a training worker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def ended(pid: int) -> bool:
    """Whether a process is gone, or a zombie its parent has not reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def loads_tensorflow(pid: int) -> bool:
    """Whether a live process has TensorFlow's native library mapped (Keras brings it too)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "tensorflow" in maps.lower()


@contextlib.contextmanager
def streamlit_server(tmp_path: Path, **settings: str):
    """`streamlit run app.py` on a free port with these env settings; yields its URL, always stops it."""
    port = free_port()
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"), TF_CPP_MIN_LOG_LEVEL="2", **settings)
    log_path = tmp_path / "streamlit.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],  # the rest: config.toml
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = ServerURL(f"http://127.0.0.1:{port}")
    url.pid = process.pid
    try:
        try:
            wait_healthy(url, process)
        except RuntimeError:
            raise AssertionError("streamlit did not start:\n" + log_path.read_text()) from None
        yield url
    finally:
        stop_process(process)
        log.close()


def start_classroom(home: Path, temp: Path, **settings) -> ClassServer:
    """`catdog classroom` on loopback with this home and temporary folder; the caller stops it."""
    temp.mkdir(parents=True, exist_ok=True)
    server = ClassServer(home, TMPDIR=str(temp), **settings)
    server.start()
    return server

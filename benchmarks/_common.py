"""Small helpers the benchmarks share, written once: percentiles, memory readings, a real photo, a free
port, waiting for a server's health, Chromium's flags on these machines."""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def scratch(prefix: str) -> str:
    """A temporary folder that is removed when the benchmark exits.

    A benchmark's home holds decoded datasets, feature caches and stored
    bases: several hundred MB each. Left behind, a few dozen runs filled this
    machine's disk. Set CATDOG_BENCH_KEEP=1 to keep them for a look afterwards.
    """
    path = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("CATDOG_BENCH_KEEP") != "1":
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def percentiles(samples_ms: list[float]) -> str:
    a = np.asarray(samples_ms)
    return f"p50 {np.percentile(a, 50):7.1f} ms   p95 {np.percentile(a, 95):7.1f} ms   (n={len(a)})"


CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own download fails on these machines
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) in MB; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Until `streamlit run` answers /_stcore/health with ok; RuntimeError if it dies or takes longer."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not start at {url}")


def stop_process(process: subprocess.Popen, seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `seconds`."""
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def a_photo(data: str | None) -> np.ndarray:
    """A real validation photo when the dataset is at hand, else a drawn one."""
    from PIL import Image

    if data:
        files = sorted(Path(data).rglob("validation/cats/*.jpg"))
        if files:
            return np.asarray(Image.open(files[0]).convert("RGB"))
    rng = np.random.default_rng(0)
    return (rng.random((375, 500, 3)) * 255).astype(np.uint8)

"""Small helpers the benchmarks share: percentiles, memory readings, a real photo."""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import sys
import tempfile
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


def rss_mb() -> float:
    """Current resident memory of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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

"""A class on the real server, in two minutes: thirty students on one `catdog classroom`, two of them
Chromium tabs (benchmarks/bench_class.py, the scenario of its ten-minute figure), on the small
synthetic dataset. They arrive together right after the server starts (no teacher first); for a
minute every student browses, moves sliders, classifies good and hostile files and uploads a
class set, and five of them train. No page may raise, hang or drop, and every job finishes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env

# A real server and its processes, like the browser tests; on its own (python -m pytest -m load):
# it does not fit in CI's 30 minutes next to this round's browser checks.
pytestmark = [pytest.mark.browser, pytest.mark.load]


def test_thirty_students_at_once_on_the_real_server(synthetic_data, shared_weights, tmp_path):
    figures = tmp_path / "class.json"
    env = subprocess_env()
    env.pop("CATDOG_WARM", None)  # the app as a teacher starts it: its worker warms up
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_class.py"), "--students", "30",
                           "--minutes", "1", "--browsers", "2", "--no-teacher", "--settle", "0", "--data", str(synthetic_data),
                           "--weights", shared_weights, "--json", str(figures)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = json.loads(figures.read_text())
    assert out["errors"] == [] and out["jobs_finished"] == len(out["jobs"]) == 5
    assert out["refused"]["protocol"] > 0  # hostile files were sent, and each was answered with a sentence
    assert sum(len(v) for v in out["times"]["protocol"].values()) > 60  # they really browsed
    assert sum(len(v) for v in out["times"]["chromium"].values()) > 4
    assert out["left_after_stop"] == []  # Ctrl-C of catdog classroom left nothing of its home running
    assert out["server_alive"]

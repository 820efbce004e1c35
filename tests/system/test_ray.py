"""The Ray backend against a real Ray head on 127.0.0.1: a quick model trained as a Ray task,
its epochs streamed back into the queue while it trains, the run written into CATDOG_HOME.

Needs `pip install -r requirements-ray.txt`; CI installs it and sets CATDOG_REQUIRE_RAY=1 so
this cannot silently skip there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.servers import free_port

from conftest import REPO, subprocess_env

pytestmark = pytest.mark.ray


def _ray_cli() -> Path:
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CATDOG_REQUIRE_RAY"):
            pytest.fail("ray is not installed (pip install -r requirements-ray.txt)")
        pytest.skip("ray is not installed (pip install -r requirements-ray.txt)")
    return Path(sys.executable).parent / "ray"


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """`ray start --head` on loopback with 2 CPUs; always stopped afterwards."""
    ray = _ray_cli()
    port = free_port()
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    started = subprocess.run([str(ray), "start", "--head", "--port", str(port), "--num-cpus", "2",
                              "--include-dashboard=false", "--disable-usage-stats"],
                             env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray), "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_a_quick_model_trains_through_a_ray_head(ray_head, real_folder, shared_weights, isolated_home):
    env = subprocess_env(CATDOG_BACKEND="ray", RAY_ADDRESS=ray_head, CATDOG_DATA_DIR=str(real_folder))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "catdog_core", "train", "--recipe", "transfer", "--quick", "--json"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["val_accuracy"] >= 0.95, summary
    epochs = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("epoch 1")]
    assert any(line.startswith("epoch 10/10:") for line in done.stderr.replace("\r", "\n").splitlines())
    assert epochs, "no epoch streamed back from the cluster"
    listed = subprocess.run([sys.executable, "-m", "catdog_core", "runs"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert summary["run"] in listed.stdout
    meta = json.loads((isolated_home / "runs" / summary["run"] / "meta.json").read_text())
    assert meta["extra"]["backend"] == "ray"
    print(f"\n[ray] quick transfer through a local Ray head: {seconds:.1f} s, val {summary['val_accuracy']:.3f}")

"""`pip install .` gives a `catdog` command equal to `python -m catdog_core`, quiet by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, jpeg_bytes

NOISE = ("tensorflow", "absl", "onednn", "cpu_feature_guard", "xnnpack", "initializelog")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The project installed with pip (its own files, not this checkout) into a folder of its own;
    the dependencies are the ones already in this environment."""
    target = tmp_path_factory.mktemp("installed")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    command = target / "bin" / "catdog"
    assert command.is_file()
    return target, command


def run(installed, *args, cwd):
    target, command = installed
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # quiet without anyone's help
    return subprocess.run([str(command), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_catdog_help_and_runs(installed, tmp_path):
    helped = run(installed, "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "usage: catdog" in helped.stdout
    for name in ("train", "predict", "worker", "jobs"):
        assert name in helped.stdout
    listed = run(installed, "runs", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout == ""
    assert listed.stderr.strip().startswith("no runs yet")


def test_catdog_predict_loads_tensorflow_quietly(installed, tmp_path, trained_transfer):
    from catdog_core import runs

    data, result = trained_transfer
    run_saved = runs.save_run(result, data.describe())
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(jpeg_bytes(0, 5, size=200))
    done = run(installed, "predict", "latest", str(photo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{photo}: cats")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"run {run_saved.run_id} (transfer, classes cats, dogs) answers:"], lines
    assert not any(word in done.stderr.lower() for word in NOISE)
    loud = run(installed, "predict", "latest", str(photo), "--verbose", cwd=tmp_path)
    assert loud.returncode == 0 and loud.stdout == done.stdout  # the same answer, only louder on stderr


def test_the_installed_package_gives_the_notebook_api(installed, tmp_path):
    """What a notebook imports (README's Python section) comes from the installed files alone."""
    target, _ = installed
    code = ("import sys\nimport catdog_core\nfrom catdog_core import load_dataset, train\n"
            "from catdog_core.errors import InvalidSettings\n"
            "try:\n    train('transfer', epoch=2)\nexcept InvalidSettings as exc:\n    print(exc)\n"
            "print(catdog_core.__file__)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    refused, where, heavy = done.stdout.strip().splitlines()
    assert refused.startswith("train() has no setting 'epoch'; its settings are epochs,")
    assert Path(where).is_relative_to(target) and heavy == "[]"  # the check comes before any TensorFlow

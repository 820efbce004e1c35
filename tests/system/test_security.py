"""Security properties SECURITY.md promises: unsafe model files are refused
without running their code; server-side limits and telemetry settings hold."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import keras
import numpy as np
import pytest

from catdog_core import runs
from catdog_core.errors import CatdogError
from conftest import REPO



def _fake_run(folder: Path, model) -> runs.Run:
    folder.mkdir(parents=True)
    model.save(folder / runs.MODEL_FILE)
    meta = {"recipe": "transfer", "class_names": ["cats", "dogs"], "epochs": 1}
    (folder / runs.META_FILE).write_text(json.dumps(meta))
    (folder / runs.HISTORY_FILE).write_text("[]")
    (folder / runs.COMPLETE).write_text("{}")
    return runs.find_run(folder.name)


def test_a_model_with_python_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    inputs = keras.Input((4,))
    # A Lambda's code would run at load time without safe_mode.
    evil = lambda x, path=str(marker): x * 2 + float(open(path, "w").write("x") * 0)  # noqa: E731
    outputs = keras.layers.Lambda(evil)(inputs)
    marker.unlink()  # building the model ran it once; loading must not
    run = _fake_run(runs.runs_dir() / "20990101-000000-transfer-evil", keras.Model(inputs, outputs))
    with pytest.raises(CatdogError, match="could not be loaded"):
        runs.load_model(run)
    assert not marker.exists()


def test_an_ordinary_model_loads_in_safe_mode():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)))
    run = _fake_run(runs.runs_dir() / "20990101-000000-transfer-good", model)
    x = np.ones((1, 4), "float32")
    np.testing.assert_allclose(runs.load_model(run)(x), model(x), rtol=1e-6)


def test_streamlit_config_limits_uploads_and_sends_no_statistics():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    from catdog_core.images import MAX_UPLOAD_BYTES
    from catdog_core.uploads import MAX_UPLOAD_ZIP_BYTES

    # Streamlit's per-file limit is the zip limit (one number); a photo's own limit is smaller.
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == MAX_UPLOAD_ZIP_BYTES
    assert MAX_UPLOAD_BYTES <= MAX_UPLOAD_ZIP_BYTES

"""Tests for the command line, `python -m catdog_core`.

The happy paths run as real subprocesses (each pays ~5 s for importing
TensorFlow, so there are eight of them in all); the remaining usage errors call
`main()` in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog_core import runs
from catdog_core.cli import main

from conftest import REPO, draw_image

TIMEOUT = 300


@pytest.fixture(scope="module")
def cli_env(synthetic_data, shared_weights, shared_cache, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("cli_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATDOG_")}
    env.update(CATDOG_DATA_DIR=str(synthetic_data), CATDOG_HOME=str(home / "catdog"),
               CATDOG_BASE_WEIGHTS=shared_weights, KERAS_HOME=str(home / "keras"), CATDOG_CACHE=str(shared_cache),
               CATDOG_WORKER_IDLE="120", CATDOG_TESTS_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    yield env
    from catdog_core.jobs import worker

    worker.shutdown_workers(home / "catdog")  # the workers its commands started


def cli(env: dict, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "catdog_core", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT)


def last_json(proc: subprocess.CompletedProcess):
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no stdout; stderr was:\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def one_error_line(proc: subprocess.CompletedProcess | str) -> str:
    err = proc if isinstance(proc, str) else proc.stderr
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def trained(cli_env) -> dict:
    proc = cli(cli_env, "train", "--recipe", "transfer", "--epochs", "2", "--min-steps", "0", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return last_json(proc)


def test_info_json(cli_env):
    proc = cli(cli_env, "info", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = last_json(proc)
    assert info["classes"] == ["cats", "dogs"]
    counts = info["counts"]
    assert counts["train"] == {"cats": 24, "dogs": 24}
    assert {c: counts["validation"][c] + counts["test"][c] for c in ("cats", "dogs")} == {"cats": 10, "dogs": 10}
    assert info["skipped"] == [] and Path(info["root"]) == Path(cli_env["CATDOG_DATA_DIR"])
    assert "majority-class baseline: 50% (always answering any one of cats, dogs (tied))" in proc.stderr


def test_train_transfer_json(trained, cli_env):
    assert set(trained) == {"run", "recipe", "epochs", "stopped", "val_accuracy", "val_count", "test_accuracy",
                            "test_count", "seconds", "job"}
    assert trained["val_count"] + trained["test_count"] == 20
    assert trained["recipe"] == "transfer" and trained["epochs"] == 2
    assert 0 <= trained["val_accuracy"] <= 1 and 0 <= trained["test_accuracy"] <= 1
    assert trained["seconds"] > 0
    run_dir = Path(cli_env["CATDOG_HOME"]) / "runs" / trained["run"]
    assert (run_dir / "COMPLETE").is_file() and (run_dir / "head.npz").is_file()
    assert (run_dir / "base.weights.h5").stat().st_nlink >= 2  # one stored base, linked into every frozen run


def test_train_quick_json(trained, cli_env):
    proc = cli(cli_env, "train", "--quick", "--min-steps", "0", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    quick = last_json(proc)
    assert quick["recipe"] == "transfer" and quick["epochs"] == 10 and quick["run"] != trained["run"]
    meta = json.loads((Path(cli_env["CATDOG_HOME"]) / "runs" / quick["run"] / "meta.json").read_text())
    assert meta["extra"]["label"] == "quick transfer" and meta["settings"]["flip"] == "none"
    assert meta["settings"]["rotation"] == 0.0


def test_runs_lists_the_saved_runs(trained, cli_env):
    proc = cli(cli_env, "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert trained["run"] in proc.stdout
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    assert trained["run"] in listed and all(name[:8].isdigit() for name in listed)


def test_evaluate_latest_json(trained, cli_env, monkeypatch):
    proc = cli(cli_env, "evaluate", "latest", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = last_json(proc)
    monkeypatch.setenv("CATDOG_HOME", cli_env["CATDOG_HOME"])
    latest = runs.find_run("latest")
    assert result["run"] == latest.run_id and result["recipe"] == "transfer"
    assert {"run", "recipe", "validation_accuracy", "test_accuracy"} <= set(result)
    # Calibration: the error on test before and after the temperature fitted on validation (calibration.py).
    assert 0 <= result["calibration_error"] <= 1 and 0 <= result["calibration_error_after"] <= 1
    assert result["temperature"] > 0 and result["calibration_count"] == result["test_count"]
    # The reloaded .keras file scores what training measured.
    assert result["test_accuracy"] == pytest.approx(latest.test_accuracy, abs=1e-6)
    assert result["validation_accuracy"] == pytest.approx(latest.val_accuracy, abs=1e-6)


def test_predict_one_good_and_one_bad_file(trained, cli_env, tmp_path):
    Image.fromarray(draw_image(0, np.random.default_rng(9), size=200)).save(tmp_path / "a.jpg")
    (tmp_path / "b.txt").write_text("definitely not a cat\n")
    proc = cli(cli_env, "predict", "latest", "a.jpg", "b.txt", "--json", cwd=tmp_path)
    assert proc.returncode != 0  # one of the files failed
    assert "Traceback" not in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == ["a.jpg", "b.txt"]
    good, bad = lines
    assert good["label"] in ("cats", "dogs")
    assert set(good["probabilities"]) == {"cats", "dogs"}
    assert sum(good["probabilities"].values()) == pytest.approx(1.0)
    assert set(bad) == {"file", "run", "error"} and "text file" in bad["error"]
    assert good["run"] == bad["run"] and f"run {good['run']} (transfer" in proc.stderr  # the run that answered


def test_unknown_run_is_one_line_on_stderr(cli_env):
    proc = cli(cli_env, "evaluate", "no-such-run")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "no-such-run" in one_error_line(proc)


def test_missing_data_path_is_one_line_on_stderr(cli_env, tmp_path):
    proc = cli(cli_env, "info", "--data", str(tmp_path / "nowhere"))
    assert proc.returncode != 0
    assert "does not exist" in one_error_line(proc)


# ---- the rest in this process


def test_bad_recipe_is_one_line_on_stderr(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--recipe", "resnet", "--epochs", "1"])
    assert info.value.code != 0
    captured = capsys.readouterr()
    assert "resnet" in one_error_line(captured.err) and captured.out == ""


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--epochs", "-3"], ["--epochs", "500"],
                                  ["--quick", "--epochs", "0"], ["--variants", "-1"], ["--variants", "201"]])
def test_bad_epochs_or_variants_are_one_line_on_stderr(synthetic_data, capsys, args):
    code = main(["train", "--data", str(synthetic_data), *args])
    assert code != 0
    captured = capsys.readouterr()
    assert f"{args[-2][2:].capitalize()} must be a whole number" in one_error_line(captured.err)
    assert not runs.list_runs().runs  # nothing trained, nothing saved


def test_epochs_that_are_not_a_number(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--epochs", "many"])
    assert info.value.code != 0
    assert "--epochs" in one_error_line(capsys.readouterr().err)


def test_no_command_is_one_line_on_stderr(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code != 0
    one_error_line(capsys.readouterr().err)


def test_runs_reports_damaged_folders_on_stderr(capsys):
    damaged = runs.runs_dir() / "20240101-000000-transfer-beef"
    damaged.mkdir(parents=True)
    assert main(["runs"]) == 0
    captured = capsys.readouterr()
    assert "warning: Run folder 20240101-000000-transfer-beef was skipped" in captured.err
    assert "no runs yet" in captured.err and captured.out == ""
    # --json: one document on stdout, the damaged folder among its problems (the flag was ignored).
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["runs"] == [] and "20240101-000000-transfer-beef" in listed["problems"][0]


def test_runs_json_describes_each_run(trained, cli_env):
    listed = last_json(cli(cli_env, "runs", "--json"))
    (run,) = [r for r in listed["runs"] if r["run"] == trained["run"]]
    assert run["recipe"] == "transfer" and run["epochs"] == 2 and run["classes"] == ["cats", "dogs"]
    assert run["val_accuracy"] == pytest.approx(trained["val_accuracy"]) and run["val_count"] > 0


def test_reproduce_trains_the_four_models_and_prints_the_comparison(cli_env, tmp_path):
    env = dict(cli_env, CATDOG_HOME=str(tmp_path / "home"))  # its own runs: `latest` elsewhere stays put
    proc = cli(env, "reproduce", "--epochs", "1", "--min-steps", "0", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = last_json(proc)
    assert [r["model"] for r in rows] == ["Model 1: small CNN", "Model 2: + augmentation",
                                          "Model 3: + normalisation", "Model 4: transfer learning"]
    assert [r["post val acc"] for r in rows] == [0.58, 0.60, 0.74, 0.97]
    assert all(r["epochs"] == 1 and 0 <= r["our val acc"] <= 1 for r in rows)
    assert len({r["run"] for r in rows}) == 4
    table = [line for line in proc.stderr.splitlines() if line.startswith("Model ")]
    assert len(table) == 4 and all(line.split()[-1].replace(".", "").isdigit() for line in table)  # s/epoch


def test_info_refuses_special_files_and_prints_names_as_text(cli_env, tmp_path):
    """A device or a pipe as --data is one sentence and exit code 2 (it was a 34-line traceback);
    a file name holding a terminal escape is printed escaped, never obeyed."""
    import shutil

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for special in ("/dev/zero", str(fifo)):
        proc = cli(cli_env, "info", "--data", special)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "neither a folder nor a .zip archive" in one_error_line(proc)
    data = tmp_path / "data"
    shutil.copytree(cli_env["CATDOG_DATA_DIR"], data)
    (data / "train" / "cats" / "\x1b[2J\x1b[31msneaky\u202egpj.jpg").write_bytes(b"not a picture")
    proc = cli(cli_env, "info", "--data", str(data))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\x1b" not in proc.stderr and "\u202e" not in proc.stderr
    assert "\\x1b[2J\\x1b[31msneaky\\u202egpj.jpg" in proc.stderr


def test_classroom_help_says_what_students_will_see(capsys):
    with pytest.raises(SystemExit) as info:
        main(["classroom", "--help"])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    for words in ("https address", "QR code", "not private", "Chrome", "Firefox", "Safari", "class password",
                  "teacher password", "--port", "--address", "--password", "--teacher-password", "Ctrl-C"):
        assert words in shown, words


@pytest.mark.parametrize("args, said", [(["--password", "same-1", "--teacher-password", "same-1"], "must differ"),
                                        (["--port", "70000"], "from 1 to 65535"),
                                        (["--password", "tab\there"], "printable")])
def test_classroom_refuses_bad_settings_before_it_starts_anything(args, said, capsys, isolated_home):
    assert main(["classroom", "--address", "127.0.0.1", *args]) == 2
    assert said in one_error_line(capsys.readouterr().err)
    assert not (isolated_home / "classroom").exists()

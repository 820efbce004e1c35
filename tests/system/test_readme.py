"""The README and docs/ as a newcomer meets them: every Python block runs as written from a folder
outside the checkout, every line of the command-line section runs (on the real data), the layout
block names real files and every module of catdog_core, and the notebook API is cheap to import."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catdog_core.augment import NO_AUGMENTATION
from catdog_core.errors import InvalidSettings
from conftest import REPO, jpeg_bytes, subprocess_env

README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").rglob("*.md"))]
MAX_LINES = 300


def fenced(text: str, language: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```language block of a Markdown text."""
    found, start, lines = [], None, text.splitlines()
    for number, line in enumerate(lines, 1):
        if start is None and line.startswith("```"):
            start, kind = number, line[3:].strip()
        elif start is not None and line.strip() == "```":
            if kind == language:
                found.append((start, "\n".join(lines[start:number - 1]) + "\n"))
            start = None
    return found


def section(text: str, heading: str) -> str:
    """The text under `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def python_blocks() -> list:
    return [pytest.param(code, id=f"{path.relative_to(REPO)}:{line}")
            for path in DOCS for line, code in fenced(path.read_text(encoding="utf-8"), "python")]


def command_lines() -> list[str]:
    """Each command of the README's command-line section's shell blocks, as written."""
    text = section(README.read_text(encoding="utf-8"), "The command line")
    return [line.strip() for _, code in fenced(text, "bash") for line in code.splitlines() if line.strip()]


def test_the_readme_is_short_and_shows_python_and_the_command_line():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines: move detail to docs/"
    assert python_blocks() and len(command_lines()) >= 8


def test_importing_catdog_core_loads_no_tensorflow(tmp_path):
    code = ("import sys\nimport catdog_core\nfrom catdog_core import load_dataset, train\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'streamlit', 'PIL'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_notebook_api_trains_and_checks_settings_as_a_job_does(synthetic_data, shared_weights, capsys):
    from catdog_core import load_dataset, train

    data = load_dataset(synthetic_data)
    result = train("transfer", str(synthetic_data), epochs=2, settings=NO_AUGMENTATION, min_steps=0)  # a path
    assert len(result.history) == 2 and result.val_accuracy == result.history[-1].val_accuracy
    assert result.val_accuracy >= 0.8  # the drawn classes are easy for the transfer head
    logits = result.model.predict(data.validation.images[:3].astype("float32"), verbose=0)
    assert logits.shape == (3, 2)
    assert "epoch 2/2: accuracy" in capsys.readouterr().out  # a notebook cell shows each epoch
    with pytest.raises(InvalidSettings, match="no setting 'epoch'; its settings are epochs, exclude"):
        train("transfer", data, epoch=2)
    with pytest.raises(InvalidSettings, match="no setting 'kind'"):  # a learning curve is a job, not a model
        train("transfer", data, kind="learning_curve")
    with pytest.raises(InvalidSettings, match="Epochs must be a whole number from 1 to 200, not 0"):
        train("transfer", data, epochs=0)
    with pytest.raises(InvalidSettings, match="Unknown recipe 'mobilenet'"):
        train("mobilenet", data, epochs=1)
    with pytest.raises(InvalidSettings, match="exclusions must be a list"):  # JobSpec.from_dict's own check
        train("transfer", data, epochs=1, exclude=[3])
    with pytest.raises(InvalidSettings, match="AugmentSettings"):
        train("transfer", data, epochs=1, settings={"flip": "none"})


@pytest.mark.real
@pytest.mark.parametrize("code", python_blocks())
def test_every_python_block_runs_as_written_outside_the_checkout(code, real_folder, shared_weights, tmp_path):
    assert not tmp_path.resolve().is_relative_to(REPO)
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    env = subprocess_env(CATDOG_DATA_DIR=str(real_folder), CATDOG_BASE_WEIGHTS=shared_weights,
                         CATDOG_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _inputs_for(line: str, folder: Path) -> None:
    """The photos a command names, drawn here (a cat: class 0)."""
    for word in shlex.split(line, comments=True):
        if word.endswith((".jpg", ".png")) and not (folder / word).exists():
            (folder / word).write_bytes(jpeg_bytes(0, len(word), size=200))


@pytest.mark.real
def test_every_line_of_the_command_line_section_runs(real_folder, shared_weights, tmp_path):
    """As written, one after another, sharing one home: the quick model the train line saves is
    the `latest` that evaluate, predict, export, script and map use."""
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    bin_dir.mkdir(), work.mkdir()
    (bin_dir / "catdog").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m catdog_core "$@"\n')
    (bin_dir / "catdog").chmod(0o755)  # what `pip install .` puts on PATH (tests/system/test_install.py)
    env = subprocess_env(CATDOG_DATA_DIR=str(real_folder), CATDOG_BASE_WEIGHTS=shared_weights,
                         CATDOG_HOME=str(tmp_path / "home"))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    failed = []
    for line in command_lines():
        _inputs_for(line, work)
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        print(f"{time.monotonic() - started:6.1f} s  exit {done.returncode}  {line.split('#')[0].strip()}")
        if done.returncode != 0:
            failed.append(f"{line}\n  exit {done.returncode}: {done.stderr.strip()[-800:]}")
        written = re.findall(r"--out (\S+)", line.split("#")[0])
        assert all((work / path).exists() for path in written), (line, written)
    assert failed == []


def test_every_command_the_command_line_section_names_parses():
    """The commands in its prose (`catdog train --variants 0`, ...) are real commands and options."""
    from catdog_core.cli.parser import parser

    text = section(README.read_text(encoding="utf-8"), "The command line")
    named = re.findall(r"`(catdog [^`]+)`", text)
    assert len(named) >= 4
    for command in named + [line.split("#")[0] for line in command_lines()]:
        try:
            parser().parse_args(shlex.split(command)[1:])
        except SystemExit as exc:
            assert exc.code == 0, command  # --help exits 0; a wrong option or command exits 2


def _layout_paths() -> list[Path]:
    """The paths named in the layout block: the first word of each line, under the folder above it."""
    text = section(README.read_text(encoding="utf-8"), "How the code is laid out")
    (_, block), = fenced(text, "")
    paths, parents = [], {}
    for line in block.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        if depth > 1:  # a description's second line
            continue
        name = line.split()[0]
        path = (parents[depth - 1] if depth else REPO) / name.rstrip("/")
        parents[depth] = path
        paths.append(path)
    return paths


def test_the_layout_block_names_real_files_and_every_module_of_the_library():
    paths = _layout_paths()
    assert [str(p.relative_to(REPO)) for p in paths if not p.exists()] == []
    library = REPO / "catdog_core"
    modules = {p for p in library.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert sorted(p.name for p in modules - set(paths)) == [], "add these to the README's layout"


def test_every_picture_and_file_the_docs_link_exists():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")):
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_the_benchmarks_page_gives_every_benchmark_a_figure_date_and_command():
    text = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for bench in sorted((REPO / "benchmarks").glob("bench_*.py")):
        match = re.search(rf"^## `{bench.name}`\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
        assert match, f"docs/benchmarks.md has no section for {bench.name}"
        assert f"python benchmarks/{bench.name}" in match.group(1), bench.name
        assert re.search(r"20\d\d-\d\d-\d\d|no figure yet", match.group(1)), bench.name

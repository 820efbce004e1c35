"""A classroom server under attack: the hostile inputs of issue 11, each through the
library, the command line or the page, measured where memory or time is the point.

Memory is measured in a child process (its peak resident size from wait4), so what
other tests allocated never hides a regression.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from catdog_core import dataset, images, runs, sources, uploads
from catdog_core.sources import zips
from catdog_core.errors import CatdogError, InvalidDataset, InvalidImage

from support import hostile
from conftest import REPO, subprocess_env


@pytest.fixture(autouse=True)
def own_cache(fresh_cache):
    """Nothing refused may be kept, cache included: each test here looks at a cache of its own."""
    return fresh_cache


PEAK = hostile.PEAK_PROBE


def measured(code: str, *args: str, timeout: float = 120) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak resident MB, result) of `python -c code args...` in a fresh process."""
    env = subprocess_env()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", PEAK + code, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    seconds = time.monotonic() - started
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    return seconds, (peaks[-1] / 1024 if peaks else float("nan")), done


DECODE = """
import sys, json
from catdog_core import images
from catdog_core.errors import InvalidImage
data = open(sys.argv[1], "rb").read()
try:
    images.model_input(data)
    print(json.dumps({"ok": True}))
except InvalidImage as exc:
    print(json.dumps({"error": str(exc)}))
"""


@pytest.fixture(scope="module")
def normal_photo_cost(tmp_path_factory) -> float:
    """Peak memory of decoding an ordinary 12-megapixel phone photo in a fresh process."""
    from PIL import Image
    import numpy as np

    path = tmp_path_factory.mktemp("normal") / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(hostile.photo_like(3000, 4000, rng)).save(path, quality=90)
    _, peak, result = measured(DECODE, str(path))
    assert json.loads(result.stdout)["ok"], result.stderr[-2000:]
    return peak


@pytest.mark.parametrize("name, build, word", [
    ("16-bit grey PNG, 40 MP", hostile.grey16_png, "MB of memory"),
    ("RGBA WebP, 16 MP", hostile.rgba_webp, "MB of memory"),
    ("progressive JPEG, 1010 scans", hostile.scan_bomb_jpeg, "scans"),
    ("PNG, 16000x16000", hostile.huge_png, "megapixel"),
])
def test_small_files_that_decode_huge_are_refused_from_their_header(name, build, word, tmp_path,
                                                                     normal_photo_cost):
    data = build()
    assert len(data) < 400_000  # each is a small upload
    path = tmp_path / "attack"
    path.write_bytes(data)
    started = time.perf_counter()
    with pytest.raises(InvalidImage, match=word):
        images.inspect(data)
    assert time.perf_counter() - started < 0.5  # refused from the header, nothing decoded
    seconds, peak, result = measured(DECODE, str(path))
    answer = json.loads(result.stdout)
    assert word in answer["error"] and "\n" not in answer["error"]
    print(f"\n[attack] {name}: {len(data):,} bytes refused in {seconds:.2f} s (process), peak {peak:.0f} MB "
          f"(a 12 MP photo: {normal_photo_cost:.0f} MB)")
    assert peak < normal_photo_cost + 300


def test_thirty_decodes_at_once_queue_instead_of_multiplying_memory(monkeypatch):
    import threading

    inside, most = [0], [0]
    lock = threading.Lock()
    real = images._pil_decode

    def counting(img):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.05)
            return real(img)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(images, "_pil_decode", counting)
    from PIL import Image
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(buffer, "PNG")
    threads = [threading.Thread(target=images.model_input, args=(buffer.getvalue(),)) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert 1 <= most[0] <= images.DECODE_SLOTS


def test_a_decode_past_its_time_budget_stops(monkeypatch):
    monkeypatch.setattr(images, "DECODE_SECONDS", 0.0)  # the budget is spent before the first read
    with pytest.raises(InvalidImage, match="took too long"):
        images.decode(hostile.png(2000, 2000, 8, 0, b"\x07" * 2000))


# ---------------------------------------------------------------- zips of your own classes


def assert_nothing_kept(home: Path) -> None:
    for folder in ("uploads", "datasets"):
        left = sorted(p.name for p in (home / folder).iterdir()) if (home / folder).is_dir() else []
        assert left == [], f"{folder}: {left}"
    from catdog_core import config

    decoded = config.cache_home() / "decoded"
    assert not decoded.is_dir() or not any(decoded.iterdir())


def test_a_zip_with_a_gigabyte_of_zeros_is_refused_before_anything_is_written(isolated_home):
    data = hostile.zip_with_zeros(1.0)
    assert len(data) < 3_000_000
    started = time.perf_counter()
    with pytest.raises(InvalidDataset, match="limit per file") as caught:
        uploads.import_zip(data, "pets.zip")
    assert time.perf_counter() - started < 2
    assert "\n" not in str(caught.value)
    assert_nothing_kept(isolated_home)


def test_a_zip_of_twenty_thousand_tiny_gifs_is_refused_from_its_member_list(isolated_home):
    data = hostile.zip_of_tiny_gifs()
    assert len(data) < 4_000_000
    started = time.perf_counter()
    with pytest.raises(InvalidDataset, match="20,000 files, over the limit of 5,000"):
        uploads.import_zip(data, "gifs.zip")
    assert time.perf_counter() - started < 3
    assert_nothing_kept(isolated_home)


def test_bombs_inside_a_zip_are_skipped_cheaply_and_named(isolated_home):
    members = hostile.class_members(8)
    members["pets/cats/huge.png"] = hostile.huge_png()
    members["pets/dogs/scans.jpg"] = hostile.scan_bomb_jpeg()
    code = """
import sys, json, time
from catdog_core import dataset, uploads
started = time.perf_counter()
path = uploads.import_zip(open(sys.argv[1], "rb").read(), "pets.zip")
loaded = dataset.load_dataset(path)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "skipped": {s.path.rsplit("/", 1)[-1]: s.reason for s in loaded.skipped},
                  "images": sum(len(loaded.split(s)) for s in dataset.SPLITS)}))
"""
    path = isolated_home.parent / "bombs.zip"
    path.write_bytes(hostile.zip_bytes(members))
    seconds, peak, result = measured(code, str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["images"] == 16
    assert "megapixel" in answer["skipped"]["huge.png"] and "scans" in answer["skipped"]["scans.jpg"]
    print(f"\n[attack] zip with a 16000x16000 PNG and a scan bomb: accepted without them in "
          f"{answer['seconds']:.1f} s, peak {peak:.0f} MB")
    # Cheaply: both are named from their headers, never decoded (the PNG would be 768 MB of pixels; the
    # scans are the CPU bomb). No time bound here: a busy machine took 26 s with TensorFlow's import.
    assert peak < 1200


@pytest.mark.parametrize("case", ["300-character name", "long unicode name", "encrypted member",
                                  "deflate64 member", "a file and a folder of one name", "not a zip"])
def test_broken_zips_get_one_sentence_and_leave_nothing(case, isolated_home):
    members = hostile.class_members()
    if case == "300-character name":
        members["pets/cats/" + "x" * 300 + ".jpg"] = hostile.small_jpeg(0, 99)
    elif case == "long unicode name":
        members["pets/cats/" + "猫" * 100 + ".jpg"] = hostile.small_jpeg(0, 99)
    elif case == "a file and a folder of one name":
        members["pets/dogs/extra"] = b"a file"
        members["pets/dogs/extra/inside.jpg"] = hostile.small_jpeg(1, 99)
    data = hostile.zip_bytes(members)
    if case == "encrypted member":
        data = hostile.patch_member_header(data, "pets/cats/cats0.jpg", flags=0x1)
    elif case == "deflate64 member":
        data = hostile.patch_member_header(data, "pets/cats/cats0.jpg", method=9)
    elif case == "not a zip":
        data = b"PK\x03\x04" + os.urandom(3000)
    with pytest.raises(CatdogError) as caught:
        uploads.import_zip(data, "pets.zip")
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and str(isolated_home) not in message
    assert_nothing_kept(isolated_home)


def test_a_full_disk_while_unpacking_keeps_nothing(isolated_home, monkeypatch):
    real_open = open
    written = [0]

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            written[0] += 1
            if written[0] > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def fake_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return Full(f) if mode == "xb" else f

    monkeypatch.setattr(zips, "open", fake_open, raising=False)  # zips.unpack writes the members
    with pytest.raises(CatdogError, match="disk is full"):
        uploads.import_zip(hostile.zip_bytes(hostile.class_members()), "pets.zip")
    assert_nothing_kept(isolated_home)


def test_two_processes_unpacking_one_zip_at_once_both_succeed(tmp_path, isolated_home):
    archive = tmp_path / "pets.zip"
    archive.write_bytes(hostile.zip_bytes(hostile.class_members(10)))
    env = subprocess_env()
    cli = [sys.executable, "-m", "catdog_core", "info", "--data", str(archive), "--json"]
    children = [subprocess.Popen(cli, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    results = [c.communicate(timeout=300) for c in children]
    assert [c.returncode for c in children] == [0, 0, 0], [err[-500:] for _, err in results]
    assert len(list((isolated_home / "datasets").iterdir())) == 1


def test_leftovers_of_a_killed_process_are_cleaned(isolated_home):
    from catdog_core import config

    for folder, name in ((isolated_home / "datasets", ".unzip-abc"), (isolated_home / "runs", ".incomplete-x"),
                         (config.cache_home(), ".tmp-model.tflite-1")):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if name.startswith((".unzip", ".incomplete")) else path.write_bytes(b"half")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    fresh = isolated_home / "runs" / ".incomplete-being-written"
    fresh.mkdir()
    removed = sources.clean_leftovers()
    assert len(removed) == 3 and fresh.exists()


def test_leftovers_whose_process_is_gone_are_swept_at_once(isolated_home, synthetic_data):
    """A decoder or unpacker killed a minute ago: its temporary files name its pid, so the next
    start sweeps them without waiting an hour; a live process's temporary files stay."""
    from catdog_core import config
    from catdog_core.fileio import owner_tag

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    decoded = config.cache_home() / "decoded"
    decoded.mkdir(parents=True, exist_ok=True)
    gone = [decoded / f".tmp-0123456789abcdef-p{dead.pid}-.npy", isolated_home / "datasets" / f".unzip-p{dead.pid}-x1"]
    gone[0].write_bytes(b"\0" * 4096)
    gone[1].mkdir(parents=True)
    mine = decoded / f".tmp-fedcba9876543210-{owner_tag()}.npy"
    mine.write_bytes(b"being written")
    removed = sources.clean_leftovers()
    assert sorted(removed) == sorted(gone) and mine.exists()
    mine.unlink()
    # And what this code writes carries the tag: a decode's temporary file is named by its pid.
    seen = []
    real_replace = os.replace

    def spy(src, dst, *args, **kwargs):
        seen.append(Path(src).name)
        return real_replace(src, dst, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", spy)
        mp.setenv("CATDOG_CACHE", str(isolated_home / "own_cache"))
        dataset.clear_cache()
        dataset.load_dataset(synthetic_data)
    assert any(name.startswith(".tmp-") and f"-p{os.getpid()}-" in name for name in seen), seen


# ---------------------------------------------------------------- run folders


@pytest.fixture
def good_run(trained_transfer):
    data, result = trained_transfer
    return runs.save_run(result, data.describe())


@pytest.mark.parametrize("damage", ["deep nesting", "a FIFO", "a link to /dev/zero", "wrong types",
                                    "class names as a string", "huge"])
def test_a_hostile_run_folder_is_skipped_with_a_sentence(good_run, damage):
    folder = runs.runs_dir() / "20990101-000000-transfer-bad1"  # written by hand, as an attacker would
    import shutil

    shutil.copytree(good_run.path, folder)
    meta = folder / runs.META_FILE
    original = json.loads(meta.read_text())
    meta.unlink()
    if damage == "deep nesting":
        meta.write_text("[" * 200_000 + "]" * 200_000)
    elif damage == "a FIFO":
        os.mkfifo(meta)
    elif damage == "a link to /dev/zero":
        meta.symlink_to("/dev/zero")
    elif damage == "wrong types":
        meta.write_text(json.dumps({**original, "epochs": "many", "test_accuracy": "high"}))
    elif damage == "class names as a string":
        meta.write_text(json.dumps({**original, "class_names": "cats"}))
    else:
        meta.write_text(json.dumps({**original, "notes": ["x" * 2_000_000]}))
    started = time.perf_counter()
    listing = runs.list_runs()
    assert time.perf_counter() - started < 2
    assert [r.run_id for r in listing.runs] == [good_run.run_id]
    assert len(listing.problems) == 1 and folder.name in listing.problems[0]
    assert "\n" not in listing.problems[0]
    with pytest.raises(CatdogError):
        runs.find_run(folder.name)


def test_a_model_file_with_a_400000_unit_layer_is_refused_before_building(good_run, tmp_path):
    import keras

    folder = runs.runs_dir() / "20990101-000000-transfer-big1"
    import shutil

    shutil.copytree(good_run.path, folder)
    meta = json.loads((folder / runs.META_FILE).read_text())
    meta.pop("model", None)  # a whole-.keras run, as every non-frozen recipe saves
    (folder / runs.META_FILE).write_text(json.dumps(meta))
    inputs = keras.Input((4096,))
    tiny = keras.Model(inputs, keras.layers.Dense(2, name="logits")(keras.layers.Dense(3, name="hidden")(inputs)))
    tiny.save(tmp_path / "tiny.keras")
    with zipfile.ZipFile(tmp_path / "tiny.keras") as src, zipfile.ZipFile(folder / runs.MODEL_FILE, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":  # 4096 x 400 000 weights: 6.5 GB once built
                config = json.loads(data)
                hidden = next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "hidden")
                hidden["config"]["units"] = 400_000
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    run = runs.find_run(folder.name)
    started = time.perf_counter()
    with pytest.raises(CatdogError, match="million parameters"):
        runs.load_model(run)
    assert time.perf_counter() - started < 1


def _frozen_copy(good_run, name: str) -> Path:
    import shutil

    assert good_run.model_format == runs.FROZEN_BASE
    folder = runs.runs_dir() / f"20990101-000000-transfer-{name}"
    shutil.copytree(good_run.path, folder)
    return folder


@pytest.mark.parametrize("damage", ["pickled head", "head of the wrong shape", "huge head member",
                                    "a head that is not a zip", "NaN weights", "another base file",
                                    "a format this app never wrote"])
def test_a_tampered_frozen_base_run_is_refused_with_a_sentence(good_run, damage):
    """A frozen-base run keeps a head (npz) and its base's weights beside it: each file is checked
    (content digest, members, shapes, finiteness) before anything is built from it."""
    import numpy as np

    folder = _frozen_copy(good_run, "bad2")
    head, base, meta_file = folder / runs.HEAD_FILE, folder / runs.BASE_FILE, folder / runs.META_FILE
    kernel, bias = np.load(head)["kernel"], np.load(head)["bias"]
    head.unlink()  # copied files may be links to the good run's: never write through them
    if damage == "pickled head":
        np.savez(head, kernel=np.array([object()] * 4, dtype=object), bias=bias)
    elif damage == "head of the wrong shape":
        np.savez(head, kernel=kernel[:, :1], bias=bias[:1])
    elif damage == "huge head member":
        with zipfile.ZipFile(head, "w", zipfile.ZIP_DEFLATED) as archive:  # 64 MB of zeros, 64 kB packed
            archive.writestr("kernel.npy", b"\0" * (1 << 30))
            archive.writestr("bias.npy", b"")
    elif damage == "a head that is not a zip":
        head.write_bytes(b"not a zip")
    elif damage == "NaN weights":
        np.savez(head, kernel=np.full_like(kernel, np.nan), bias=bias)
    else:
        np.savez(head, kernel=kernel, bias=bias)
    if damage == "another base file":
        data = bytearray(base.read_bytes())
        base.unlink()
        data[-100] ^= 0xFF
        base.write_bytes(bytes(data))
    if damage == "a format this app never wrote":
        meta = json.loads(meta_file.read_text())
        meta["model"]["format"] = "pickle"
        meta_file.write_text(json.dumps(meta))
        listing = runs.list_runs()
        assert any(folder.name in p and "model format" in p for p in listing.problems)
        return
    run = runs.find_run(folder.name)
    started = time.perf_counter()
    with pytest.raises(CatdogError, match=f"The model of run {folder.name} was refused: its") as refused:
        runs.load_model(run)
    assert time.perf_counter() - started < 2
    assert "\n" not in str(refused.value)
    assert runs.load_model(good_run) is not None  # the good run, sharing the stored base, still loads


# ---------------------------------------------------------------- the command line


PREDICT = ["-m", "catdog_core", "predict", "latest"]


def test_predict_answers_odd_paths_with_a_sentence_and_exit_code_2(good_run, tmp_path, isolated_home):
    """Every odd path in one call: each gets its own one-sentence answer, and the command exits 2
    (a bad path, as the README promises), after answering the good photo among them."""
    odd = tmp_path / "odd"
    odd.mkdir()
    fifo, folder, empty, text, loop = (odd / n for n in ("fifo.jpg", "folder.jpg", "empty.jpg", "text.jpg",
                                                          "loop.jpg"))
    os.mkfifo(fifo)
    folder.mkdir()
    empty.write_bytes(b"")
    text.write_text("not a photo at all\n")
    loop.symlink_to(loop)
    good = odd / "good.jpg"
    good.write_bytes(hostile.small_jpeg(0, 1))
    unreadable = odd / "unreadable.jpg"
    unreadable.write_bytes(hostile.small_jpeg(0, 1))
    unreadable.chmod(0)
    if os.geteuid() == 0:  # root reads anything: a path it cannot open instead
        unreadable = odd / "nowhere" / "x.jpg"
    paths = [fifo, folder, Path("/dev/zero"), empty, text, loop, unreadable, odd / "missing.jpg", good]
    env = subprocess_env()
    # A FIFO or /dev/zero read to the end would never return: the timeout is the check (no time bound
    # beside it; a busy CI machine took 119 s with TensorFlow's import).
    done = subprocess.run([sys.executable, *PREDICT, *map(str, paths), "--json"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    answers = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [a["file"] for a in answers] == [str(p) for p in paths]
    for answer in answers[:-1]:
        assert answer["error"].endswith(".") and "\n" not in answer["error"], answer
    assert "label" in answers[-1]


def test_the_command_line_stops_on_sigterm_and_keeps_the_finished_epochs(synthetic_data):
    import signal

    from catdog_core import jobs

    env = subprocess_env(CATDOG_DATA_DIR=str(synthetic_data))
    cli = subprocess.Popen([sys.executable, "-m", "catdog_core", "train", "--recipe", "baseline", "--epochs", "100",
                            "--min-steps", "0", "--json"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    queue = jobs.get_queue()
    deadline = time.time() + 180
    while time.time() < deadline:
        active = queue.active()
        if active and len(active[0].history) >= 2:
            break
        time.sleep(0.2)
    cli.send_signal(signal.SIGTERM)
    out, err = cli.communicate(timeout=180)
    assert cli.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped"] and 2 <= summary["epochs"] < 100
    assert runs.find_run(summary["run"]).stopped


def test_a_planted_store_file_is_replaced_not_linked_into_new_runs(trained_transfer):
    """CATDOG_HOME/bases/<digest>.weights.h5 is named by its bytes; one whose bytes are not that
    digest (planted, or damaged on disk) is written over, so new runs still load."""
    from catdog_core.runs import save as saving

    data, result = trained_transfer
    first = runs.save_run(result, data.describe())
    stored = saving.store_dir() / f"{first.base_digest}.weights.h5"
    stored.unlink()  # the first run keeps its own link
    stored.write_bytes(b"planted")
    second = runs.save_run(result, data.describe())
    assert (second.path / runs.BASE_FILE).stat().st_ino == stored.stat().st_ino
    assert stored.stat().st_size == (first.path / runs.BASE_FILE).stat().st_size
    assert runs.load_model(second) is not None

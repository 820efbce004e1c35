"""Shared fixtures: a small synthetic dataset drawn on the fly, isolated homes,
and the paths of the real data and weights in ../shared."""

from __future__ import annotations

import functools
import io
import json
import os
import re
import runpy
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
# The helpers the tests share with the benchmarks (a free port, memory, Chromium's flags), written once there.
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import rss_mb  # noqa: E402,F401
SHARED = Path(os.environ.get("CATDOG_SHARED") or REPO.parent / "shared").resolve()
SHARED_ZIP = SHARED / "data" / "cats_and_dogs.zip"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_no_top_imagenet.h5"


# Students see no tracebacks (config.toml); a failing test should show the whole error.
os.environ["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] = "full"

if SHARED_WEIGHTS.is_file():  # module- and session-scoped fixtures build models too
    os.environ.setdefault("CATDOG_BASE_WEIGHTS", str(SHARED_WEIGHTS))

# No test reaches the network, nor any process a test starts (workers, the command line,
# `streamlit run`): support/netguard/sitecustomize.py refuses connections beyond loopback in each of them.
NETGUARD = Path(__file__).resolve().parent / "support" / "netguard"
os.environ["CATDOG_TESTS_OFFLINE"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD), os.environ.get("PYTHONPATH", "")) if p)
runpy.run_path(str(NETGUARD / "sitecustomize.py"))  # this process too

from streamlit.testing.v1 import AppTest  # noqa: E402
import streamlit_webrtc  # noqa: E402,F401  before any test loads TensorFlow: loaded after it, its SRTP library crashes the process (the server never loads TensorFlow; this test process does)


def subprocess_env(**settings: str) -> dict[str, str]:
    """The environment for a process a test starts: this one's, with the repository importable."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
                **settings)


def draw_image(kind: int, rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """Class 0: warm background with a bright disc; class 1: cool background with a dark square."""
    yy, xx = np.mgrid[:size, :size]
    image = np.empty((size, size, 3), np.float32)
    cx, cy, r = rng.integers(size // 3, 2 * size // 3, 2).tolist() + [int(rng.integers(size // 6, size // 3))]
    if kind == 0:
        image[:] = (170 + rng.integers(-30, 30), 90, 60)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = (250, 230, 120)
    else:
        image[:] = (60, 100, 170 + rng.integers(-30, 30))
        image[(abs(xx - cx) < r) & (abs(yy - cy) < r)] = (20, 30, 60)
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg_bytes(kind: int = 0, seed: int | np.random.Generator = 0, size: int = 96, quality: int = 90) -> bytes:
    """A drawn image of class `kind` (see draw_image) as JPEG bytes; `seed` may be a shared generator."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(draw_image(kind, np.random.default_rng(seed), size)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()




def make_dataset(root: Path, classes=("cats", "dogs"), n_train: int = 24, n_val: int = 10,
                 seed: int = 0) -> Path:
    """root/train/<class>/*.jpg and root/validation/<class>/*.jpg; returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("validation", n_val)):
        for label, name in enumerate(classes):
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(draw_image(label % 2, rng)).save(folder / f"{name}.{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """A small two-class dataset in the post's layout (24 + 10 images per class)."""
    return make_dataset(tmp_path_factory.mktemp("synthetic") / "cats_and_dogs_small")


@pytest.fixture(scope="session")
def trained_transfer(synthetic_data, shared_weights, tmp_path_factory):
    """(dataset, TrainResult): transfer trained 10 epochs on the synthetic data (20 optimizer steps;
    3 epochs left about one drawn test photo in ten wrong), shared by every test that needs a model.
    Class 0 ('cats') is the bright disc. Save it with runs.save_run."""
    from catdog_core import augment, dataset, training
    from catdog_core.jobs import JobSpec

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CATDOG_HOME", str(tmp_path_factory.mktemp("trained_home")))
        data = dataset.load_dataset(synthetic_data)
        return data, training.train(JobSpec("transfer", 10, augment.NO_AUGMENTATION, min_steps=0), data)


@pytest.fixture(scope="session")
def shared_weights() -> str:
    if not SHARED_WEIGHTS.is_file():
        if os.environ.get("CATDOG_REQUIRE_SHARED"):
            pytest.fail(f"shared weights missing at {SHARED_WEIGHTS}")
        pytest.skip("../shared weights not present")
    return str(SHARED_WEIGHTS)


@pytest.fixture(scope="session")
def shared_zip() -> Path:
    if not SHARED_ZIP.is_file():
        if os.environ.get("CATDOG_REQUIRE_SHARED"):
            pytest.fail(f"shared dataset missing at {SHARED_ZIP}")
        pytest.skip("../shared dataset not present")
    return SHARED_ZIP


@pytest.fixture(scope="session")
def real_folder(shared_zip, tmp_path_factory) -> Path:
    """The shared zip unpacked once for the whole run: cats_and_dogs_filtered/{train,validation}."""
    import zipfile

    root = tmp_path_factory.mktemp("real")
    with zipfile.ZipFile(shared_zip) as archive:
        archive.extractall(root)
    return root / "cats_and_dogs_filtered"


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One content-keyed cache for the whole run (decoded images, the converted base, features):
    safe to share because every file in it is named by what it was made from, written atomically
    and under a lock, and it spares each test's worker the MobileNetV2 conversion. With pytest-xdist
    every test process of the run shares it too (the folder above each one's basetemp is the run's)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.getbasetemp().parent / "shared-cache"
        folder.mkdir(exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """A cache of this test's own, for tests about what the cache holds."""
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "own_cache"))
    return tmp_path / "own_cache"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch, request, shared_cache):
    """Every test gets its own CATDOG_HOME and KERAS_HOME; none touches ~/.catdog or the network.
    Training workers a test started (they are processes of their own) are stopped after it."""
    home = tmp_path / "catdog_home"
    monkeypatch.setenv("CATDOG_HOME", str(home))
    monkeypatch.setenv("CATDOG_CACHE", str(shared_cache))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("CATDOG_WORKER_IDLE", "120")  # a worker a test forgot still goes away
    monkeypatch.setenv("CATDOG_WARM", "0")  # the app warms up a worker only in the test about it
    monkeypatch.delenv("CATDOG_DATA_DIR", raising=False)
    monkeypatch.delenv("CATDOG_BACKEND", raising=False)
    monkeypatch.delenv("CATDOG_CLASS_PASSWORD", raising=False)
    monkeypatch.delenv("CATDOG_TEACHER_PASSWORD", raising=False)
    if SHARED_WEIGHTS.is_file():
        monkeypatch.setenv("CATDOG_BASE_WEIGHTS", str(SHARED_WEIGHTS))
    yield home
    from catdog_core.jobs import worker

    worker.shutdown_workers(home, timeout=60)


# ---------------------------------------------------------------- pages in AppTest

APP = REPO / "app.py"
TIMEOUT = 120


# The uploads these tests make: drawn photos of 200x200 pixels at JPEG's default quality.
photo_bytes = functools.partial(jpeg_bytes, size=200, quality=75)


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]


def start_training(at: AppTest, recipe: str, epochs: int) -> int:
    """Choose a recipe and epochs on the Training page, press Start; the queued job's id."""
    at.radio(key="recipe").set_value(recipe)
    at.number_input(key="epochs").set_value(epochs)
    button(at, "Start").click().run()
    return session_job_id(at)


def session_job_id(at: AppTest) -> int | None:
    """The newest job this AppTest session queued, read from the queue (its owner's name)."""
    from catdog_core import jobs

    owner = at.session_state["owner"]
    return next((job.job_id for job in jobs.get_queue().jobs() if job.owner == owner), None)


def as_read(text: str) -> str:
    """What a reader sees of Markdown text (an element's value, an image's caption): the backslash
    escapes of ui.plain removed."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~$:&=%])", r"\1", str(text)).replace("\u2060", "")


def texts(elements) -> list[str]:
    """What a reader sees of each element: Markdown's backslash escapes (ui.plain) removed."""
    return [as_read(e.value) for e in elements]


def chart_points(at: AppTest) -> list[int]:
    """How many epochs each plotly chart's first trace shows."""
    return [len(json.loads(c.proto.spec)["data"][0].get("x", [])) for c in at.get("plotly_chart")]


def gallery_classes(at: AppTest) -> list[str]:
    """The class of each gallery picture, read from its file name (cats.3.jpg, apples4.jpg)."""
    return [re.match(r"[a-z]+", c).group(0).rstrip("0123456789") for image in at.image for c in image.captions]


def grid_urls(at: AppTest) -> list[str]:
    """The Augmentation page's nine copies: the one picture inside its figure, as a data URI."""
    return [json.loads(c.proto.spec)["data"][0]["source"] for c in at.get("plotly_chart") if c.key == "aug_grid"]


def wait_for(at: AppTest, done, timeout: float = 90.0, pause: float = 0.2):
    """Rerun the page (as the live panel does each second) until done(at) is true."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(pause)
    raise AssertionError("timed out waiting for the page")

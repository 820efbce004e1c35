"""Constants from the blog post and the settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

IMG_SIZE = (160, 160)
BATCH_SIZE = 32
SEED = 123

DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
DATA_FNAME = "cats_and_dogs.zip"
DATA_DESCRIPTION = "cats_and_dogs_filtered: 1000 cats + 1000 dogs to train, 500 + 500 to validate"

# Environment variables that let the project run offline on local copies.
ENV_DATA_DIR = "CATDOG_DATA_DIR"
ENV_BASE_WEIGHTS = "CATDOG_BASE_WEIGHTS"
ENV_HOME = "CATDOG_HOME"
ENV_CACHE = "CATDOG_CACHE"
# The training queue's: how many workers, how long an idle one waits, where jobs run, the warm-up.
ENV_WORKERS = "CATDOG_WORKERS"
ENV_WORKER_IDLE = "CATDOG_WORKER_IDLE"
ENV_BACKEND = "CATDOG_BACKEND"
ENV_WARM = "CATDOG_WARM"
ENV_RAY_HOME = "CATDOG_RAY_HOME"  # CATDOG_HOME on a Ray cluster's machines (default: this one's)

EXPECTED_LAYOUT = (
    "a folder (or .zip) with train/ and validation/, each holding one subfolder "
    "of images per class (e.g. train/cats/*.jpg, train/dogs/*.jpg)"
)


def catdog_home() -> Path:
    """Where runs and extracted datasets live: $CATDOG_HOME or ~/.catdog."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".catdog").expanduser()


def cache_home() -> Path:
    """Where content-keyed caches live (decoded images, the converted base, features):
    $CATDOG_CACHE, else CATDOG_HOME/cache. Safe to share between homes and users: every
    file in it is named by a hash of what it was made from."""
    chosen = os.environ.get(ENV_CACHE)
    return Path(chosen).expanduser() if chosen else catdog_home() / "cache"


def keras_home() -> Path:
    """Keras' own cache folder, where get_file keeps downloads."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def child_environment(**settings: str) -> dict[str, str]:
    """The environment of a process catdog starts (a training worker, the model service): this one's,
    with catdog_core importable wherever it runs and TensorFlow's start-up chatter off."""
    package_root = str(Path(__file__).resolve().parents[1])  # the folder holding catdog_core
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **settings)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def data_dir_setting() -> str | None:
    return os.environ.get(ENV_DATA_DIR) or None


def base_weights_setting() -> str:
    """'imagenet' (download on first use) or the path named by $CATDOG_BASE_WEIGHTS."""
    return os.environ.get(ENV_BASE_WEIGHTS) or "imagenet"


def workers_setting() -> int:
    """$CATDOG_WORKERS training workers (1 to 16; 1 when unset or not a number)."""
    try:
        return max(1, min(16, int(os.environ.get(ENV_WORKERS, "1"))))
    except ValueError:
        return 1


def worker_idle_setting(default: float) -> float:
    """Seconds an idle worker waits for a job before it exits: $CATDOG_WORKER_IDLE, else `default`."""
    try:
        return max(0.0, float(os.environ.get(ENV_WORKER_IDLE, default)))
    except ValueError:
        return default


def backend_setting() -> str:
    """$CATDOG_BACKEND, lower-cased: 'local' (the default) or what was asked (the queue checks it)."""
    return (os.environ.get(ENV_BACKEND) or "local").strip().lower()


def warm_setting() -> bool:
    """$CATDOG_WARM=0 (false, no, off) turns the app's warm-up off."""
    return os.environ.get(ENV_WARM, "1").strip() not in ("0", "false", "no", "off")


def ray_address_setting() -> str | None:
    return os.environ.get("RAY_ADDRESS") or None


def ray_home_setting() -> str | None:
    return os.environ.get(ENV_RAY_HOME) or None

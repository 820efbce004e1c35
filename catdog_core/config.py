"""Constants from the blog post, and every setting read from the environment: parsed in one
place (Settings.from_environment), read again only when one of the variables changes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

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
# The class's: set by `catdog classroom` for its server (passes, not the in-app form), and the passwords.
ENV_CLASSROOM = "CATDOG_CLASSROOM"
ENV_CLASS_PASSWORD = "CATDOG_CLASS_PASSWORD"
ENV_TEACHER_PASSWORD = "CATDOG_TEACHER_PASSWORD"
# Read too: where the user's home is, Keras' cache, a Ray cluster's head.
_OTHERS = ("HOME", "KERAS_HOME", "RAY_ADDRESS")
NAMES = (ENV_DATA_DIR, ENV_BASE_WEIGHTS, ENV_HOME, ENV_CACHE, ENV_WORKERS, ENV_WORKER_IDLE, ENV_BACKEND, ENV_WARM,
         ENV_RAY_HOME, ENV_CLASSROOM, ENV_CLASS_PASSWORD, ENV_TEACHER_PASSWORD, *_OTHERS)

EXPECTED_LAYOUT = (
    "a folder (or .zip) with train/ and validation/, each holding one subfolder "
    "of images per class (e.g. train/cats/*.jpg, train/dogs/*.jpg)"
)


def _number(text: str | None, kind: type, low: float, high: float):
    """A number setting within [low, high]; None when unset or not a number."""
    try:
        return None if text is None else max(low, min(high, kind(text)))
    except ValueError:
        return None


@dataclass(frozen=True)
class Settings:
    """Every setting catdog reads from the environment, parsed."""

    home: Path  # runs and extracted datasets: $CATDOG_HOME or ~/.catdog
    home_given: bool  # $CATDOG_HOME was set
    cache: Path  # content-keyed caches: $CATDOG_CACHE, else home/cache
    keras_home: Path  # Keras' own cache, where get_file keeps downloads
    data_dir: str | None  # $CATDOG_DATA_DIR: a local copy of the post's data
    base_weights: str  # 'imagenet' (downloaded on first use) or the path in $CATDOG_BASE_WEIGHTS
    workers: int  # $CATDOG_WORKERS training workers, 1 to 16 (1 when unset or not a number)
    worker_idle: float | None  # $CATDOG_WORKER_IDLE seconds an idle worker waits; None: the worker's default
    backend: str  # $CATDOG_BACKEND, lower-cased: 'local' (default) or what was asked (the queue checks it)
    warm: bool  # $CATDOG_WARM=0 (false, no, off) turns the app's warm-up off
    ray_address: str | None  # RAY_ADDRESS, the cluster's head
    ray_home: str | None  # $CATDOG_RAY_HOME: CATDOG_HOME on the cluster's machines
    classroom: bool  # this server is `catdog classroom`'s
    class_password: str | None
    teacher_password: str | None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "Settings":
        user = Path(env["HOME"]) if env.get("HOME") else Path.home()
        home = Path(env.get(ENV_HOME) or user / ".catdog").expanduser()
        return cls(home=home, home_given=env.get(ENV_HOME) is not None,
                   cache=Path(env[ENV_CACHE]).expanduser() if env.get(ENV_CACHE) else home / "cache",
                   keras_home=Path(env.get("KERAS_HOME") or user / ".keras").expanduser(),
                   data_dir=env.get(ENV_DATA_DIR) or None, base_weights=env.get(ENV_BASE_WEIGHTS) or "imagenet",
                   workers=_number(env.get(ENV_WORKERS), int, 1, 16) or 1,
                   worker_idle=_number(env.get(ENV_WORKER_IDLE), float, 0.0, float("inf")),
                   backend=(env.get(ENV_BACKEND) or "local").strip().lower(),
                   warm=env.get(ENV_WARM, "1").strip() not in ("0", "false", "no", "off"),
                   ray_address=env.get("RAY_ADDRESS") or None, ray_home=env.get(ENV_RAY_HOME) or None,
                   classroom=env.get(ENV_CLASSROOM) == "1", class_password=env.get(ENV_CLASS_PASSWORD) or None,
                   teacher_password=env.get(ENV_TEACHER_PASSWORD) or None)


_read: tuple = ((), None)  # the variables' values last read, and their Settings (replaced as one)


def settings() -> Settings:
    """The settings now. Parsed again only when one of the variables changed since the last call
    (a test, or the command line setting one), so a call costs a dozen dictionary lookups."""
    global _read
    values = tuple(os.environ.get(name) for name in NAMES)
    read = _read
    if read[0] != values:
        read = _read = (values, Settings.from_environment(os.environ))
    return read[1]


def catdog_home() -> Path:
    """Where runs and extracted datasets live: $CATDOG_HOME or ~/.catdog."""
    return settings().home


def cache_home() -> Path:
    """Where content-keyed caches live (decoded images, the converted base, features):
    $CATDOG_CACHE, else CATDOG_HOME/cache. Safe to share between homes and users: every
    file in it is named by a hash of what it was made from."""
    return settings().cache


def keras_home() -> Path:
    return settings().keras_home


def data_dir_setting() -> str | None:
    return settings().data_dir


def base_weights_setting() -> str:
    return settings().base_weights


def workers_setting() -> int:
    return settings().workers


def worker_idle_setting(default: float) -> float:
    """Seconds an idle worker waits for a job before it exits: $CATDOG_WORKER_IDLE, else `default`."""
    chosen = settings().worker_idle
    return default if chosen is None else chosen


def backend_setting() -> str:
    return settings().backend


def warm_setting() -> bool:
    return settings().warm


def ray_address_setting() -> str | None:
    return settings().ray_address


def ray_home_setting() -> str | None:
    return settings().ray_home


def variables_set(*names: str) -> dict[str, str]:
    """Those of these variables that are set (not empty), to hand to a process elsewhere (Ray's)."""
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def child_environment(**settings: str) -> dict[str, str]:
    """The environment of a process catdog starts (a training worker, the model service): this one's,
    with catdog_core importable wherever it runs and TensorFlow's start-up chatter off."""
    package_root = str(Path(__file__).resolve().parents[1])  # the folder holding catdog_core
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **settings)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env

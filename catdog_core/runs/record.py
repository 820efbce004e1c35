"""A saved run as data: the files of a run folder, its limits, and the Run record pages read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..augment import AugmentSettings
from ..errors import CatdogError

MODEL_FILE = "model.keras"
# A run whose MobileNetV2 stayed frozen keeps its head's weights and its base's weights apart
# (meta "model": {"format": FROZEN_BASE, "base": <digest of BASE_FILE>}): writing them takes
# milliseconds where Keras' .keras writer takes ~0.65 s walking the base's 154 layers, and the
# base file is one file linked into every such run. Export still writes one whole .keras file.
HEAD_FILE = "head.npz"
BASE_FILE = "base.weights.h5"
FROZEN_BASE = "frozen-base"
MAX_HEAD_BYTES = 16 * 1024 * 1024  # a Dense layer over 1280 features for MAX_CLASSES classes is ~5 MB
META_FILE = "meta.json"
HISTORY_FILE = "history.json"
COMPLETE = "COMPLETE"
MAX_JSON_BYTES = 1024 * 1024
MAX_MODEL_BYTES = 200 * 1024 * 1024
MAX_MODEL_CONFIG_BYTES = 8 * 1024 * 1024
MAX_PARAMS = 30_000_000  # MobileNetV2 has 2.3 M; the small CNN 0.2 M
MAX_CLASSES = 1000
MAX_NAME = 255
MAX_EXCLUDED = 1000  # photo paths a run's record may list as left out (a job leaves out at most 500)
# Models kept in memory per process. A frozen-base run's model is its head on the process's one shared
# base, so a class's dozen quick models cost little; with 4, thirty students on six runs made the
# model service load and trace a model again on most Classify visits (bench_class: 59 % of its
# quick lane's time).
LOADED_MODELS = 12


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path
    recipe: str
    class_names: tuple[str, ...]
    epochs: int
    epochs_requested: int
    stopped: bool
    test_accuracy: float | None
    test_loss: float | None
    seconds: float
    created: str
    settings: dict
    dataset: dict
    history: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    fine_tune_from_epoch: int | None = None  # fine-tuning began after this epoch
    test_count: int | None = None  # images in the test split it was measured on
    notes: tuple[str, ...] = ()
    spec: dict = field(default_factory=dict)  # the job it was trained from (JobSpec.to_dict()), checked
    model_format: str = "keras"  # "keras" (MODEL_FILE) or FROZEN_BASE (HEAD_FILE + BASE_FILE)
    base_digest: str = ""  # FROZEN_BASE: the digest BASE_FILE must have

    @property
    def best_val_accuracy(self) -> float | None:
        values = [h["val_accuracy"] for h in self.history]
        return max(values) if values else None

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1]["val_accuracy"] if self.history else None

    @property
    def val_count(self) -> int | None:
        counts = self.dataset.get("counts", {}).get("validation")
        return sum(counts.values()) if isinstance(counts, dict) else None

    @property
    def owner(self) -> str:
        """The session that trained it ("" for the command line's: the teacher's)."""
        return str(self.extra.get("owner") or "")

    @property
    def temperature(self) -> float | None:
        """The temperature fitted on its validation split when it was saved (calibration.py), if any."""
        value = self.extra.get("temperature")
        return float(value) if isinstance(value, (int, float)) and 0 < value < 1e3 else None

    @property
    def dataset_key(self) -> str:
        return str(self.dataset.get("key", ""))

    @property
    def label(self) -> str:
        return str(self.extra.get("label", ""))

    @property
    def name(self) -> str:
        """The name a person gave the run, else its id."""
        return str(self.extra.get("name") or self.run_id)

    @property
    def model_path(self) -> Path:
        """The file that holds what this run learned (its stat keys every cache of the model)."""
        return self.path / (HEAD_FILE if self.model_format == FROZEN_BASE else MODEL_FILE)

    @property
    def excluded(self) -> tuple[str, ...]:
        """The training photos this run was trained without (suspected wrong labels)."""
        return tuple(self.extra.get("excluded") or ())

    @property
    def short_name(self) -> str:
        """For chart legends: the name a person gave the run, else the last characters of its id."""
        return str(self.extra.get("name") or self.run_id[-4:])

    @property
    def epochs_text(self) -> str:
        """The epochs it trained, and of how many asked when it was stopped: '1 of 5 (stopped)'."""
        return str(self.epochs) if not self.stopped else f"{self.epochs} of {self.epochs_requested} (stopped)"

    @property
    def augmented(self) -> bool:
        """Whether it trained on augmented photos (model 1 never does, whatever its settings)."""
        try:
            return self.recipe != "baseline" and not AugmentSettings.from_dict(self.settings or {}).is_identity
        except (CatdogError, TypeError):  # settings of another version: not known to be augmented
            return False

    def title(self) -> str:
        """One line naming the run for pickers and messages (plain text)."""
        acc = self.val_accuracy
        left_out = len(self.excluded)
        without = f" · without {left_out} photo{'s' if left_out != 1 else ''}" if left_out else ""
        return f"{self.recipe} · {self.name}{without}" + (f" · val {acc:.1%}" if acc is not None else "")

    def row(self) -> dict:
        """One line of the runs table."""
        return {
            "run": self.run_id,
            "name": self.extra.get("name") or "",
            "recipe": self.recipe,
            "epochs": self.epochs_text,
            "val acc": self.val_accuracy,
            "best val acc": self.best_val_accuracy,
            "test acc": self.test_accuracy,
            "test images": self.test_count,
            "left out": len(self.excluded),  # training photos left out (Label check)
            "seconds": round(self.seconds, 1),
            "date": self.created[:16].replace("T", " "),
            "classes": ", ".join(self.class_names),
        }


@dataclass
class RunListing:
    runs: list[Run]
    problems: list[str]


def runs_dir() -> Path:
    return config.catdog_home() / "runs"

"""The class board: every run on the class's dataset, who trained it, what they changed from the
post, and how good it is, best first. Names are what students typed, kept as text (never markup),
one small file per session under CATDOG_HOME/names so thirty students setting names at once never
overwrite each other."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from . import augment, config, fileio, metrics, models
from .errors import CatdogError
from .names import InvalidName, clean

MAX_NAME = 40  # characters of a name on the board
MAX_NAMES = 2000  # name files kept; beyond that a new name is refused with a sentence
POST_EPOCHS = 20


def names_dir(home: Path | None = None) -> Path:
    return Path(home or config.catdog_home()) / "names"


def _file(owner: str, home: Path | None) -> Path:
    return names_dir(home) / (hashlib.sha1(owner.encode("utf-8")).hexdigest()[:20] + ".txt")


def clean_name(name: str) -> str:
    """A name as the board shows it (names.clean's rules, at most MAX_NAME characters)."""
    return clean(name, MAX_NAME, "A name on the board")


def set_name(owner: str, name: str, home: Path | None = None) -> str:
    """Remember `name` for the session `owner` (the queue's owner string); returns the cleaned name."""
    name = clean_name(name)
    folder = names_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    target = _file(owner, home)
    if not target.exists() and sum(1 for _ in folder.glob("*.txt")) >= MAX_NAMES:
        raise InvalidName(f"The board already has {MAX_NAMES} names; ask the teacher to clear "
                          f"{folder} before the next class.")
    fileio.write_atomic(target, f"{owner}\n{name}".encode("utf-8"))
    return name


def names(home: Path | None = None) -> dict[str, str]:
    """{owner: name} for every session that set one. A damaged file is left out, never an error."""
    found: dict[str, str] = {}
    folder = names_dir(home)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.txt"))[:MAX_NAMES]:
        try:
            if path.stat().st_size > 1024:
                continue
            owner, _, name = path.read_text("utf-8").partition("\n")
            found[owner] = clean_name(name)
        except (OSError, UnicodeDecodeError, InvalidName):
            continue
    return found


def changes(run) -> str:
    """What a run changed from the post's recipe, in a few words ("" when nothing)."""
    parts = []
    spec = run.spec or {}
    epochs = run.epochs_requested or run.epochs
    if epochs != POST_EPOCHS:
        parts.append(f"{epochs} epochs")
    recipe = models.RECIPES.get(run.recipe)
    if recipe is not None and recipe.uses_augmentation:
        try:
            settings = augment.AugmentSettings.from_dict(run.settings or {})
        except CatdogError:
            settings = None
        if settings is not None and settings != augment.AugmentSettings(seed=settings.seed):
            parts.append(augment.describe(settings))
    rate = spec.get("learning_rate") if isinstance(spec, dict) else None
    if isinstance(rate, (int, float)) and recipe is not None and rate != recipe.learning_rate:
        parts.append(f"learning rate {rate:g}")
    tune = spec.get("fine_tune_epochs") if isinstance(spec, dict) else None
    if isinstance(tune, int) and tune > 0:
        parts.append(f"+{tune} fine-tune epochs")
    if run.stopped:
        parts.append("stopped early")
    return ", ".join(parts)


@dataclass(frozen=True)
class Row:
    place: int
    who: str
    mine: bool
    recipe: str
    changes: str
    val_accuracy: float | None
    low: float | None
    high: float | None
    seconds: float
    date: str
    run_id: str

    def as_dict(self, hide_names: bool = False) -> dict:
        return {"place": self.place, "who": "" if hide_names and not self.mine else self.who,
                "you": "you" if self.mine else "", "recipe": self.recipe, "changed from the post": self.changes,
                "val acc": self.val_accuracy, "95% from": self.low, "95% to": self.high,
                "train seconds": round(self.seconds, 1), "date": self.date, "run": self.run_id}


def rows(listing, me: str, known: dict[str, str] | None = None) -> list[Row]:
    """The board's rows for `listing` (runs on one dataset), best validation accuracy first, the
    earlier run first on a tie (it got there first). `me` is this session's owner string."""
    known = names() if known is None else known
    ordered = sorted(listing, key=lambda r: (-(r.val_accuracy if r.val_accuracy is not None else -1.0), r.created))
    board = []
    for place, run in enumerate(ordered, 1):
        owner = str(run.extra.get("owner") or "")
        who = known.get(owner) or owner or "command line"
        low = high = None
        if run.val_accuracy is not None and run.val_count:
            low, high = metrics.interval(run.val_accuracy, run.val_count)
        board.append(Row(place, who, bool(owner) and owner == me, run.recipe, changes(run), run.val_accuracy,
                         low, high, run.seconds, run.created[:16].replace("T", " "), run.run_id))
    return board


def to_csv(board: list[Row], hide_names: bool = False) -> bytes:
    """The board as CSV (UTF-8). Cells a spreadsheet would run as a formula are quoted with a
    leading apostrophe: a name like =HYPERLINK(...) stays text."""
    out = io.StringIO()
    fields = list(Row(0, "", False, "", "", None, None, None, 0.0, "", "").as_dict())
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in board:
        values = row.as_dict(hide_names)
        writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v)
                         for k, v in values.items()})
    return out.getvalue().encode("utf-8")

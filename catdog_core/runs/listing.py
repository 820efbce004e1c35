"""Finding runs: every usable one newest first, the best on a dataset, one by name; and the
post's comparison table."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import CatdogError, RunNotFound
from .checks import read_run
from .record import META_FILE, Run, RunListing, runs_dir


_listed: dict = {}  # the last listing, with the stamp of the folders it was read from
_listed_lock = threading.Lock()


def list_runs() -> RunListing:
    """Every usable run, newest first, and a sentence for each folder that was skipped.

    Read again only when a run folder came, went or changed: every write into a run folder is an
    atomic rename there, which changes the folder's mtime. Under a class every page run lists the
    runs, and checking each folder's five files was a twelfth of the web server's time."""
    base = runs_dir()
    try:
        with os.scandir(base) as found:
            entries = sorted(((e.name, e) for e in found if not e.name.startswith(".")), reverse=True)[:5000]
        folders = [(name, entry) for name, entry in entries if entry.is_dir(follow_symlinks=False)]
        stamp = (str(base), tuple((name, st.st_mtime_ns, st.st_ino) for name, entry in folders
                                  for st in (entry.stat(follow_symlinks=False),)))
    except OSError:
        folders, stamp = [], None
    with _listed_lock:
        if stamp is not None and _listed.get("stamp") == stamp:
            kept = _listed["listing"]
            return RunListing(list(kept.runs), list(kept.problems))
    runs, problems = [], []
    for name, _ in folders:
        try:
            runs.append(read_run(base / name))
        except CatdogError as exc:
            problems.append(f"Run folder {name[:80]} was skipped: {exc}.")
    runs.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    listing = RunListing(runs, problems)
    if stamp is not None:
        with _listed_lock:
            _listed.update(stamp=stamp, listing=RunListing(list(runs), list(problems)))
    return listing


def latest(recipe: str | None = None) -> Run | None:
    for run in list_runs().runs:
        if recipe is None or run.recipe == recipe:
            return run
    return None


def on_dataset(listing: list[Run], key: str | None, class_names=None) -> list[Run]:
    """The runs trained on this dataset (same content key; same classes when a run has no key)."""
    classes = tuple(class_names) if class_names is not None else None
    return [r for r in listing
            if (key and r.dataset_key == key) or (not r.dataset_key and classes is not None and r.class_names == classes)]


def best(listing: list[Run], key: str | None = None, class_names=None, recipe: str | None = None) -> Run | None:
    """The default run: among runs on this dataset (all runs when key and classes are None),
    the best validation accuracy, the newest on a tie; stopped runs count as well."""
    pool = listing if key is None and class_names is None else on_dataset(listing, key, class_names)
    pool = [r for r in pool if recipe is None or r.recipe == recipe]
    if not pool:
        return None
    return max(pool, key=lambda r: (r.val_accuracy if r.val_accuracy is not None else -1.0, r.created))


def find_run(name: str) -> Run:
    """A run by id, by 'latest' / 'latest:RECIPE' / 'best' / 'best:RECIPE', or by folder path."""
    if name in ("latest", "best") or name.startswith(("latest:", "best:")):
        which, _, recipe = name.partition(":")
        recipe = recipe or None
        run = latest(recipe) if which == "latest" else best(list_runs().runs, recipe=recipe)
        if run is None:
            raise RunNotFound(f"There is no saved run{' of ' + recipe if recipe else ''} yet; train one first.")
        return run
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 4096:
        raise RunNotFound("That is not a run name; `python -m catdog_core runs` lists them.")
    candidate = Path(name)
    try:
        if candidate.is_dir() and (candidate / META_FILE).exists():
            path = candidate  # a run folder given by path (command line)
        else:
            path = runs_dir() / candidate.name
        usable = path.is_dir() and not path.name.startswith(".")
    except OSError:
        usable = False
    if not usable:
        raise RunNotFound(f"No saved run is called {name[:120]!r}; `python -m catdog_core runs` lists them.")
    try:
        return read_run(path)
    except CatdogError as exc:
        raise RunNotFound(f"Run {name[:120]} cannot be used: {exc}.") from None


def post_comparison(listing: list[Run], label: str) -> list[dict]:
    """One row per recipe: the post's accuracy beside the latest run with that label."""
    from ..models import RECIPES

    rows = []
    for name, recipe in RECIPES.items():
        run = next((r for r in listing if r.recipe == name and r.label == label), None)
        rows.append({
            "model": recipe.title,
            "post val acc": recipe.post_val,
            "post test acc": recipe.post_test,
            "our val acc": run.val_accuracy if run else None,
            "our test acc": run.test_accuracy if run else None,
            "epochs": run.epochs if run else None,
            "stopped": run.stopped if run else None,  # before the epochs asked for (see Run.epochs_text)
            "run": run.run_id if run else None,
        })
    return rows


def latest_seconds(listing: list[Run], key: str, label: str) -> float | None:
    """How long the latest run with this label took to train on the dataset `key`, as measured on
    this machine (its saved seconds); None when none was trained here."""
    run = next((r for r in on_dataset(listing, key) if r.label == label), None)
    return run.seconds if run is not None else None


def seconds_per_epoch(listing: list[Run], key: str, recipe: str, augmented: bool) -> float | None:
    """The seconds one epoch of `recipe` took on the dataset `key` on this machine, augmented or not:
    the mean epoch of the latest such run (fine-tune epochs left out); None when none was trained here."""
    for run in on_dataset(listing, key):
        epochs = [h["seconds"] for h in run.history if h.get("stage") != "fine-tune"]
        if run.recipe == recipe and run.augmented == augmented and epochs:
            return sum(epochs) / len(epochs)
    return None

"""catdog_core: the library behind the catdog dashboard, and its notebook API.

    from catdog_core import load_dataset, train

    data = load_dataset()                       # the post's data (or CATDOG_DATA_DIR, or a path)
    result = train("transfer", data, epochs=2)  # result.val_accuracy, .history, .model

Importing it is cheap: TensorFlow loads when a dataset is decoded or a model is built. It never
imports Streamlit. The command line is `python -m catdog_core` (catdog_core.cli).
"""

from __future__ import annotations

from .progress import Observer

__version__ = "0.2.0"

__all__ = ["load_dataset", "train"]

# JobSpec fields that are not a notebook's to set: the dataset is an argument, and learning
# curves are jobs of the queue (catdog_core.lessons.learningcurve), not one trained model.
_NOT_SETTINGS = ("recipe", "data", "kind", "sizes")


class _Printer(Observer):
    """What a notebook cell shows while it works: each new phase once, then one line per epoch."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.last = quiet, ""

    def progress(self, done: int, total: int, message: str = "") -> None:
        if not self.quiet and message != self.last:
            self.last = message
            print(message + (f" ({total})" if total else ""), flush=True)

    def on_epoch(self, report) -> None:
        if not self.quiet:
            print(f"epoch {report.epoch}/{report.epochs}: accuracy {report.accuracy:.1%}, "
                  f"validation {report.val_accuracy:.1%} ({report.seconds:.1f} s)", flush=True)


def load_dataset(path=None, *, quiet: bool = False):
    """The checked, decoded dataset split by file (catdog_core.dataset.Dataset).

    No path: CATDOG_DATA_DIR if set, else the post's archive, downloaded once into Keras' cache.
    A path: a folder or .zip with train/ and validation/ (one subfolder per class), or a folder
    of class subfolders, split automatically. Decoded once per machine, cached by content."""
    from .dataset import load_dataset as load

    return load(path, progress=_Printer(quiet).progress)


def train(recipe: str, data=None, *, epochs: int = 20, quiet: bool = False, **options):
    """Train one recipe ("baseline", "augmented", "normalized" or "transfer", the post's models
    1-4) in this process, as a job of the queue would; returns a training.TrainResult with
    `val_accuracy`, `history` (one EpochReport per epoch) and `model` (the inference model).

    `data`: a dataset from load_dataset, a path, or None for load_dataset(). Keywords are a job's
    other settings, by JobSpec's names (settings=AugmentSettings(...), learning_rate,
    fine_tune_epochs, seed, variants, ...), checked as a queued job's are. Nothing is saved:
    catdog_core.runs.save_run(result, data.describe()) makes it a run the dashboard lists."""
    from dataclasses import fields

    from .augment import AugmentSettings
    from .dataset import Dataset
    from .errors import InvalidSettings
    from .jobspec import JobSpec
    from .training import train as fit

    allowed = sorted(f.name for f in fields(JobSpec) if f.name not in _NOT_SETTINGS + ("epochs",))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidSettings(f"train() has no setting {unknown[0]!r}; its settings are epochs, "
                              f"{', '.join(allowed)}.")
    if not isinstance(options.get("settings", AugmentSettings()), AugmentSettings):
        raise InvalidSettings("train()'s settings are an AugmentSettings (catdog_core.augment).")
    spec = JobSpec.from_dict(JobSpec(recipe, epochs, **options).to_dict())  # a queued job's own checks
    if not isinstance(data, Dataset):
        data = load_dataset(data, quiet=quiet)
    return fit(spec, data, observer=_Printer(quiet))

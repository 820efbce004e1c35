"""A training job as data: what to train, on what, with which settings, and where a running one
is (BatchReport). JSON-able, so the queue, a worker, a Ray task, the command line and a saved run
all carry the same records. The bounds of its numbers are jobbounds'."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from numbers import Integral

from . import config
from .augment import NO_AUGMENTATION, AugmentSettings
from .progress import DONE, FAILED, QUEUED, RUNNING, STOPPED, BatchReport  # a job's states live with its progress
from .jobbounds import (BASE_LAYERS, BOUNDS, FINE_TUNE_AT, MAX_EPOCHS, MIN_STEPS, SMALL_DATA_IMAGES, Bound,
                        epochs_for_steps)

# The bounds are jobbounds', named here too: a job's callers ask jobspec for all of it.
__all__ = ["AUGCHECK_KIND", "AUGCHECK_VARIANTS", "BASE_LAYERS", "BOUNDS", "CURVE_BASELINE_EPOCHS",
           "CURVE_BASELINE_MAX", "CURVE_BASELINE_STEPS", "CURVE_KIND", "CURVE_RECIPES", "CURVE_SIZES", "DONE",
           "FAILED", "FINE_TUNE_AT", "MAX_EPOCHS", "MAX_EXCLUDE", "MAX_SIZES", "MIN_STEPS", "QUEUED", "QUICK",
           "REPRODUCE_LABEL",
           "RUNNING", "SHORTCUT_KIND", "SMALL_DATA_IMAGES", "STAMP_FIELDS", "STOPPED", "VARIANTS", "BatchReport",
           "Bound", "JobSpec", "QuickPreset", "augcheck_spec", "check_spec", "curve_spec", "epochs_for_steps", "sizes_list",
           "planned_epochs", "post_specs", "quick_spec", "resolved", "shortcut_spec", "stamp_items"]

MAX_EXCLUDE = 500  # training photos a job may leave out (suspected wrong labels)
MAX_SIZES = 12  # sizes one learning curve trains
# Augmented variants of each training photo whose frozen-base features an augmented transfer run
# computes once (its first VARIANTS epochs) and draws from after that; see training._VariantBank.
VARIANTS = 8


def check_spec(spec: "JobSpec") -> "JobSpec":
    """The spec, or InvalidSettings naming the first setting out of its bounds (BOUNDS); what a
    setting means for a recipe (fine-tuning needs a frozen base) is the trainer's to say."""
    for name in ("epochs", "fine_tune_epochs", "fine_tune_at", "variants", "min_steps", "seed"):
        BOUNDS[name].check(getattr(spec, name))
    if spec.learning_rate is not None:
        BOUNDS["learning_rate"].check(spec.learning_rate)
    return spec


@dataclass(frozen=True)
class QuickPreset:
    """"Press Train, see a good model": cached features, no augmentation."""

    epochs: int = 10
    settings: AugmentSettings = NO_AUGMENTATION
    learning_rate: float = 3e-4  # steadier than Adam's 1e-3 over 10 epochs (96 % vs 93-95 % val)


QUICK = QuickPreset()


@dataclass(frozen=True)
class JobSpec:
    """Everything a training job needs, JSON-able so a queue or a Ray task can carry it."""

    recipe: str
    epochs: int
    settings: AugmentSettings = field(default_factory=AugmentSettings)
    data: str | None = None  # dataset path; None: the configured default
    use_cache: bool = True
    learning_rate: float | None = None  # None: the recipe's own
    fine_tune_epochs: int = 0
    fine_tune_at: int = FINE_TUNE_AT
    label: str = ""  # what pages show, e.g. "quick transfer"
    seed: int = config.SEED
    weights: str | None = None  # MobileNetV2 weights; None: $CATDOG_BASE_WEIGHTS or ImageNet
    min_steps: int = MIN_STEPS  # optimizer steps a small dataset still gets (more epochs)
    exclude: tuple[str, ...] = ()  # training photos left out (paths relative to the dataset), see suspects
    kind: str = "train"  # "train": one model, saved as a run; "learning_curve": see lessons/learningcurve.py
    sizes: tuple[int, ...] = ()  # a learning curve's training-set sizes (photos)
    variants: int = VARIANTS  # augmented variants per photo made and kept (0: a new one every epoch)
    sweep_setting: str = ""  # an augmentation check's swept setting ("" : one check of `settings`)
    sweep_values: tuple = ()  # its values, see augcheck.sweep_values
    stamp: tuple = ()  # a planted shortcut's shortcut.Stamp, as sorted (name, value) pairs

    def to_dict(self) -> dict:
        values = asdict(self)
        values["settings"] = self.settings.to_dict()
        values.pop("exclude")
        if self.exclude:  # only when set: a spec without exclusions keeps its earlier form (and queue key)
            values["exclude"] = list(self.exclude)
        for name, default in (("kind", "train"), ("sizes", ()), ("variants", VARIANTS), ("sweep_setting", ""),
                              ("sweep_values", ()), ("stamp", ())):
            value = values.pop(name)
            if value != default:  # only when set, as exclude: a training job's spec keeps its form
                values[name] = list(value) if name in ("sizes", "sweep_values") else \
                    dict(value) if name == "stamp" else value
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "JobSpec":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in dict(values).items() if k in known}
        values["settings"] = AugmentSettings.from_dict(values.get("settings") or {})
        values["exclude"] = _exclude_list(values.get("exclude") or ())
        values["sizes"] = sizes_list(values.get("sizes") or ())
        values["sweep_values"] = _sweep_list(values.get("sweep_setting", ""), values.get("sweep_values") or ())
        values["stamp"] = stamp_items(values.get("stamp") or {})
        return cls(**values)


def _sweep_list(setting, values) -> tuple:
    """JobSpec.sweep_values from JSON: at most 6 numbers, or flip modes for a sweep of flip."""
    from .augment import FLIP_MODES
    from .errors import InvalidSettings

    if not isinstance(setting, str) or not isinstance(values, (list, tuple)) or len(values) > 6:
        raise InvalidSettings("An augmentation sweep takes at most 6 values of one setting.")
    if setting == "flip":
        ok = all(isinstance(v, str) and v in FLIP_MODES for v in values)
    else:
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in values)
    if not ok:
        raise InvalidSettings(f"An augmentation sweep of {setting or 'nothing'} cannot take these values.")
    return tuple(values)


STAMP_FIELDS = ("target", "share", "size", "corner", "colour", "seed")  # shortcut.Stamp's


def stamp_items(values) -> tuple:
    """JobSpec.stamp from JSON (a dict of shortcut.Stamp's fields): its shape here, its values where
    the job runs (shortcut.Stamp.check, against the data's classes)."""
    from .errors import InvalidSettings

    if isinstance(values, tuple):
        values = dict(values)
    if not values:
        return ()
    if not isinstance(values, dict) or "target" not in values or not set(values) <= set(STAMP_FIELDS) or \
            not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) and len(str(v)) <= 200
                    for v in values.values()):
        raise InvalidSettings(f"A planted shortcut's stamp takes {', '.join(STAMP_FIELDS)}, each a number or a name.")
    return tuple(sorted(values.items()))


def sizes_list(values) -> tuple[int, ...]:
    """A learning curve's sizes (JobSpec.sizes from JSON, or a notebook's list): a tuple of at most
    MAX_SIZES whole numbers of photos."""
    from .errors import InvalidSettings

    if not isinstance(values, (list, tuple)) or len(values) > MAX_SIZES or \
            not all(isinstance(v, Integral) and not isinstance(v, bool) and 0 < v <= 10**7 for v in values):
        raise InvalidSettings(f"A learning curve's sizes must be a list of at most {MAX_SIZES} whole numbers of photos.")
    return tuple(int(v) for v in values)  # a notebook's numpy integers as well


def _exclude_list(values) -> tuple[str, ...]:
    """JobSpec.exclude from JSON (a list): a tuple of at most MAX_EXCLUDE texts."""
    from .errors import InvalidSettings

    if not isinstance(values, (list, tuple)) or len(values) > MAX_EXCLUDE or \
            not all(isinstance(v, str) and 0 < len(v) <= 4096 for v in values):
        raise InvalidSettings(f"A job's exclusions must be a list of at most {MAX_EXCLUDE} photo paths.")
    return tuple(values)


CURVE_KIND = "learning_curve"  # JobSpec.kind of a learning curve (catdog_core.lessons.learningcurve runs it)
CURVE_SIZES = (20, 50, 100, 200, 500, 1000, 2000)  # photos; the post's training split has 2000
CURVE_RECIPES = ("transfer", "baseline")
CURVE_BASELINE_MAX = 200  # the small CNN trains on raw pixels: above this a point takes minutes on 2 CPU cores
# The small CNN's optimizer steps cost ~1.5 s each on 2 CPU cores whatever the subset, so it trains
# 1 epoch, at least CURVE_BASELINE_STEPS steps (5 epochs of 200 photos): its four points take ~5 minutes.
CURVE_BASELINE_EPOCHS, CURVE_BASELINE_STEPS = 1, 30


def curve_spec(recipe: str = "transfer", data: str | None = None, sizes=CURVE_SIZES) -> "JobSpec":
    """A learning curve as a job of the queue (jobs.submit): its points stream into the job's
    history, one record per point, as they finish; it saves no run."""
    from .errors import InvalidSettings

    if recipe not in CURVE_RECIPES:
        raise InvalidSettings(f"A learning curve trains {' or '.join(CURVE_RECIPES)}, not {recipe!r}.")
    transfer = recipe == "transfer"
    return JobSpec(recipe, QUICK.epochs if transfer else CURVE_BASELINE_EPOCHS, QUICK.settings, data,
                   learning_rate=QUICK.learning_rate if transfer else None, label=f"learning curve ({recipe})",
                   min_steps=MIN_STEPS if transfer else CURVE_BASELINE_STEPS, kind=CURVE_KIND,
                   sizes=tuple(int(n) for n in sizes))


AUGCHECK_KIND = "augment_check"  # JobSpec.kind of "does this augmentation help?" (catdog_core.lessons.augcheck)
AUGCHECK_VARIANTS = 4  # augmented copies of each training photo it makes


def augcheck_spec(settings: AugmentSettings, data: str | None = None, sweep_setting: str = "",
                  sweep_values=()) -> "JobSpec":
    """An augmentation check (or a sweep of one setting) as a job of the queue: each answer streams
    into the job's history as one record; it saves no run."""
    from .augment import sweep_values as planned

    if sweep_setting:
        planned(settings, sweep_setting, sweep_values)  # a bad sweep is refused before it is queued
    label = f"augmentation sweep ({sweep_setting})" if sweep_setting else "does augmentation help?"
    return JobSpec("transfer", QUICK.epochs, settings, data, learning_rate=QUICK.learning_rate, label=label,
                   kind=AUGCHECK_KIND, variants=AUGCHECK_VARIANTS, sweep_setting=sweep_setting,
                   sweep_values=_sweep_list(sweep_setting, list(sweep_values)))


SHORTCUT_KIND = "shortcut"  # JobSpec.kind of "plant a shortcut" (catdog_core.lessons.shortcut runs it)


def shortcut_spec(stamp, data: str | None = None) -> "JobSpec":
    """A planted shortcut (a shortcut.Stamp, or its fields) as a job of the queue: the quick head
    trained with the stamp and without, measured three ways; the answer is the job's one record."""
    items = stamp_items(stamp if isinstance(stamp, (dict, tuple)) else asdict(stamp.check()))
    return JobSpec("transfer", QUICK.epochs, NO_AUGMENTATION, data, learning_rate=QUICK.learning_rate,
                   label=f"plant a shortcut ({str(dict(items)['target'])[:40]})", kind=SHORTCUT_KIND, stamp=items)


def quick_spec(data: str | None = None) -> JobSpec:
    """The transfer quick preset as a job."""
    return JobSpec("transfer", QUICK.epochs, QUICK.settings, data, use_cache=True,
                   learning_rate=QUICK.learning_rate, label="quick transfer")


REPRODUCE_LABEL = "reproduce the post"


def post_specs(data: str | None = None, epochs: int = 20, min_steps: int = MIN_STEPS) -> list[JobSpec]:
    """The post's four models with its settings: 20 epochs, batch 32, flip both ways, rotation 0.2."""
    from .models import RECIPES

    return [JobSpec(name, epochs, AugmentSettings(), data, label=REPRODUCE_LABEL, min_steps=min_steps)
            for name in RECIPES]


def resolved(spec: JobSpec) -> JobSpec:
    """The spec, checked against BOUNDS (refused before it is queued), with this process's data and
    weights settings written in, so any worker (another process, another machine) trains what the
    submitter meant."""
    check_spec(spec)
    return replace(spec, data=spec.data if spec.data is not None else config.data_dir_setting(),
                   weights=spec.weights or config.base_weights_setting())


def planned_epochs(spec: JobSpec, train_images: int, batch_size: int = config.BATCH_SIZE) -> int:
    """The epochs a job will train on a training split of `train_images` photos (before its
    exclusions), fine-tuning included: what its progress counts towards from the start."""
    kept = max(0, train_images - len(spec.exclude))
    return epochs_for_steps(spec.epochs, kept, batch_size, spec.min_steps) + spec.fine_tune_epochs

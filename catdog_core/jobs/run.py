"""Running one job: load the data, train, save the run; or save what a dead job's checkpoint
kept. Used by the local worker, the Ray task, the command line and the benchmarks alike."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from .. import config, features
from ..errors import CatdogError
from ..models import build, get_recipe
from ..jobspec import JobSpec
from ..progress import Phase

CONVERT_SECONDS = 300  # the base's conversion in its own process (a few seconds on 2 cores)


def _convert_beside_decoding(spec: JobSpec) -> subprocess.Popen | None:
    """For the transfer recipe, build and convert the frozen base (once per machine) in a process of
    its own while this one decodes the dataset: in a thread, the conversion's ~5 s of TensorFlow
    Python took turns with the decode for one interpreter lock and made it 2.5x slower."""
    if not (get_recipe(spec.recipe).frozen_base and spec.use_cache):
        return None
    weights = spec.weights or config.base_weights_setting()
    try:
        if features.is_converted(weights):
            return None
        return subprocess.Popen([sys.executable, "-m", "catdog_core.jobs", "--convert", weights],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None  # training converts (or falls back to TensorFlow) itself


def _joined(converting: subprocess.Popen | None, wait: bool = True) -> None:
    """Wait for the conversion (bounded: training converts itself after it), or end it now when the
    job will not train; never leave it running."""
    if converting is None:
        return
    try:
        if wait:
            converting.wait(timeout=CONVERT_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if converting.poll() is None:
            converting.kill()
            converting.wait()


def _load_beside_conversion(spec: JobSpec, observer):
    """The job's dataset, decoded while the frozen base converts in a process of its own."""
    from .. import dataset as datasets

    converting = _convert_beside_decoding(spec)
    try:
        data = datasets.load_dataset(spec.data, progress=observer.progress)
    except BaseException:  # a refused dataset, Ctrl-C: no conversion is waited for
        _joined(converting, wait=False)
        raise
    _joined(converting)
    return data


def _run_extra(spec: JobSpec, result, data, extra: dict | None) -> dict:
    """What a run's record says beside its training: label, rate, photos left out, temperature."""
    from .. import calibration

    extra = {"label": spec.label, "learning_rate": spec.learning_rate, **(extra or {})}
    if spec.exclude:  # which photos were left out: Compare says "without N photos"
        extra["excluded"] = list(spec.exclude)
    if result.validation_logits is not None and len(result.validation_logits) >= calibration.MIN_PHOTOS:
        # The run keeps its temperature (calibration.py): Classify can show calibrated probabilities.
        extra["temperature"] = calibration.fit_temperature(result.validation_logits, data.validation.labels)
    return extra


def _remember_evaluations(run, data, result) -> None:
    """What Evaluate and the embedding map show, from the splits' own logits."""
    from .. import evaluate

    for split, logits in (("test", result.test_logits), ("validation", result.validation_logits)):
        if logits is not None and len(logits):
            evaluate.remember(run, data.key, evaluate.from_logits(logits, data.split(split), run.class_names, split))


def run_job(spec: JobSpec, observer=None, stop: threading.Event | None = None,
            extra: dict | None = None, checkpoint: Path | None = None, runs_root: Path | None = None):
    """The one training job: load the data, train, save the run. Returns the saved Run, or None
    when it was stopped before an epoch finished. Used by the queue's workers, Ray tasks, the
    command line (through the queue) and the benchmarks alike."""
    from .. import runs
    from ..training import Observer, train  # imported here: training itself imports this package's spec

    if spec.kind != "train":  # a learning curve runs on the local worker (worker.run_one), not here
        raise CatdogError(f"A {spec.kind.replace('_', ' ')} job runs on the local worker (CATDOG_BACKEND=local).")
    observer = observer or Observer()
    observer.phase(Phase.LOADING)
    data = _load_beside_conversion(spec, observer)
    result = train(spec, data, observer=observer, stop=stop, checkpoint=checkpoint)
    if not result.epochs_done:
        return None
    observer.phase(Phase.SAVING)
    run = runs.save_run(result, data.describe(), _run_extra(spec, result, data, extra), base=runs_root,
                        spec=spec.to_dict())
    if runs_root is None:  # saved into CATDOG_HOME, where Evaluate reads it
        _remember_evaluations(run, data, result)
    return run


def _checkpoint_info(checkpoint: Path) -> dict | None:
    """What a job's last checkpoint says of it; None when no epoch had finished."""
    info_path = Path(checkpoint) / "checkpoint.json"
    if not info_path.is_file():
        return None
    info = json.loads(info_path.read_text(encoding="utf-8"))
    return info if info.get("history") else None


def _rebuilt(spec: JobSpec, classes: int, info: dict, checkpoint: Path):
    """The job's model, built again at the checkpoint's stage, with the checkpoint's weights."""
    from ..training import read_checkpoint_weights, unfreeze

    built = build(spec.recipe, classes, spec.settings, weights=spec.weights, learning_rate=spec.learning_rate)
    if info["stage"] == "fine-tune":
        unfreeze(built, spec.fine_tune_at, (spec.learning_rate or built.recipe.learning_rate) / 10)
    learner = built.head if info["learner"] == "head" else built.model
    learner.set_weights(read_checkpoint_weights(checkpoint))
    return built


def _salvaged_result(spec: JobSpec, built, data, info: dict):
    """The checkpoint's epochs as a stopped TrainResult, tested on the test split where there is one."""
    from .. import evaluate
    from ..training import EpochReport, TrainResult

    result = TrainResult(get_recipe(spec.recipe).name, built.inference, data.class_names, spec.settings,
                         int(info["epochs_requested"]), [EpochReport(**h) for h in info["history"]],
                         stopped=True, fine_tune_from_epoch=info.get("fine_tune_from_epoch"),
                         cached=info["learner"] == "head", notes=list(info.get("notes", [])))
    if len(data.test):
        checked = evaluate.evaluate_run(built.inference, data, data.class_names, "test")
        result.test_accuracy, result.test_loss, result.test_count = checked.accuracy, checked.loss, checked.count
    return result


def salvage(spec: JobSpec, checkpoint: Path, extra: dict | None = None, runs_root: Path | None = None):
    """A job whose process died: its finished epochs (the last checkpoint) saved as a stopped run.
    None when no epoch had finished."""
    from .. import dataset as datasets
    from .. import runs

    info = _checkpoint_info(checkpoint)
    if info is None:
        return None
    data = datasets.load_dataset(spec.data)
    if list(data.class_names) != info["class_names"]:
        return None  # the data changed since: these weights answer other classes
    built = _rebuilt(spec, len(data.class_names), info, checkpoint)
    result = _salvaged_result(spec, built, data, info)
    extra = {"label": spec.label, **(extra or {})}
    if spec.exclude:
        extra["excluded"] = list(spec.exclude)
    return runs.save_run(result, data.describe(), extra, base=runs_root,
                         spec=spec.to_dict())

"""The command line's arguments: one subcommand per job, the same options everywhere."""

from __future__ import annotations

import argparse
import functools

from .. import config
from . import classroom

DESCRIPTION = "The command line: look at the data, train, evaluate and predict without a browser."
FLIPS = ["none", "horizontal", "vertical", "both"]
RUN_HELP = "run id, a run folder, 'latest' or 'latest:RECIPE'"
SAVED_RUN_HELP = "run id, a run folder, 'latest' or 'best'"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other user error: exit code 2 and one line on stderr."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="catdog", description=DESCRIPTION)
    add = functools.partial(_add_command, p.add_subparsers(dest="command", required=True))
    add("info", "data source, counts per split and class, skipped files")
    _add_train(add)
    _add_reproduce(add)
    add("runs", "list saved runs")
    add("evaluate", "accuracy of a saved run on validation and test").add_argument("run", help=RUN_HELP)
    _add_predict(add)
    _add_export(add)
    _add_script(add)
    _add_map(add)
    _add_augment_check(add)
    _add_worker(add)
    _add_jobs(add)
    classroom.add_parser(add)
    return p


def _add_command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand with the options every command takes."""
    cmd = sub.add_parser(name, help=help_text)
    cmd.add_argument("--json", action="store_true", help="end with one machine-readable JSON line")
    cmd.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
    cmd.add_argument("--data", default=None,
                     help=f"dataset folder or zip (default: ${config.ENV_DATA_DIR}, else download)")
    return cmd


def _add_train(add) -> None:
    from ..models import RECIPES
    from ..jobspec import FINE_TUNE_AT, MIN_STEPS, VARIANTS

    t = add("train", "train a recipe and save the run")
    t.add_argument("--recipe", choices=list(RECIPES), default="transfer")
    t.add_argument("--epochs", type=int, default=None, help="default 20 (10 with --quick)")
    t.add_argument("--quick", action="store_true", help="no augmentation, cached features (transfer)")
    t.add_argument("--flip", choices=FLIPS, default="both")
    t.add_argument("--rotation", type=float, default=0.2)
    t.add_argument("--no-cache", action="store_true", help="train the whole model as the post does")
    t.add_argument("--variants", type=int, default=VARIANTS,
                   help=f"augmented variants of each photo whose MobileNetV2 features are made once, in the "
                        f"first epochs, and drawn from later (default {VARIANTS}; 0: new ones every epoch)")
    t.add_argument("--fine-tune-epochs", type=int, default=0,
                   help="after the frozen stage, train the top of MobileNetV2 this many more epochs")
    t.add_argument("--fine-tune-at", type=int, default=FINE_TUNE_AT, help="first MobileNetV2 layer to unfreeze")
    t.add_argument("--min-steps", type=int, default=MIN_STEPS,
                   help=f"optimizer steps a small dataset still gets, in more epochs (default {MIN_STEPS})")


def _add_reproduce(add) -> None:
    from ..jobspec import MIN_STEPS

    r = add("reproduce", "train the post's four models with its settings and compare")
    r.add_argument("--epochs", type=int, default=None, help="default: the post's 20")
    r.add_argument("--min-steps", type=int, default=MIN_STEPS, help=argparse.SUPPRESS)


def _add_predict(add) -> None:
    pr = add("predict", "classify image files with a saved run")
    pr.add_argument("run")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--explain", metavar="OUTDIR", default=None,
                    help="also write a Grad-CAM overlay per image to OUTDIR/<name>_gradcam.png (transfer runs)")


def _add_export(add) -> None:
    x = add("export", "write a saved run as a .keras file or a TensorFlow Lite model, with labels.txt")
    x.add_argument("run", help=RUN_HELP)
    x.add_argument("--format", choices=["keras", "tflite"], default="keras")
    x.add_argument("--output", choices=["logits", "probabilities"], default="logits",
                   help="what the exported model returns (default: logits, one score per class)")
    x.add_argument("--out", required=True,
                   help="keras: a .keras path or a folder; tflite: a folder (gets model.tflite)")


def _add_script(add) -> None:
    sc = add("script", "write a standalone Python script that retrains a run's recipe on any data folder")
    sc.add_argument("run", help=SAVED_RUN_HELP)
    sc.add_argument("--out", default=None, help="the .py file to write (default: print it)")


def _add_map(add) -> None:
    mp = add("map", "write the embedding map of a run (held-out images by features) as an HTML page")
    mp.add_argument("run", help=SAVED_RUN_HELP)
    mp.add_argument("--out", required=True, help="the .html file to write")
    mp.add_argument("--method", choices=["pca", "umap"], default="pca", help="umap needs umap-learn")


def _add_augment_check(add) -> None:
    ac = add("augment-check", "does augmentation help the transfer head? with and without, over several seeds")
    ac.add_argument("--flip", choices=FLIPS, default="both")
    ac.add_argument("--rotation", type=float, default=0.2)
    for name in ("zoom", "translation", "contrast", "brightness"):
        ac.add_argument(f"--{name}", type=float, default=0.0)
    ac.add_argument("--seed", type=int, default=42, help="of the augmentation's random layers")
    ac.add_argument("--variants", type=int, default=4, help="augmented copies of each training photo (default 4)")
    ac.add_argument("--seeds", type=int, default=3, help="heads trained on each side (default 3)")
    ac.add_argument("--sweep", choices=["rotation", "zoom", "translation", "contrast", "brightness", "flip"],
                    default=None, help="measure at each of --values of this setting instead")
    ac.add_argument("--values", nargs="+", default=None, help="2 to 6 values for --sweep")


def _add_worker(add) -> None:
    w = add("worker", "train queued jobs (started for you when a job is submitted)")
    w.add_argument("--slot", default="0", help=argparse.SUPPRESS)
    w.add_argument("--idle", type=float, default=None, help="seconds to wait for new jobs before exiting")
    w.add_argument("--stop", action="store_true", help="ask this home's workers to stop and exit")
    w.add_argument("--status", action="store_true", help="list this home's workers")
    w.add_argument("--warm", action="store_true",
                   help="first decode the default dataset and cache MobileNetV2's features (what the app asks for)")


def _add_jobs(add) -> None:
    j = add("jobs", "the training queue: running, queued and recent jobs")
    j.add_argument("--stop", type=int, nargs="+", metavar="ID", help="stop these jobs (queued ones are cancelled)")
    j.add_argument("--stop-all", action="store_true", help="stop every queued and running job")
    j.add_argument("--limit", type=int, default=20, help="how many jobs to list (default 20)")

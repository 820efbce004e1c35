"""Where a quick job's seconds go in a warm worker, for this code and (with --vs) another checkout
measured in the same run on the same machine and the same warm cache.

Each checkout runs in a process of its own, as a worker does: one quick job first (it decodes and
caches the features when the cache is cold, and compiles what the process keeps), then --jobs more,
each timed by its own observer's phase timestamps. Printed: the median of those jobs per phase.

    python benchmarks/bench_job.py --data DIR --weights H5 [--jobs 5] [--vs /tmp/catdog-before]

`--vs` takes another checkout of this repository (e.g. `git worktree add /tmp/catdog-before COMMIT`).
CATDOG_CACHE, when set, is the cache both use (else a fresh one, shared by both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import scratch  # noqa: E402

# Runs inside the measured checkout (its own catdog_core), prints one JSON line per job.
CHILD = r"""
import gc, json, sys, time
from catdog_core.jobs.run import run_job
from catdog_core.jobspec import quick_spec
from catdog_core.training import Observer

class Phases(Observer):
    def __init__(self):
        self.start = time.perf_counter()
        self.marks = []
    def progress(self, done, total, message=""):
        if not self.marks or self.marks[-1][1] != message:
            self.marks.append((time.perf_counter() - self.start, message))
    def on_epoch(self, report):
        self.marks.append((time.perf_counter() - self.start, f"epoch {report.epoch}"))

for n in range(int(sys.argv[1]) + 1):
    phases = Phases()
    run = run_job(quick_spec(), observer=phases)
    total = time.perf_counter() - phases.start
    collected = time.perf_counter()
    gc.collect()
    print(json.dumps({"job": n, "total": total, "gc": time.perf_counter() - collected, "marks": phases.marks,
                      "val": run.val_accuracy}), flush=True)
"""


def split(marks: list, total: float) -> dict:
    """Phase seconds from the timestamps: up to "Training", the first epoch, the other epochs,
    the test split, saving."""
    at = {message: t for t, message in marks}
    epochs = sorted((t, m) for t, m in marks if m.startswith("epoch "))
    training = at.get("Training", 0.0)
    test = at.get("Measuring the test split", epochs[-1][0])
    saving = at.get("Saving the run", test)
    return {"load and build": training, "first epoch": epochs[0][0] - training,
            "other epochs": epochs[-1][0] - epochs[0][0], "test split": saving - test,
            "saving": total - saving, "job": total}


def measure(app: Path, env: dict, jobs: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(jobs)], cwd=app, env=dict(env, PYTHONPATH=str(app)),
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{app}: failed:\n{done.stderr[-2000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    warm = rows[1:]  # the first job is the cold one (or the first in this process)
    phases = [split(r["marks"], r["total"]) for r in warm]
    out = {name: statistics.median(p[name] for p in phases) for name in phases[0]}
    out["gc after the job"] = statistics.median(r["gc"] for r in warm)
    out["first job in the process"] = rows[0]["total"]
    out["val"] = rows[-1]["val"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the cats_and_dogs_filtered folder")
    p.add_argument("--weights", required=True, help="the MobileNetV2 no-top .h5 file")
    p.add_argument("--jobs", type=int, default=5, help="warm jobs timed after the first")
    p.add_argument("--vs", default=None, help="another checkout, measured in the same run")
    args = p.parse_args()
    cache = os.environ.get("CATDOG_CACHE") or scratch("bench-job-cache-")
    apps = [REPO] + ([Path(args.vs).resolve()] if args.vs else [])
    results = {}
    for app in apps:
        env = dict(os.environ, CATDOG_HOME=scratch("bench-job-"), CATDOG_CACHE=cache,
                   CATDOG_DATA_DIR=args.data, CATDOG_BASE_WEIGHTS=args.weights, TF_CPP_MIN_LOG_LEVEL="2")
        started = time.perf_counter()
        results[app] = measure(app, env, args.jobs)
        print(f"[{time.strftime('%H:%M:%S')}] {app}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"bench_job: a quick job in a warm process, median of {args.jobs}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    names = list(results[REPO])
    print(f"{'seconds':28}" + "".join(f"{str(a)[-24:]:>26}" for a in apps) + ("   ratio" if args.vs else ""))
    for name in names:
        values = [results[a][name] for a in apps]
        ratio = f"{values[1] / values[0]:7.2f}x" if args.vs and values[0] and name != "val" else ""
        print(f"{name:28}" + "".join(f"{v:26.3f}" for v in values) + ("   " + ratio if ratio else ""))


if __name__ == "__main__":
    sys.exit(main())

"""Opening runs as a class does: frozen-base runs opened one after another in one process, each
built on the shared base and warmed as the model service warms a model it opens (its prediction
graph and its Grad-CAM), now and for the code of `--vs BEFORE` (a `git worktree`), each in a fresh
interpreter of its own, one after the other in the same run. Printed: the seconds of each opening
(the first loads the base and traces it), the later ones' median, and now against before.

    python benchmarks/bench_open.py [--heads 6] [--vs BEFORE] [--weights H5]
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import json, sys, time
import numpy as np
from catdog_core import explain, models, predict
weights, heads = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
seconds = []
for i in range(heads):
    started = time.perf_counter()
    model = models.build("transfer", 2, weights=weights, share_base=True).inference
    model.get_layer("logits").set_weights([rng.normal(0, 0.05, (1280, 2)).astype("float32"),
                                           np.zeros(2, "float32")])
    predict.warm_up(model)
    explain.warm_up(model)
    seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
"""


def opened(code: Path, weights: str, heads: int) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(code), TF_CPP_MIN_LOG_LEVEL="2", CATDOG_BASE_WEIGHTS=weights)
    done = subprocess.run([sys.executable, "-c", CHILD, weights, str(heads)], cwd=code, env=env,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{code}: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--vs", type=Path, default=None, help="a checkout of the code before, measured in the same run")
    p.add_argument("--weights", default=os.environ.get(
        "CATDOG_BASE_WEIGHTS", str(REPO.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_no_top_imagenet.h5")))
    args = p.parse_args()
    print(f"bench_open: {args.heads} frozen-base runs opened in one process, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    rows = [("now", REPO)] + ([("before", args.vs.resolve())] if args.vs else [])
    later = {}
    for label, code in rows:
        seconds = opened(code, args.weights, args.heads)
        later[label] = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        print(f"{label:7} first {seconds[0]:6.2f} s (the base loaded and traced), then "
              + " ".join(f"{s:.2f}" for s in seconds[1:]) + f" s: median {later[label]:.2f} s a run")
    if "before" in later:
        print(f"a run opened after the first: {later['now']:.2f} s now, {later['before']:.2f} s before "
              f"({later['before'] / later['now']:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much data is enough? The transfer head's learning curve on the post's data, in one process:
the seconds and validation accuracy at each training-set size, beside one full quick training
(the head on all 2000 photos, 10 epochs) measured in the same run, and the same curve asked for
again (every point from the cache).

    python benchmarks/bench_curve.py --data DIR --weights H5 [--baseline] [--sizes 20,50,...]

Runs in a scratch CATDOG_HOME (and cache), so the features are computed once, here, and timed.
`--baseline` also runs the small CNN (raw pixels) at its sizes up to learningcurve.BASELINE_MAX.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, scratch  # noqa: E402  (and the repository on the path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--sizes", default="20,50,100,200,500,1000,2000")
    parser.add_argument("--baseline", action="store_true", help="also the small CNN at its sizes")
    args = parser.parse_args()
    scratch_dir = Path(scratch("bench-curve-"))
    os.environ.update(CATDOG_HOME=str(scratch_dir), CATDOG_CACHE=str(scratch_dir / "cache"), CATDOG_BASE_WEIGHTS=args.weights,
                      KERAS_HOME=str(scratch_dir / "keras"), TF_CPP_MIN_LOG_LEVEL="2")
    from catdog_core import dataset, jobs, training
    from catdog_core.lessons import learningcurve

    sizes = [int(n) for n in args.sizes.split(",")]
    started = time.perf_counter()
    data = dataset.load_dataset(args.data)
    print(f"dataset: {len(data.train)} train, {len(data.validation)} validation photos "
          f"({time.perf_counter() - started:.1f} s to decode)", flush=True)
    started = time.perf_counter()
    training.warm_cache(data)
    print(f"MobileNetV2 features of every split, once: {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    quick = training.train(jobs.quick_spec(args.data), data)
    print(f"one full quick training (head, {len(data.train)} photos, {quick.epochs_done} epochs): "
          f"{time.perf_counter() - started:.1f} s, validation {quick.val_accuracy:.1%}", flush=True)

    recipes = ["transfer"] + (["baseline"] if args.baseline else [])
    for recipe in recipes:
        print(f"\n{recipe}: size  accuracy  95 % interval  steps  seconds", flush=True)
        started = time.perf_counter()
        points = learningcurve.learning_curve(
            data, recipe, sizes,
            on_point=lambda p: print(f"{p.recipe:>9} {p.size:5d}  {p.accuracy:7.1%}  {p.low:5.1%}-{p.high:5.1%}  "
                                     f"{p.steps:5d}  {p.seconds:6.1f}", flush=True))
        whole = time.perf_counter() - started
        started = time.perf_counter()
        again = learningcurve.learning_curve(data, recipe, sizes)
        print(f"{recipe}: the curve {whole:.1f} s ({len(points)} points); asked again: "
              f"{time.perf_counter() - started:.3f} s, {sum(p.cached for p in again)} of {len(again)} from the cache")
        print(learningcurve.summary(points))
    print(f"\npeak memory: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Suspicious labels on the post's data: seconds to compute from cached features, against one
quick-model head trained on the same cached features, measured in the same run.

  features   MobileNetV2's features of the training split (computed once, then cached)
  baseline   one quick transfer head (10 epochs, Keras fit, cached features): `training.train`
  suspects   5 out-of-fold softmax heads over the training split (numpy) and the ranking:
             `suspects.report_from`, best of --repeat

Prints the seconds, the ratio suspects/baseline, the out-of-fold accuracy and the top 10.

    python benchmarks/bench_suspects.py --data PATH_TO_cats_and_dogs_filtered --weights H5 [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

from _common import peak_rss_mb, scratch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the cats_and_dogs_filtered folder")
    p.add_argument("--weights", required=True, help="the MobileNetV2 no-top .h5 file")
    p.add_argument("--home", default=None, help="CATDOG_HOME to use (default: a new empty one)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    os.environ["CATDOG_HOME"] = args.home or scratch("bench-suspects-")
    os.environ["CATDOG_BASE_WEIGHTS"] = args.weights

    from catdog_core import dataset, jobs, training
    from catdog_core.lessons import suspects

    print(f"bench_suspects: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    data = dataset.load_dataset(args.data)
    started = time.perf_counter()
    features = suspects.train_features(data, args.weights)
    print(f"{'MobileNetV2 built + train features (cached)':44} {time.perf_counter() - started:8.2f} s")
    training.warm_cache(data, weights=args.weights)  # validation and test too: the baseline only trains

    started = time.perf_counter()
    result = training.train(jobs.quick_spec(args.data), data)
    baseline = time.perf_counter() - started
    print(f"{'baseline: one quick head (10 epochs, Keras)':44} {baseline:8.2f} s   val "
          f"{result.val_accuracy:.1%}")

    times, report = [], None
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = suspects.report_from(features, data)
        times.append(time.perf_counter() - started)
    best = min(times)
    print(f"{'suspects: 5 out-of-fold heads + ranking':44} {best:8.2f} s   out-of-fold accuracy "
          f"{report.accuracy:.1%}, {report.disagreements} labels contradicted of {report.photos}")
    print(f"{'ratio suspects / baseline':44} {best / baseline:8.2f}x   peak RSS {peak_rss_mb():.0f} MB")
    print("top 10:")
    for s in report.suspects[:10]:
        print(f"  {s.path:32} label {s.given:5} model {s.predicted:5} {s.confidence:6.1%}")


if __name__ == "__main__":
    main()

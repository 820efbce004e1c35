"""'Does it help?' on the post's data, against its floor measured in the same run.

  floor      one TFLite pass of the frozen base over as many photos as the check's variants
             (K x 2000 = 8,000, the photos as they are: no augmentation) + training 2 x S heads
             (numpy, on the plain features): what any such check pays on this machine
  check      augcheck.check for the post's settings (RandomFlip + RandomRotation(0.2)), K = 4,
             S = 3, the plain photos' features cached, the variants' not (a new seed each run)
  again      the same question again: read from the disk
  sweep      five rotation values (0.05 .. 0.4), against five floors
  spread     the 3-seed spread against a 10-seed spread of the same check (features reused)

    python benchmarks/bench_augcheck.py --data PATH_TO_cats_and_dogs_filtered --weights H5 [--no-sweep]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import peak_rss_mb, scratch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the cats_and_dogs_filtered folder")
    p.add_argument("--weights", required=True, help="the MobileNetV2 no-top .h5 file")
    p.add_argument("--no-sweep", action="store_true", help="skip the five-value sweep (~5 checks)")
    args = p.parse_args()
    os.environ["CATDOG_HOME"] = scratch("bench-augcheck-")
    os.environ["CATDOG_BASE_WEIGHTS"] = args.weights

    from catdog_core.lessons import augcheck
    from catdog_core import dataset, features
    from catdog_core.augment import AugmentSettings
    from catdog_core.lessons.augcheck import _Base, _heads, variant_features

    print(f"bench_augcheck: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    data = dataset.load_dataset(args.data)
    base = _Base(data, args.weights, lambda *a: None)  # builds the base, caches the plain features
    k, s = augcheck.VARIANTS, augcheck.SEEDS
    train, val = base.plain["train"], base.plain["validation"]
    y, vy = data.train.labels, data.validation.labels

    started = time.perf_counter()
    images = data.train.images
    for _ in range(k):
        for start in range(0, len(images), augcheck.CHUNK):
            base.extract(images[start:start + augcheck.CHUNK])
    forward = time.perf_counter() - started
    started = time.perf_counter()
    _heads(train, y, val, vy, 2, 2 * s)
    heads = time.perf_counter() - started
    floor = forward + heads
    print(f"{'floor: base over ' + str(k * len(images)) + ' photos + ' + str(2 * s) + ' heads':44} {floor:8.2f} s"
          f"   ({forward:.2f} + {heads:.2f})")

    seed = int(time.time()) % 100000
    post = AugmentSettings(seed=seed)
    started = time.perf_counter()
    result = augcheck.check(data, post)
    check = time.perf_counter() - started
    print(f"{'check: the post settings, K=4, S=3':44} {check:8.2f} s   {check / floor:5.2f}x the floor")
    print(f"  {result.verdict}")
    started = time.perf_counter()
    again = augcheck.check(data, post)
    print(f"{'again: the same question':44} {time.perf_counter() - started:8.3f} s   cached: {again.cached}")

    bank = variant_features(base.extract, data, post, k)
    ten = _heads(None, y, val, vy, 2, 10, variants=bank)
    three, ten_spread = augcheck.spread(ten[:3]), augcheck.spread(ten)
    print(f"{'spread: 3 seeds vs 10 seeds (with)':44} {three * 100:6.2f} vs {ten_spread * 100:.2f} points"
          f"   ratio {three / ten_spread if ten_spread else float('nan'):.2f}")
    plain_ten = _heads(train, y, val, vy, 2, 10)
    print(f"{'spread: 3 seeds vs 10 seeds (without)':44} {augcheck.spread(plain_ten[:3]) * 100:6.2f} vs "
          f"{augcheck.spread(plain_ten) * 100:.2f} points; 10-seed means {np.mean(ten):.2%} with, "
          f"{np.mean(plain_ten):.2%} without")

    if not args.no_sweep:
        values = [0.05, 0.1, 0.2, 0.3, 0.4]
        started = time.perf_counter()
        swept = augcheck.check_many(data, [AugmentSettings(flip="none", rotation=v, seed=seed) for v in values])
        sweep = time.perf_counter() - started
        print(f"{'sweep: rotation at 5 values (no flip)':44} {sweep:8.2f} s   {sweep / (5 * floor):5.2f}x five floors")
        for v, r in zip(values, swept):
            print(f"  rotation {v:<5} {r.with_mean:.2%} ± {r.with_spread * 100:.2f}   {r.verdict}")
    print(f"peak memory {peak_rss_mb():.0f} MB; engine {base.extract.engine}; features cache {features.cache_dir()}")


if __name__ == "__main__":
    main()

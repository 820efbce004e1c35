"""Augmentation preview: time per slider change for a 3x3 grid, once warm.

Replays 40 changes of the Augmentation page's controls (rotation, zoom,
translation, contrast, brightness, flip, seed) and times augment.preview()
for each; prints p50 / p95 and the first (cold) call for comparison.

    python benchmarks/bench_augment.py [--data PATH_TO_cats_and_dogs_filtered]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import a_photo, percentiles  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("CATDOG_DATA_DIR"))
    p.add_argument("--changes", type=int, default=40)
    args = p.parse_args()

    from catdog_core import augment
    from catdog_core.images import resize_for_model

    image = resize_for_model(a_photo(args.data))
    settings = augment.AugmentSettings()
    t = time.perf_counter()
    augment.preview(image, settings)
    cold = (time.perf_counter() - t) * 1000
    flips = list(augment.FLIP_MODES)
    samples = []
    for i in range(args.changes):
        field = ("rotation", "zoom", "translation", "contrast", "brightness", "flip", "seed")[i % 7]
        value = {"flip": flips[i % 4], "seed": i}.get(field, round(0.05 + 0.4 * ((i * 7) % 10) / 10, 2))
        settings = settings.replace(**{field: value})
        t = time.perf_counter()
        grid = augment.preview(image, settings)
        samples.append((time.perf_counter() - t) * 1000)
    assert grid.shape == (9, 160, 160, 3)
    print(f"bench_augment: preview of 9 images, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"first call (cold): {cold:.0f} ms")
    print(f"per slider change (warm): {percentiles(samples)}")


if __name__ == "__main__":
    main()

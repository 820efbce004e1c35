"""Honest models on the post's data: "none of the above" and calibration, with the figures the
issue asks for, and each time beside its floor measured in the same run.

  scores     the share of validation photos, test photos and scikit-image's non-pets (20, no
             download) flagged at the threshold where 95 % of validation photos pass, for the
             candidate scores; whether its cat (Chelsea) passes. novelty.py uses the first.
  time       the score of one photo (its features given) against the floor: the frozen base's
             TFLite forward pass over that photo, which Classify pays anyway
  calibration  the quick head (numpy, as the quick model) on the cached features: expected
             calibration error on the test split as it is and after the temperature fitted on
             validation
  shortcut   a 16-pixel red square on every cat's training photo: accuracy on clean validation
             photos, on dogs stamped, on cats unstamped; its time against one quick training

    python benchmarks/bench_novelty.py --data PATH_TO_cats_and_dogs_filtered --weights H5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import scratch

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests" / d) for d in ("unit", ".")]


def flagged_share(scores: np.ndarray, threshold: float) -> float:
    return float(np.mean(scores > threshold))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the cats_and_dogs_filtered folder")
    p.add_argument("--weights", required=True, help="the MobileNetV2 no-top .h5 file")
    args = p.parse_args()
    os.environ["CATDOG_HOME"] = scratch("bench-novelty-")
    os.environ["CATDOG_BASE_WEIGHTS"] = args.weights

    from catdog_core import calibration, dataset, features, images, novelty
    from catdog_core.lessons import suspects
    from catdog_core.metrics import softmax
    from test_novelty import skimage_photos

    print(f"bench_novelty: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    data = dataset.load_dataset(args.data)
    extractor = novelty.base_extractor(args.weights)
    split_x = {s: features.cached_features(extractor, data.key, s, data.split(s).images)
               for s in ("train", "validation", "test")}
    photos = skimage_photos()
    cat = photos.pop("chelsea")
    others = extractor(np.stack([images.resize_for_model(p) for p in photos.values()]))
    chelsea = extractor(images.resize_for_model(cat)[None])
    ref = novelty.reference_for(extractor, data)

    train_x, train_y = split_x["train"], data.train.labels
    w, b = suspects.fit_softmax(train_x, train_y, 2)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def nearest(k):
        bank = unit(train_x.astype(np.float64))
        return lambda x: -np.sort(unit(np.asarray(x, np.float64)) @ bank.T, axis=1)[:, -k:].mean(1)

    def raw_distance():  # as novelty.py, without scaling each photo's features to length 1
        x = train_x.astype(np.float64)
        means = np.stack([x[train_y == c].mean(0) for c in (0, 1)])
        centred = x - means[train_y]
        cov = centred.T @ centred / len(x)
        cov = (1 - novelty.SHRINK) * cov + novelty.SHRINK * np.trace(cov) / len(cov) * np.eye(len(cov))
        whiten = np.linalg.cholesky(np.linalg.inv(cov))
        return lambda f: np.sqrt(np.min([(((np.asarray(f, np.float64) - m) @ whiten) ** 2).sum(1) for m in means], 0))

    candidates = {
        "Mahalanobis, unit length (novelty.py)": ref.scores,
        "Mahalanobis, raw features": raw_distance(),
        "nearest training photo (cosine, k=1)": nearest(1),
        "nearest training photos (cosine, k=5)": nearest(5),
        "the model's max softmax": lambda x: -softmax(np.asarray(x, np.float64) @ w + b).max(1),
        "the model's energy": lambda x: -np.log(np.exp(np.asarray(x, np.float64) @ w + b).sum(1)),
    }
    print(f"{'score':42} {'val':>6} {'test':>6} {'non-pets':>9}  cat")
    for name, score in candidates.items():
        threshold = float(np.quantile(score(split_x["validation"]), novelty.SHARE))
        out = score(others) > threshold
        print(f"{name:42} {flagged_share(score(split_x['validation']), threshold):6.1%} "
              f"{flagged_share(score(split_x['test']), threshold):6.1%} {out.mean():6.1%} ({out.sum()}/{len(out)})"
              f"  {'passes' if score(chelsea)[0] <= threshold else 'FLAGGED'}")
    missed = [n for n, v in zip(photos, ref.verdicts(others)) if not v.out_of_distribution]
    print(f"  novelty.py passes: {', '.join(missed) or 'none'}")

    one = data.test.images[:1]
    extractor(one)
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        extractor(one)
    floor_ms = (time.perf_counter() - started) / runs * 1000
    feats = extractor(one)
    started = time.perf_counter()
    for _ in range(runs):
        ref.scores(feats)
    score_ms = (time.perf_counter() - started) / runs * 1000
    print(f"{'floor: the base over one photo (TFLite)':42} {floor_ms:8.2f} ms")
    print(f"{'the score of one photo':42} {score_ms:8.2f} ms  = {score_ms / floor_ms:.2f}x the floor")

    logits = {s: split_x[s].astype(np.float64) @ w + b for s in ("validation", "test")}
    checked = calibration.calibrate(logits["test"], data.test.labels, logits["validation"], data.validation.labels)
    print(f"calibration of the quick head: error on {checked.count} test photos {checked.before.ece:.2%} -> "
          f"{checked.after.ece:.2%} with T = {checked.temperature:.2f} (fitted on {checked.fitted_on} validation)")
    print(f"  {checked.before.sentence()}")

    # The shortcut lesson against one quick training (cached features, as the quick preset), same run.
    from catdog_core.lessons import shortcut
    from catdog_core import training
    from catdog_core.jobs import quick_spec

    started = time.perf_counter()
    training.train(quick_spec(), data)
    quick = time.perf_counter() - started
    started = time.perf_counter()
    planted = shortcut.run_shortcut(data, shortcut.Stamp("cats", 1.0, 16), args.weights)
    lesson = time.perf_counter() - started
    print(f"{'floor: one quick training (features cached)':42} {quick:8.2f} s")
    print(f"{'shortcut, 100 % of cats stamped, 16 px':42} {lesson:8.2f} s  = {lesson / quick:.2f}x; clean "
          f"{planted.clean:.1%}, dogs stamped {planted.others_stamped:.1%} (fall {planted.fall * 100:.0f} points; "
          f"control {planted.without['others_stamped']:.1%}), cats unstamped {planted.target_clean:.1%}")
    # The lesson's own floor: its stamped photos through the base, batched as it batches them.
    passes = planted.stamped_photos + planted.counts["others_stamped"]
    sample = data.train.images[:256]
    extractor(sample)  # the interpreter's batch shape set once, as in the lesson's chunks
    started = time.perf_counter()
    extractor(sample)
    per_photo = (time.perf_counter() - started) / len(sample)
    print(f"{'floor: its stamped photos through the base':42} {passes * per_photo:8.2f} s  ({passes} photos at "
          f"{per_photo * 1000:.2f} ms, batched); the shortcut is {lesson / (passes * per_photo):.2f}x it")


if __name__ == "__main__":
    main()

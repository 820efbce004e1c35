"""Transfer learning, timed three ways on the same machine in one run.

  (a) the blog post's pipeline as written: image_dataset_from_directory,
      take/skip test split, model 4, model.fit for N epochs;
  (b) this project's `transfer` recipe, same augmentation and epochs
      (decode once, cached validation/test features, fast frozen base, and
      --variants augmented variants per photo made in the first epochs and
      drawn from after them); with --fresh also (b0), new variants in every
      epoch as the post (variants 0);
  (c) the quick preset (`train --quick`) from a cold start: new process,
      empty CATDOG_HOME, nothing cached;
  (d) the same command again, same CATDOG_HOME: the worker is still warm;
  (e) again after stopping the worker: a new training process, caches on disk.

Each runs in its own process, so wall time and peak memory are its own.
Prints wall seconds, seconds per epoch, accuracies, peak RSS, and the ratios
a/b and a/c (with --variants 0 also projected to the post's 20 epochs from
the measured fixed cost and per-epoch cost).

    python benchmarks/bench_transfer.py --data PATH_TO_cats_and_dogs_filtered [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, peak_rss_mb, scratch

def post_pipeline(folder: Path, epochs: int, weights: str) -> dict:
    """Model 4 exactly as the post builds and trains it."""
    import keras
    from keras import layers

    started = time.perf_counter()
    train_ds = keras.utils.image_dataset_from_directory(folder / "train", shuffle=True, batch_size=32,
                                                        image_size=(160, 160), verbose=False)
    val_ds = keras.utils.image_dataset_from_directory(folder / "validation", shuffle=True, batch_size=32,
                                                      image_size=(160, 160), verbose=False)
    val_batches = int(val_ds.cardinality())
    test_ds = val_ds.take(val_batches // 5)
    val_ds = val_ds.skip(val_batches // 5)
    import tensorflow as tf

    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
    val_ds = val_ds.prefetch(tf.data.AUTOTUNE)
    test_ds = test_ds.prefetch(tf.data.AUTOTUNE)

    data_augmentation = keras.Sequential([layers.RandomFlip(), layers.RandomRotation(0.2)])
    preprocess_input = keras.applications.mobilenet_v2.preprocess_input
    base_model = keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, weights=weights)
    base_model.trainable = False
    inputs = keras.Input(shape=(160, 160, 3))
    x = preprocess_input(inputs)
    x = data_augmentation(x)
    x = base_model(x, training=False)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    epoch_seconds: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.t)

    history = model.fit(train_ds, epochs=epochs, validation_data=val_ds, callbacks=[Clock()], verbose=0)
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    return {"val_accuracy": history.history["val_accuracy"][-1], "test_accuracy": test_accuracy,
            "epoch_seconds": epoch_seconds, "inner_seconds": time.perf_counter() - started}


def project_pipeline(folder: Path, epochs: int, weights: str, variants: int) -> dict:
    from catdog_core import augment, jobs

    started = time.perf_counter()
    run = jobs.run_job(jobs.JobSpec("transfer", epochs, augment.AugmentSettings(), str(folder),
                                    weights=weights, variants=variants))  # the one job function the queue runs
    return {"val_accuracy": run.val_accuracy, "test_accuracy": run.test_accuracy,
            "epoch_seconds": [h["seconds"] for h in run.history],
            "inner_seconds": time.perf_counter() - started}


def child(which: str, folder: Path, epochs: int, weights: str, variants: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = post_pipeline(folder, epochs, weights) if which == "post" else \
        project_pipeline(folder, epochs, weights, variants)
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out))


def timed(cmd: list[str], env: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    result = next((json.loads(l[7:]) for l in lines if l.startswith("RESULT ")), None)
    return wall, result if result is not None else json.loads(lines[-1])


def main() -> None:
    from catdog_core import jobs

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder with train/ and validation/ (the unpacked zip)")
    p.add_argument("--weights", default=os.environ.get("CATDOG_BASE_WEIGHTS", "imagenet"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--variants", type=int, default=jobs.VARIANTS,
                   help=f"(b)'s augmented variants per photo, made once (default {jobs.VARIANTS})")
    p.add_argument("--fresh", action="store_true",
                   help="also time (b0): (b) with new variants every epoch (variants 0), the earlier path")
    p.add_argument("--child", choices=["post", "project"], help=argparse.SUPPRESS)
    args = p.parse_args()
    folder = Path(args.data)
    if (folder / "cats_and_dogs_filtered").is_dir():
        folder = folder / "cats_and_dogs_filtered"
    if args.child:
        return child(args.child, folder, args.epochs, args.weights, args.variants)

    print(f"bench_transfer: {args.epochs} epochs, data {folder}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    rows = {}
    for name, variants in (("post", 0), ("project", args.variants), ("every", 0))[:3 if args.fresh else 2]:
        home = scratch("catdog-bench-")  # cold: no converted base, no runs
        env = dict(os.environ, CATDOG_HOME=home, CATDOG_BASE_WEIGHTS=args.weights, TF_CPP_MIN_LOG_LEVEL="2")
        wall, out = timed([sys.executable, __file__, "--child", "post" if name == "post" else "project",
                           "--data", str(folder), "--epochs", str(args.epochs), "--weights", args.weights,
                           "--variants", str(variants)], env)
        rows[name] = dict(out, wall=wall)
    home = scratch("catdog-bench-")
    env = dict(os.environ, CATDOG_HOME=home, CATDOG_BASE_WEIGHTS=args.weights, TF_CPP_MIN_LOG_LEVEL="2",
               CATDOG_DATA_DIR=str(folder), PYTHONPATH=str(REPO))
    env.pop("CATDOG_CACHE", None)
    quick = [sys.executable, "-m", "catdog_core", "train", "--recipe", "transfer", "--quick", "--json"]
    for key in ("quick", "again", "fresh"):
        if key == "fresh":  # stop the warm worker: the next job starts a new training process
            subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--stop"], env=env, cwd=REPO,
                           capture_output=True, timeout=120)
        wall, out = timed(quick, env)
        rows[key] = {"wall": wall, "val_accuracy": out["val_accuracy"], "test_accuracy": out["test_accuracy"],
                     "epoch_seconds": [], "peak_rss_mb": float("nan")}
    subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--stop"], env=env, cwd=REPO,
                   capture_output=True, timeout=120)

    labels = {"post": "(a) post as written", "project": f"(b) transfer, {args.variants} variants",
              "every": "(b0) transfer, 0 variants", "quick": "(c) quick preset, cold",
              "again": "(d) quick, warm worker", "fresh": "(e) quick, new process"}
    print(f"{'':26}{'wall s':>8}{'s/epoch':>9}{'val acc':>9}{'test acc':>9}{'peak MB':>9}")
    for key, row in rows.items():
        per_epoch = sum(row["epoch_seconds"][1:] or row["epoch_seconds"] or [float("nan")]) / max(
            1, len(row["epoch_seconds"][1:] or row["epoch_seconds"]))
        row["per_epoch"] = per_epoch
        print(f"{labels[key]:26}{row['wall']:8.1f}{per_epoch:9.2f}{row['val_accuracy']:9.3f}"
              f"{row['test_accuracy']:9.3f}{row['peak_rss_mb']:9.0f}")
    a, b, c = rows["post"], rows["project"], rows["quick"]
    print(f"second quick training: {rows['again']['wall']:.1f} s with the worker warm, "
          f"{rows['fresh']['wall']:.1f} s in a new worker process (caches on disk)")

    def projected(row, epochs=20):  # fixed cost + epochs x steady per-epoch cost
        return row["wall"] - sum(row["epoch_seconds"]) + epochs * row["per_epoch"]

    print(f"ratio a/b, {args.epochs} epochs measured: {a['wall'] / b['wall']:.2f}x "
          f"(val acc {a['val_accuracy']:.3f} vs {b['val_accuracy']:.3f})")
    if args.variants == 0:  # else (b)'s epochs past its variants are cheaper than its first: no projection
        print(f"ratio a/b, 20 epochs projected: {projected(a) / projected(b):.2f}x "
              f"({projected(a):.0f} s vs {projected(b):.0f} s)")
    if "every" in rows:
        print(f"ratio b0/b, {args.epochs} epochs measured: {rows['every']['wall'] / b['wall']:.2f}x; a/b0: "
              f"{a['wall'] / rows['every']['wall']:.2f}x (val acc {rows['every']['val_accuracy']:.3f})")
    print(f"ratio a/c, wall: {a['wall'] / c['wall']:.2f}x; quick preset cold: {c['wall']:.1f} s wall, "
          f"val acc {c['val_accuracy']:.3f}")


if __name__ == "__main__":
    main()

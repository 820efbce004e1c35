"""Classify end to end (bytes in, probabilities out): p50 / p95 and memory.

Loads a saved transfer model once, then classifies a 160x160 JPEG and a
12-megapixel JPEG 50 times each; then the baselines, same run: both through the model's
TensorFlow graph (before the TFLite engine), and the large one also with the full-size decode
used before JPEGs were scaled by their DCT. Prints latency percentiles, the process's
peak memory, and its memory after the first call vs after the 50 calls.

The floor, same run, for each photo: TensorFlow's JPEG decode at the DCT scale the app uses
(images.dct_ratio), the resize to 160x160 and one pass of the converted base on TFLite, called
directly (no checks, no head, no answer): what classifying that photo cannot take less than.

    python benchmarks/bench_predict.py [--data PATH_TO_cats_and_dogs_filtered] [--n 50]
"""

from __future__ import annotations

import argparse
import io
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import a_photo, peak_rss_mb, percentiles, rss_mb, scratch  # noqa: E402


def jpeg_bytes(image, size, noise: float = 0.0) -> bytes:
    """The photo resized; noise gives a large JPEG the detail (and file size) of a phone photo."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR), dtype=np.float32)
    if noise:
        pixels += np.random.default_rng(0).normal(0, noise, pixels.shape).astype(np.float32)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=92)
    return out.getvalue()


def floor_ms(data: bytes, tflite_file, n: int) -> list[float]:
    """Decode at the app's DCT scale + resize + one TFLite forward pass, called directly, n times."""
    import tensorflow as tf
    from PIL import Image

    from catdog_core import features, images

    width, height = Image.open(io.BytesIO(data)).size
    ratio = images.dct_ratio(width, height)
    run = features.tflite_runner(tflite_file)
    samples = []
    for _ in range(n + 1):
        t = time.perf_counter()
        pixels = tf.image.resize(tf.io.decode_jpeg(data, channels=3, ratio=ratio), (160, 160))
        run(pixels.numpy()[None])
        samples.append((time.perf_counter() - t) * 1000)
    return samples[1:]  # the first call allocates the interpreter's tensors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("CATDOG_DATA_DIR"))
    p.add_argument("--n", type=int, default=50)
    args = p.parse_args()

    import keras

    from catdog_core import config, features, models, predict

    # A saved and reloaded transfer model: the same file type the app serves. The app's warm-up has
    # converted the frozen base to TFLite before anyone classifies; so does this, once per home.
    weights = config.base_weights_setting()
    if not features.is_converted(weights):
        features.FeatureExtractor(models.build_features(weights), weights)
    path = os.path.join(scratch("bench-predict-"), "model.keras")
    models.build("transfer").model.save(path)
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    predict.warm_up(model)
    engine = "TFLite base + numpy head" if predict.frozen_base_forward(model) else "TensorFlow graph"
    classes = ("cats", "dogs")
    photo = a_photo(args.data)
    inputs = {"160x160 JPEG": jpeg_bytes(photo, (160, 160)), "12 MP JPEG (4000x3000)": jpeg_bytes(photo, (4000, 3000), noise=6.0)}
    print(f"bench_predict: {args.n} calls each, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}; "
          f"the model answers through: {engine}")
    predict.classify_bytes(model, inputs["160x160 JPEG"], classes)  # first call builds the graph
    after_first = rss_mb()
    from catdog_core import images

    rows = [(name, data, True, True) for name, data in inputs.items()]
    # The baselines, same run: the TensorFlow graph for every photo (before the TFLite engine),
    # and that with a full-size decode (before DCT scaling).
    rows.append(("160x160, TF graph", inputs["160x160 JPEG"], True, False))
    rows.append(("12 MP, TF graph", inputs["12 MP JPEG (4000x3000)"], True, False))
    rows.append(("12 MP, TF, full decode", inputs["12 MP JPEG (4000x3000)"], False, False))
    for name, data, scaled, fast in rows:
        images.DCT_SCALING, predict.FAST_ENGINE = scaled, fast
        samples = []
        for _ in range(args.n):
            t = time.perf_counter()
            predict.classify_bytes(model, data, classes)
            samples.append((time.perf_counter() - t) * 1000)
        print(f"{name:24} {len(data) / 1e6:5.2f} MB   {percentiles(samples)}")
    images.DCT_SCALING, predict.FAST_ENGINE = True, True
    import numpy as np

    tflite_file = features.tflite_path(features.converted_marker(weights).read_text().strip())
    for name, data in inputs.items():
        floor = floor_ms(data, tflite_file, args.n)
        ours = []
        for _ in range(args.n):
            t = time.perf_counter()
            predict.classify_bytes(model, data, classes)
            ours.append((time.perf_counter() - t) * 1000)
        print(f"{'floor: ' + name:32} {percentiles(floor)}   classify p50 / floor p50: "
              f"{np.median(ours) / np.median(floor):.2f}x (classify again beside it: p50 {np.median(ours):.1f} ms)")
    after = rss_mb()
    print(f"memory: after first call {after_first:.0f} MB, after {2 * args.n} calls {after:.0f} MB "
          f"(growth {after - after_first:+.0f} MB), peak {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()

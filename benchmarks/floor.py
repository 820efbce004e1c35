"""The machine's floors, measured now, in fresh interpreters: what any code on this machine pays.

These machines differ up to 5x from one day to the next, so a benchmark prints its figures as
ratios to floors it measured in the same run (`measure(data, weights)`), never as bare seconds.

  import    `import tensorflow, keras` in a fresh interpreter (best of 3)
  decode    read + decode + resize every JPEG of the dataset with tf.data, 2 parallel calls
  forward   MobileNetV2 at 160 px, TFLite/XNNPACK, 2 threads, batch 32: ms per image
            (the conversion is done first and not counted)
  cold      import + decode + one forward pass over every photo: what a cold quick run
            cannot go below (its head's training is a few hundred ms more)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")

DECODE = r"""
import sys, time, json
import tensorflow as tf
files = sorted(str(p) for p in __import__("pathlib").Path(sys.argv[1]).rglob("*.jpg"))
def load(path):
    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    return tf.cast(tf.image.resize(image, (160, 160)), tf.uint8)
ds = tf.data.Dataset.from_tensor_slices(files).map(load, num_parallel_calls=2)
start = time.perf_counter()
n = sum(1 for _ in ds.as_numpy_iterator())
print(json.dumps({"seconds": time.perf_counter() - start, "files": n}))
"""

FORWARD = r"""
import sys, time, json, tempfile, os
import numpy as np, tensorflow as tf, keras
base = keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, pooling="avg",
                                      weights=sys.argv[1])
flat = tf.lite.TFLiteConverter.from_keras_model(base).convert()
path = os.path.join(tempfile.mkdtemp(), "base.tflite")
open(path, "wb").write(flat)
interpreter = tf.lite.Interpreter(model_path=path, num_threads=2)
inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
interpreter.resize_tensor_input(inp, (32, 160, 160, 3)); interpreter.allocate_tensors()
batch = np.random.default_rng(0).uniform(-1, 1, (32, 160, 160, 3)).astype(np.float32)
interpreter.set_tensor(inp, batch); interpreter.invoke()  # the first call sets XNNPACK up
rounds = int(sys.argv[2]); start = time.perf_counter()
for _ in range(rounds):
    interpreter.set_tensor(inp, batch); interpreter.invoke(); interpreter.get_tensor(out)
print(json.dumps({"ms_per_image": (time.perf_counter() - start) * 1000 / (rounds * 32)}))
"""


@dataclass
class Floors:
    import_s: float
    decode_s: float
    files: int
    forward_ms: float

    @property
    def cold_s(self) -> float:
        """import + decode + one forward pass over every photo, one after the other."""
        return self.import_s + self.decode_s + self.forward_ms * self.files / 1000

    def table(self) -> str:
        return "\n".join([
            f"  floor  import tensorflow, keras (fresh interpreter) {self.import_s:7.2f} s",
            f"  floor  decode + resize {self.files} JPEGs, tf.data x2  {self.decode_s:7.2f} s",
            f"  floor  MobileNetV2@160 TFLite, 2 threads, batch 32  {self.forward_ms:7.2f} ms an image",
            f"  floor  cold quick run: import + decode + forward     {self.cold_s:7.2f} s",
        ])


def _python(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], env=ENV, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"a floor measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_seconds(tries: int = 3) -> float:
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tensorflow, keras"], env=ENV, check=True,
                       capture_output=True, timeout=300)
        best = min(best, time.perf_counter() - start)
    return best


def measure(data: str, weights: str, rounds: int = 20) -> Floors:
    """Every floor, each in its own fresh interpreter."""
    decode = _python(DECODE, str(Path(data)))
    forward = _python(FORWARD, weights, str(rounds))
    return Floors(import_seconds(), decode["seconds"], decode["files"], forward["ms_per_image"])


def as_dict(floors: Floors) -> dict:
    return {**asdict(floors), "cold_s": floors.cold_s}

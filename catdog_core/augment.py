"""Augmentation: one settings object, turned into Keras preprocessing layers.

The augmentation page and the training page share the same settings, so what a
student previews is what the model trains on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np

from .errors import InvalidSettings

FLIP_MODES = {
    "none": None,
    "horizontal": "horizontal",
    "vertical": "vertical",
    "both": "horizontal_and_vertical",
}
_RANGES = {"rotation": 0.5, "zoom": 0.5, "translation": 0.5, "contrast": 0.9, "brightness": 0.9}


@dataclass(frozen=True)
class AugmentSettings:
    """Defaults are the post's: RandomFlip() (both ways) and RandomRotation(0.2)."""

    flip: str = "both"
    rotation: float = 0.2  # fraction of a full turn: 0.2 means up to +-72 degrees
    zoom: float = 0.0
    translation: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0
    seed: int = 42

    def __post_init__(self):
        if self.flip not in FLIP_MODES:
            raise InvalidSettings(f"Flip must be one of {', '.join(FLIP_MODES)}, not {self.flip!r}.")
        for name, top in _RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= top:
                raise InvalidSettings(f"{name.capitalize()} must be a number from 0 to {top}, not {value!r}.")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise InvalidSettings(f"Seed must be a whole number from 0 to {2**31 - 1}, not {self.seed!r}.")

    @property
    def is_identity(self) -> bool:
        """True when no layer changes the image: training can then cache features."""
        return self.flip == "none" and all(getattr(self, n) == 0 for n in _RANGES)

    @property
    def rotation_degrees(self) -> float:
        return self.rotation * 360.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "AugmentSettings":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def replace(self, **changes) -> "AugmentSettings":
        return replace(self, **changes)


NO_AUGMENTATION = AugmentSettings(flip="none", rotation=0.0)
SWEEP_SETTINGS = ("rotation", "zoom", "translation", "contrast", "brightness", "flip")  # what a sweep may change
MAX_SWEEP = 6


def sweep_values(settings: AugmentSettings, name: str, values: Sequence) -> list[AugmentSettings]:
    """The settings a sweep measures: `settings` with `name` set to each value (each checked)."""
    if name not in SWEEP_SETTINGS:
        raise InvalidSettings(f"A sweep changes one of {', '.join(SWEEP_SETTINGS)}, not {name!r}.")
    values = list(values)
    if not 2 <= len(values) <= MAX_SWEEP or len(set(map(str, values))) != len(values):
        raise InvalidSettings(f"A sweep takes 2 to {MAX_SWEEP} different values.")
    return [settings.replace(**{name: value}) for value in values]


def describe(settings: AugmentSettings) -> str:
    """One line for captions and run tables."""
    parts = []
    if settings.flip != "none":
        parts.append(f"flip {settings.flip}")
    if settings.rotation:
        parts.append(f"rotate ±{settings.rotation_degrees:.0f}°")
    for name in ("zoom", "translation", "contrast", "brightness"):
        if getattr(settings, name):
            parts.append(f"{name} ±{getattr(settings, name):.0%}")
    return ", ".join(parts) if parts else "no augmentation"


def build_layers(settings: AugmentSettings, name: str = "augmentation"):
    """A keras.Sequential of random layers working on raw 0..255 pixels."""
    import keras
    from keras import layers

    seed = settings.seed
    stack = []
    if FLIP_MODES[settings.flip]:
        stack.append(layers.RandomFlip(FLIP_MODES[settings.flip], seed=seed, name="flip"))
    if settings.rotation:
        stack.append(layers.RandomRotation(settings.rotation, seed=seed + 1, name="rotation"))
    if settings.zoom:
        stack.append(layers.RandomZoom(settings.zoom, seed=seed + 2, name="zoom"))
    if settings.translation:
        stack.append(layers.RandomTranslation(settings.translation, settings.translation, seed=seed + 3,
                                              name="translation"))
    if settings.contrast:
        stack.append(layers.RandomContrast(settings.contrast, value_range=(0, 255), seed=seed + 4, name="contrast"))
    if settings.brightness:
        stack.append(layers.RandomBrightness(settings.brightness, value_range=(0, 255), seed=seed + 5,
                                             name="brightness"))
    return keras.Sequential(stack, name=name)


def preview(image: np.ndarray, settings: AugmentSettings, n: int = 9) -> np.ndarray:
    """n augmented copies of one uint8 image; the same settings give the same images."""
    if settings.is_identity:
        return np.repeat(image[None], n, axis=0)
    batch = np.repeat(image[None].astype("float32"), n, axis=0)
    out = build_layers(settings)(batch, training=True)
    return np.clip(np.round(np.asarray(out)), 0, 255).astype(np.uint8)


def affine_matrices(turns: np.ndarray, flip_h: np.ndarray, flip_v: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 8) transforms for keras.ops.image.affine_transform: each image flipped as asked, then
    rotated about its centre by turns x 360 degrees, as RandomFlip then RandomRotation do."""
    angle = np.asarray(turns, np.float64) * 2 * np.pi
    cos, sin = np.cos(angle), np.sin(angle)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    fx, fy = np.where(flip_h, -1.0, 1.0), np.where(flip_v, -1.0, 1.0)
    out = np.zeros((len(angle), 8))  # an output pixel (x, y) reads the input at (m0 x + m1 y + m2, m3 x + m4 y + m5)
    out[:, 0], out[:, 1] = fx * cos, -fx * sin
    out[:, 2] = cx - fx * (cos * cx - sin * cy)
    out[:, 3], out[:, 4] = fy * sin, fy * cos
    out[:, 5] = cy - fy * (sin * cx + cos * cy)
    return out.astype(np.float32)


def augment_batch(images: np.ndarray, settings: AugmentSettings, seed: int) -> np.ndarray:
    """Random copies of a uint8 batch under `settings`, drawn from `seed`: the same distributions and
    order as build_layers(settings), pixels within one level of its (the kernel rounds uint8 down).

    Flip and rotation, the post's two layers, are one affine pass over the uint8 pixels (flip_rotate):
    a tenth of the cost of the two Keras layers, which copy the batch to float and flip it in a pass
    of its own. Any other setting then goes through its Keras layers. uint8 out unless such a layer ran."""
    rng = np.random.default_rng(seed)
    n, height, width = images.shape[:3]
    mode = FLIP_MODES[settings.flip] or ""
    flips = rng.random(n) <= 0.5  # one draw for both ways, as RandomFlip: "both" turns an image half round
    flip_h = flips & ("horizontal" in mode)
    flip_v = flips & ("vertical" in mode)
    out = images
    if settings.rotation:
        turns = rng.uniform(-settings.rotation, settings.rotation, n)
        out = flip_rotate(images, affine_matrices(turns, flip_h, flip_v, height, width))
    elif flip_h.any() or flip_v.any():  # a flip alone moves whole pixels
        out = images.copy()
        out[flip_h] = out[flip_h][:, :, ::-1]
        out[flip_v] = out[flip_v][:, ::-1]
    rest = settings.replace(flip="none", rotation=0.0, seed=int(rng.integers(2**31 - 8)))
    if rest.is_identity:
        return out
    return np.clip(np.asarray(build_layers(rest)(out.astype(np.float32), training=True)), 0, 255)


_warp = None  # flip_rotate's compiled pass, made on first use


def flip_rotate(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """keras.ops.image.affine_transform(images, matrices, interpolation="bilinear", fill_mode="reflect")
    for affine_matrices' transforms, within one level of its pixels: the same reflection and
    bilinear sums, compiled by XLA with each output pixel's place and weights worked out once for
    its three channels (TensorFlow's kernel works them out per channel, ~5x the time here)."""
    global _warp
    if _warp is None:
        _warp = _compiled_warp()
    try:
        return _warp(np.ascontiguousarray(images), np.asarray(matrices, np.float32)).numpy()
    except Exception:  # a TensorFlow built without XLA's CPU compiler: the kernel itself, at its pace
        import keras

        return np.asarray(keras.ops.image.affine_transform(images, matrices, interpolation="bilinear",
                                                           fill_mode="reflect"))


def _compiled_warp():
    import tensorflow as tf

    def reflect(c, size):  # TensorFlow's "reflect" (d c b a | a b c d | d c b a), then clamped
        size = tf.cast(size, tf.float32)
        c = tf.math.floormod(c, 2 * size)
        return tf.clip_by_value(tf.where(c >= size, 2 * size - c - 1, c), 0.0, size - 1)

    @tf.function(jit_compile=True, reduce_retracing=True)
    def warp(images, m):
        n, h, w, channels = tf.unstack(tf.shape(images))  # XLA compiles once for each shape met
        ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
        m = m[:, :, None, None]  # output (x, y) reads the input at (m0 x + m1 y + m2, m3 x + m4 y + m5)
        x = reflect(m[:, 0] * xs + m[:, 1] * ys + m[:, 2], w)
        y = reflect(m[:, 3] * xs + m[:, 4] * ys + m[:, 5], h)
        x0, y0 = tf.floor(x), tf.floor(y)
        fx, fy = (x - x0)[..., None], (y - y0)[..., None]
        ix0, iy0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
        ix1, iy1 = tf.minimum(ix0 + 1, w - 1), tf.minimum(iy0 + 1, h - 1)  # past the edge only at weight 0
        flat = tf.reshape(images, [-1, channels])
        rows = tf.range(n)[:, None, None] * (h * w)
        top, bottom = rows + iy0 * w, rows + iy1 * w

        def read(at):
            return tf.cast(tf.gather(flat, at), tf.float32)

        upper = (1 - fx) * read(top + ix0) + fx * read(top + ix1)
        lower = (1 - fx) * read(bottom + ix0) + fx * read(bottom + ix1)
        return tf.cast(upper * (1 - fy) + lower * fy, images.dtype)  # uint8: rounded down, as the kernel

    return warp

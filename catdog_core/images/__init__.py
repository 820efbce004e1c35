"""Untrusted bytes -> checked, bounded, decoded pixels: the ONE pixel path.

Every picture the project looks at becomes pixels here, whichever page or
command asks: the dataset loader, evaluation, Classify, Grad-CAM and the
augmentation preview all call `model_input` (or its batched twin
`model_inputs`), so the same file always gives the same 160x160 array.

The path, in order:
1. `inspect` reads only the header (images/header.py): the format must be one of
   five, the size and the pixel count are capped, the memory the decode will take
   is estimated from the mode, bit depth and format and capped, and a
   progressive JPEG's scans are counted and capped (a "scan bomb" repeats
   them to burn CPU). Nothing is decoded before these checks pass.
2. `decode` turns the bytes into an upright 8-bit RGB array. JPEGs go through
   TensorFlow's decoder (the one `image_dataset_from_directory` uses, with
   the same settings); other formats and CMYK JPEGs through Pillow, with
   transparency composited on white and 16-bit values scaled. EXIF
   orientation is applied in both. At most `DECODE_SLOTS` decodes run at once
   per process, and Pillow's decodes are fed in small chunks under a time budget.
3. `resize_for_model` squashes to 160x160 exactly as the post's loader does.

What kind of file it is and the refusals' sentences live in images/formats.py; the copies
a page shows (never a model's input) in images/display.py. The settings a test or benchmark
changes (DCT_SCALING, DECODE_SECONDS) are read from this module.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps

from ..errors import InvalidImage
from .display import DISPLAY_SIDE, display_copy, safe_display_name, square_thumbnail
from .formats import describe_format
from .header import (DECODE_SECONDS, MAX_DECODE_BYTES, MAX_JPEG_SCANS, MAX_PIXELS, MAX_SCAN_WORK,
                     MAX_UPLOAD_BYTES, Budget, Header, checked_bytes, guarded, inspect_open)

DECODE_SLOTS = max(1, min(4, os.cpu_count() or 2))
MODEL_SIZE = (160, 160)
# Large JPEGs are decoded at 1/2, 1/4 or 1/8 of their size by libjpeg's own DCT scaling (a
# fraction of the work and memory), never below the size of the post's photos (about 500x375),
# so those and anything smaller than twice their size keep exactly the pixels of a full decode.
DCT_FLOOR = (500, 375)  # (long side, short side) a scaled decode keeps at least
DCT_SCALING = True  # False decodes every JPEG at full size (the benchmarks' baseline)

_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)

__all__ = [  # the pixel path's names, wherever each is written
    "DCT_FLOOR", "DCT_SCALING", "DECODE_SECONDS", "DECODE_SLOTS", "DISPLAY_SIDE", "MAX_DECODE_BYTES",
    "MAX_JPEG_SCANS", "MAX_PIXELS", "MAX_SCAN_WORK", "MAX_UPLOAD_BYTES", "MODEL_SIZE", "Header",
    "dct_ratio", "decode", "describe_format", "display_copy", "inspect", "load_for_model", "model_input",
    "model_inputs", "resize_for_model", "safe_display_name", "square_thumbnail",
]


# ---------------------------------------------------------------- 1. the header (images/header.py)


def inspect(data, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS,
            max_decode_bytes: int = MAX_DECODE_BYTES) -> Header:
    """Check a file's header against every limit without decoding it; raises InvalidImage."""
    raw = checked_bytes(data, max_bytes)
    return guarded(raw, lambda: inspect_open(raw, max_pixels, max_decode_bytes, DECODE_SECONDS)[0])


# ---------------------------------------------------------------- 2. decoding


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded mode to 8-bit RGB, with transparency composited on white."""
    if img.mode.startswith("I") or img.mode == "F":
        values = np.asarray(img)
        if img.mode.startswith("I"):
            # 16-bit greyscale spans 0..65535: (v + 128) // 257 rounds v / 257 (never a tie).
            grey = ((np.clip(values, 0, 65535).astype(np.uint32) + 128) // 257).astype(np.uint8)
        else:  # floats are taken as already 0..255
            grey = np.clip(np.rint(np.nan_to_num(values.astype(np.float32))), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if "A" in img.mode or "a" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


# The eight EXIF orientations as the operations that make a picture upright (Pillow's exif_transpose).
def _orient_ops():
    import tensorflow as tf

    return (
        lambda x: x,
        tf.image.flip_left_right,
        lambda x: tf.image.rot90(x, 2),
        tf.image.flip_up_down,
        tf.image.transpose,
        lambda x: tf.image.rot90(x, 3),
        lambda x: tf.image.rot90(tf.image.transpose(x), 2),
        lambda x: tf.image.rot90(x, 1),
    )


def dct_ratio(width: int, height: int) -> int:
    """The JPEG scale-down (1, 2, 4 or 8) a decode for the model uses: the largest that keeps
    the picture at least DCT_FLOOR; 1 (a full decode) for the post's photos and anything up to
    twice their size."""
    if not DCT_SCALING:
        return 1
    long_side, short_side = max(width, height), min(width, height)
    for ratio in (8, 4, 2):
        if long_side // ratio >= DCT_FLOOR[0] and short_side // ratio >= DCT_FLOOR[1]:
            return ratio
    return 1


def _tf_decode(raw, orientation, ratio: int = 1):
    """TensorFlow's JPEG decode with the settings `image_dataset_from_directory` uses, made upright;
    `ratio` > 1 decodes at that fraction of the size (libjpeg's DCT scaling).

    Works on eager tensors (one upload) and inside a tf.data map (a dataset):
    the same operations either way.
    """
    import tensorflow as tf

    image = tf.io.decode_jpeg(raw, channels=3, ratio=ratio)
    ops = _orient_ops()
    if isinstance(orientation, int):
        return ops[orientation - 1](image)
    return tf.switch_case(orientation - 1, [lambda f=f: f(image) for f in ops])


def _pil_decode(img: Image.Image) -> np.ndarray:
    img.decodermaxblock = Budget.CHUNK  # small reads, so the time budget is checked often
    img.load()  # GIF, APNG and WebP animations stay on their first frame here
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        pass  # a broken EXIF block should not reject an otherwise good photo
    return np.ascontiguousarray(np.asarray(_to_rgb(img), dtype=np.uint8))


def decode(data, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS,
           max_decode_bytes: int = MAX_DECODE_BYTES, for_model: bool = False) -> np.ndarray:
    """Checked bytes -> upright (H, W, 3) uint8 RGB at full size; raises InvalidImage.

    for_model: a large JPEG may come back scaled down by its DCT (see dct_ratio), still
    larger than anything the model or a page shows."""
    raw = checked_bytes(data, max_bytes)

    def work():
        header, img = inspect_open(raw, max_pixels, max_decode_bytes, DECODE_SECONDS)
        with _decode_slots:  # thirty uploads at once queue here instead of multiplying memory
            if header.tensorflow_decodes:
                ratio = dct_ratio(header.width, header.height) if for_model else 1
                return np.ascontiguousarray(_tf_decode(raw, header.orientation, ratio).numpy())
            return _pil_decode(img)

    return guarded(raw, work)


# ---------------------------------------------------------------- 3. the model's size


def _resize_op(image):
    """Keras' `image_dataset_from_directory` resize (bilinear, no antialias), rounded to uint8."""
    import tensorflow as tf

    resized = tf.image.resize(image, MODEL_SIZE, method="bilinear", antialias=False)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def resize_for_model(image: np.ndarray) -> np.ndarray:
    """Squash an (H, W, 3) uint8 image to 160x160 as the post's loader does (no crop, no antialias)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
    if image.shape[:2] == MODEL_SIZE:
        return image
    return _resize_op(image).numpy()


def model_input(data, **limits) -> np.ndarray:
    """Untrusted bytes -> the model's (160, 160, 3) uint8 input: the one pixel path."""
    return resize_for_model(decode(data, for_model=True, **limits))


def load_for_model(data, **limits) -> tuple[np.ndarray, np.ndarray]:
    """(display image, model input) from one decode of the bytes."""
    full = decode(data, for_model=True, **limits)
    return display_copy(full), resize_for_model(full)


# ---------------------------------------------------------------- many files at once


@dataclass
class _Aside:
    """What the batch pipeline does not decode, noted while it pulls the files."""

    others: list[tuple[int, bytes | str]] = field(default_factory=list)  # raw bytes, or why refused
    sent: set[int] = field(default_factory=set)  # keys in the pipeline, not come back yet


def model_inputs(items: Iterable[tuple[int, bytes]], *,
                 max_bytes: int = MAX_UPLOAD_BYTES) -> Iterator[tuple[int, np.ndarray | str]]:
    """Many files at once: (key, raw bytes) in, (key, 160x160 array or why it failed) out.

    The same checks and operations as `model_input`; upright JPEGs (nearly all
    of a dataset) are decoded in one tf.data pipeline, in TensorFlow's own
    threads outside Python's lock, which is ~3x faster than one call per file.
    The rest go through `model_input` one by one. Order is not kept.
    """
    aside = _Aside()
    pipeline = _jpeg_pipeline(lambda: _plain_jpegs(items, max_bytes, aside))
    for key, image in pipeline.as_numpy_iterator():
        aside.sent.discard(int(key))
        yield int(key), image
    for key in aside.sent:  # what TensorFlow's decoder refused
        yield key, "damaged or truncated image"
    yield from _one_by_one(aside.others, max_bytes)


def _plain_jpegs(items, max_bytes: int, aside: _Aside):
    """(key, bytes, log2 of the DCT ratio) of each checked upright JPEG; the rest go aside."""
    for key, raw in items:
        try:
            raw = checked_bytes(raw, max_bytes)
            header = guarded(raw, lambda: inspect_open(raw, MAX_PIXELS, MAX_DECODE_BYTES, DECODE_SECONDS)[0])
        except InvalidImage as exc:
            aside.others.append((key, str(exc)))
            continue
        if header.tensorflow_decodes and header.orientation == 1:
            aside.sent.add(key)
            yield key, raw, dct_ratio(header.width, header.height).bit_length() - 1
        else:
            aside.others.append((key, raw))


def _jpeg_pipeline(jpegs):
    """A tf.data pipeline decoding and resizing what the generator function `jpegs` yields."""
    import tensorflow as tf

    def decode_and_resize(key, raw, scale):  # scale: log2 of the DCT ratio, one branch each
        image = tf.switch_case(scale, [lambda r=r: _tf_decode(raw, 1, r) for r in (1, 2, 4, 8)])
        return key, _resize_op(image)

    signature = (tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32))
    return (tf.data.Dataset.from_generator(jpegs, output_signature=signature)
            .map(decode_and_resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
            .ignore_errors())


def _one_by_one(others: list[tuple[int, bytes | str]], max_bytes: int) -> Iterator[tuple[int, np.ndarray | str]]:
    """The files set aside: refused ones with their reason, the rest through `model_input`."""
    for key, raw in others:
        if isinstance(raw, str):
            yield key, raw
            continue
        try:
            yield key, model_input(raw, max_bytes=max_bytes)
        except InvalidImage as exc:
            yield key, str(exc)

"""Untrusted bytes -> checked, bounded, decoded pixels: the ONE pixel path.

Every picture the project looks at becomes pixels here, whichever page or
command asks: the dataset loader, evaluation, Classify, Grad-CAM and the
augmentation preview all call `model_input` (or its batched twin
`model_inputs`), so the same file always gives the same 160x160 array.

The path, in order:
1. `inspect` reads only the header: the format must be one of five, the size
   and the pixel count are capped, the memory the decode will take is
   estimated from the mode, bit depth and format and capped, and a
   progressive JPEG's scans are counted and capped (a "scan bomb" repeats
   them to burn CPU). Nothing is decoded before these checks pass.
2. `decode` turns the bytes into an upright 8-bit RGB array. JPEGs go through
   TensorFlow's decoder (the one `image_dataset_from_directory` uses, with
   the same settings); other formats and CMYK JPEGs through Pillow, with
   transparency composited on white and 16-bit values scaled. EXIF
   orientation is applied in both. At most `DECODE_SLOTS` decodes run at once
   per process, and Pillow's decodes are fed in small chunks under a time budget.
3. `resize_for_model` squashes to 160x160 exactly as the post's loader does.
"""

from __future__ import annotations

import io
import math
import os
import struct
import threading
import time
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImage

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_DECODE_BYTES = 256 * 1024 * 1024  # estimated peak memory of one decode
MAX_JPEG_SCANS = 100  # a real progressive photo has about 10
MAX_SCAN_WORK = 1_500_000_000  # pixels x scans: ~1 s of libjpeg work on these CPUs
DECODE_SECONDS = 10.0  # time budget of one Pillow decode
DECODE_SLOTS = max(1, min(4, os.cpu_count() or 2))
MODEL_SIZE = (160, 160)
DISPLAY_SIDE = 640
# Large JPEGs are decoded at 1/2, 1/4 or 1/8 of their size by libjpeg's own DCT scaling (a
# fraction of the work and memory), never below the size of the post's photos (about 500x375),
# so those and anything smaller than twice their size keep exactly the pixels of a full decode.
DCT_FLOOR = (500, 375)  # (long side, short side) a scaled decode keeps at least
DCT_SCALING = True  # False decodes every JPEG at full size (the benchmarks' baseline)

# Openers tried by Pillow; its JPEG opener also yields "MPO" (multi-picture JPEGs from phones).
_ACCEPTED = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
_ACCEPTED_NAMES = "JPEG, PNG, WebP, BMP or GIF"
_NOT_IMAGE = f"This file is not an image this app can read ({_ACCEPTED_NAMES})."
_DAMAGED = "The file is damaged or incomplete and could not be decoded."
_KINDS = {
    "PDF": "a PDF document", "SVG": "an SVG drawing", "HTML": "a web page (HTML)",
    "HEIC": "a HEIC photo (the iPhone format)", "AVIF": "an AVIF image",
    "TIFF": "a TIFF image", "text": "a text file",
}
_HEIC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)


def describe_format(data: bytes) -> str | None:
    """Name the kind of file from its first bytes, or None when unrecognised."""
    head = bytes(data[:1024])
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        box = head[8:max(16, min(int.from_bytes(head[:4], "big"), len(head)))]
        if b"avif" in box or b"avis" in box:
            return "AVIF"
        if any(brand in box for brand in _HEIC_BRANDS):
            return "HEIC"
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"%pdf-"):
        return "PDF"
    if b"<svg" in text and text.startswith(b"<"):
        return "SVG"
    html_tags = (b"<!doctype html", b"<html", b"<head", b"<body")
    if text.startswith(b"<") and any(tag in text for tag in html_tags):
        return "HTML"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # only a character cut at the 1 KB edge is tolerated
            return None
    printable = sum(ch >= 32 or ch in b"\t\r\n" for ch in head)
    return "text" if head and printable == len(head) else None


def _size_text(n: int, *, round_up: bool = False) -> str:
    if n < 1024 * 1024:
        return f"{n:,} bytes"
    mb = n / 1024 / 1024
    # Rounding a file size up keeps it from printing as equal to the limit it exceeds.
    return f"{math.ceil(mb * 10) / 10 if round_up else round(mb, 1):g} MB"


def _header_size(raw: bytes) -> tuple[int, int] | None:
    """Width and height read from the header, for messages when Pillow refuses to open."""
    try:
        if raw.startswith(b"\x89PNG") and raw[12:16] == b"IHDR":
            return struct.unpack(">II", raw[16:24])
        if raw[:3] == b"GIF":
            return struct.unpack("<HH", raw[6:10])
        if raw[:2] == b"BM":
            w, h = struct.unpack("<ii", raw[18:26])
            return abs(w), abs(h)
        i = 2
        while raw[:2] == b"\xff\xd8" and i + 9 < len(raw) and raw[i] == 0xFF:
            marker, seg = raw[i + 1], int.from_bytes(raw[i + 2:i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", raw[i + 5:i + 9])
                return w, h
            i += 2 + seg
    except struct.error:
        pass
    return None


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> InvalidImage:
    limit = f"{max_pixels / 1e6:g}-megapixel limit"
    if size is None or size[0] * size[1] <= max_pixels:  # a GIF frame can outgrow its header
        return InvalidImage(f"The image has more pixels than the {limit}.")
    w, h = size
    megapixels = f"{w * h / 1e6:.1f} megapixels"
    return InvalidImage(f"The image is {w}x{h} pixels ({megapixels}), over the {limit}.")


def _not_accepted(raw: bytes) -> InvalidImage:
    kind = describe_format(raw)
    if kind in ("JPEG", "PNG", "GIF", "WebP", "BMP"):
        return InvalidImage(_DAMAGED)  # right signature but a header Pillow cannot parse
    if kind in _KINDS:
        readable = f"not an image this app can read ({_ACCEPTED_NAMES})"
        return InvalidImage(f"This file is {_KINDS[kind]}, {readable}.")
    try:
        # Only the header is parsed here, to name formats Pillow knows but this app refuses.
        with Image.open(io.BytesIO(raw)) as other:
            name = other.format
    except Exception:
        name = None
    if name:
        return InvalidImage(f"This file's format is {name}, but this app reads {_ACCEPTED_NAMES}.")
    return InvalidImage(_NOT_IMAGE)


# ---------------------------------------------------------------- 1. the header


@dataclass(frozen=True)
class Header:
    """What the file says about itself, read without decoding a pixel."""

    format: str  # JPEG, MPO, PNG, WEBP, BMP or GIF
    width: int
    height: int
    mode: str  # Pillow's mode of the decoded picture
    scans: int  # JPEG scans (SOS markers); 1 for other formats
    orientation: int  # EXIF orientation, 1..8 (1: already upright)
    decode_bytes: int  # estimated peak memory of decoding it

    @property
    def tensorflow_decodes(self) -> bool:
        """JPEGs TensorFlow's decoder reads as the post's loader does; CMYK ones go to Pillow."""
        return self.format in ("JPEG", "MPO") and self.mode in ("RGB", "L")


class _Budget(io.BytesIO):
    """The file as Pillow reads it, refused once the decode's time is up.

    Pillow feeds its decoders one read() at a time (`decodermaxblock` bytes,
    set small below), so a decode that would run for minutes (a huge LZW or
    zlib stream, a scan bomb) stops at the first read past the deadline.
    """

    CHUNK = 16 * 1024

    def __init__(self, raw: bytes, seconds: float):
        super().__init__(raw)
        self.deadline = time.monotonic() + seconds

    def read(self, size: int | None = -1) -> bytes:
        if time.monotonic() > self.deadline:
            raise InvalidImage("The image took too long to decode; send a smaller or simpler picture.")
        return super().read(size)


# Bytes per pixel as Pillow stores each mode (RGB takes 4, like RGBA).
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def _jpeg_scans(raw: bytes) -> int:
    """SOS markers in the file: 0xFF 0xDA never occurs inside entropy-coded data (0xFF is
    stuffed there), so this counts every scan, plus those of an embedded EXIF thumbnail."""
    return raw.count(b"\xff\xda")


def _estimate_decode_bytes(fmt: str, mode: str, pixels: int, scans: int, orientation: int) -> int:
    rgb = 3 * pixels  # the final upright RGB array
    if fmt in ("JPEG", "MPO") and mode in ("RGB", "L"):
        coefficients = 6 * pixels if scans > 1 else 0  # a progressive decode keeps every DCT coefficient
        return rgb + coefficients + (rgb if orientation != 1 else 0)
    native = _STORED.get(mode, 4) * pixels
    converted = 4 * pixels if mode not in ("RGB",) else 0  # Pillow's RGB(A) copy
    if mode.startswith("I") or mode == "F":
        converted = 8 * pixels  # integer arithmetic on the values before they become 8-bit
    alpha = 8 * pixels if ("A" in mode or mode == "P") else 0  # compositing on white
    canvas = 4 * pixels if fmt == "WEBP" else 0  # the WebP decoder's own frame buffer
    return native + converted + alpha + canvas + rgb + (native if orientation != 1 else 0)


def _orientation(img: Image.Image) -> int:
    # Pillow's PNG reader decodes the whole image to look for EXIF stored after the pixels;
    # only EXIF already read with the header is used, so nothing is decoded before the checks.
    if img.format not in ("JPEG", "MPO") and "exif" not in img.info:
        return 1
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1  # a broken EXIF block should not reject an otherwise good photo
    return value if 1 <= value <= 8 else 1


def _open(raw: bytes, seconds: float) -> Image.Image:
    try:
        img = Image.open(_Budget(raw, seconds), formats=_ACCEPTED)
    except UnidentifiedImageError:
        raise _not_accepted(raw) from None
    if img.format not in _ACCEPTED + ("MPO",):
        raise _not_accepted(raw)
    return img


def _checked_bytes(data, max_bytes: int) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImage("No file contents were received.")
    raw = bytes(data)
    if not raw:
        raise InvalidImage("The file is empty.")
    if len(raw) > max_bytes:
        size, limit = _size_text(len(raw), round_up=True), _size_text(max_bytes)
        raise InvalidImage(f"The file is {size}, over the {limit} upload limit.")
    return raw


def _guarded(raw: bytes, work):
    """Run work() turning Pillow's and TensorFlow's many failures into one InvalidImage."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return work()
        except InvalidImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(_header_size(raw), MAX_PIXELS) from None
        except MemoryError:
            raise InvalidImage("The image is too large to decode on this server.") from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, struct.error; TensorFlow its own
            raise InvalidImage(_DAMAGED) from exc


def _inspect_open(raw: bytes, max_pixels: int, max_decode_bytes: int,
                  seconds: float | None = None) -> tuple[Header, Image.Image]:
    img = _open(raw, DECODE_SECONDS if seconds is None else seconds)
    width, height = img.size
    if width <= 0 or height <= 0:
        raise InvalidImage("The image has no pixels.")
    pixels = width * height
    if pixels > max_pixels:
        raise _too_many_pixels((width, height), max_pixels)
    scans = 1
    if img.format in ("JPEG", "MPO"):
        scans = _jpeg_scans(raw)
        if scans > MAX_JPEG_SCANS or pixels * scans > MAX_SCAN_WORK:
            raise InvalidImage(f"The JPEG has {scans} scans over {width}x{height} pixels, far more "
                               "work than a photo takes to decode; save it again as an ordinary JPEG.")
    orientation = _orientation(img)
    cost = _estimate_decode_bytes(img.format, img.mode, pixels, scans, orientation)
    if cost > max_decode_bytes:
        raise InvalidImage(f"Decoding this {width}x{height} {img.format} ({img.mode}) would take about "
                           f"{cost / 2**20:.0f} MB of memory, over the {max_decode_bytes / 2**20:.0f} MB "
                           "limit; send a smaller picture.")
    return Header(img.format, width, height, img.mode, scans, orientation, cost), img


def inspect(data, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS,
            max_decode_bytes: int = MAX_DECODE_BYTES) -> Header:
    """Check a file's header against every limit without decoding it; raises InvalidImage."""
    raw = _checked_bytes(data, max_bytes)
    return _guarded(raw, lambda: _inspect_open(raw, max_pixels, max_decode_bytes)[0])


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
    img.decodermaxblock = _Budget.CHUNK  # small reads, so the time budget is checked often
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
    raw = _checked_bytes(data, max_bytes)

    def work():
        header, img = _inspect_open(raw, max_pixels, max_decode_bytes)
        with _decode_slots:  # thirty uploads at once queue here instead of multiplying memory
            if header.tensorflow_decodes:
                ratio = dct_ratio(header.width, header.height) if for_model else 1
                return np.ascontiguousarray(_tf_decode(raw, header.orientation, ratio).numpy())
            return _pil_decode(img)

    return _guarded(raw, work)



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


def display_copy(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """A copy at most `side` pixels on its longer edge, for showing (antialiased; never fed to a model)."""
    height, width = image.shape[:2]
    if max(height, width) <= side:
        return image
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))


def square_thumbnail(image: np.ndarray, side: int = 160) -> np.ndarray:
    """A `side` x `side` uint8 RGB copy cut from the middle of the image (for showing: a grid of
    them lines up whatever shape each photo had)."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    height, width = image.shape[:2]
    edge = min(height, width)
    top, left = (height - edge) // 2, (width - edge) // 2
    square = Image.fromarray(np.ascontiguousarray(image[top:top + edge, left:left + edge, :3]))
    return np.asarray(square.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0))


def load_for_model(data, **limits) -> tuple[np.ndarray, np.ndarray]:
    """(display image, model input) from one decode of the bytes."""
    full = decode(data, for_model=True, **limits)
    return display_copy(full), resize_for_model(full)


def model_inputs(items: Iterable[tuple[int, bytes]], *,
                 max_bytes: int = MAX_UPLOAD_BYTES) -> Iterator[tuple[int, np.ndarray | str]]:
    """Many files at once: (key, raw bytes) in, (key, 160x160 array or why it failed) out.

    The same checks and operations as `model_input`; upright JPEGs (nearly all
    of a dataset) are decoded in one tf.data pipeline, in TensorFlow's own
    threads outside Python's lock, which is ~3x faster than one call per file.
    The rest go through `model_input` one by one. Order is not kept.
    """
    import tensorflow as tf

    others: list[tuple[int, bytes | str]] = []  # filled while the pipeline pulls the items
    sent: set[int] = set()

    def plain_jpegs():
        for key, raw in items:
            try:
                raw = _checked_bytes(raw, max_bytes)
                header = _guarded(raw, lambda: _inspect_open(raw, MAX_PIXELS, MAX_DECODE_BYTES)[0])
            except InvalidImage as exc:
                others.append((key, str(exc)))
                continue
            if header.tensorflow_decodes and header.orientation == 1:
                sent.add(key)
                yield key, raw, dct_ratio(header.width, header.height).bit_length() - 1
            else:
                others.append((key, raw))

    def decode_and_resize(key, raw, scale):  # scale: log2 of the DCT ratio, one branch each
        image = tf.switch_case(scale, [lambda r=r: _tf_decode(raw, 1, r) for r in (1, 2, 4, 8)])
        return key, _resize_op(image)

    signature = (tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32))
    pipeline = (tf.data.Dataset.from_generator(plain_jpegs, output_signature=signature)
                .map(decode_and_resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
                .ignore_errors())
    for key, image in pipeline.as_numpy_iterator():
        sent.discard(int(key))
        yield int(key), image
    for key in sent:  # what TensorFlow's decoder refused
        yield key, "damaged or truncated image"
    for key, raw in others:
        if isinstance(raw, str):
            yield key, raw
            continue
        try:
            yield key, model_input(raw, max_bytes=max_bytes)
        except InvalidImage as exc:
            yield key, str(exc)


def safe_display_name(name: str, max_len: int = 80) -> str:
    """An uploaded file's name reduced to something harmless to print."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    # Cc are control characters; Cf includes bidi overrides that can disguise an extension.
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    if base in ("", ".", ".."):
        return "unnamed file"
    max_len = max(max_len, 1)
    if len(base) > max_len:
        tail = (max_len - 1) // 3  # keep the end visible because it holds the extension
        base = base[: max_len - 1 - tail] + "…" + (base[-tail:] if tail else "")
    return base

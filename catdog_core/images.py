"""Turning untrusted uploaded bytes into checked RGB arrays for display and the model.

This module owns every rule about uploads: size and pixel limits, which formats
are accepted, colour-mode conversion, EXIF rotation, resizing to the model's
input size, and making an uploaded file name safe to show.
"""

from __future__ import annotations

import io
import math
import struct
import unicodedata
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImage

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MODEL_SIZE = (160, 160)

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


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded mode to 8-bit RGB, with transparency composited on white."""
    if img.mode.startswith("I") or img.mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        # 16-bit greyscale spans 0..65535; float images are taken as already 0..255.
        values = values / 257.0 if img.mode.startswith("I") else values
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if "A" in img.mode or "a" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def _decode(raw: bytes, max_pixels: int, reduce_to: tuple[int, int] | None) -> np.ndarray:
    try:
        img = Image.open(io.BytesIO(raw), formats=_ACCEPTED)
    except UnidentifiedImageError:
        raise _not_accepted(raw) from None
    if img.format not in _ACCEPTED + ("MPO",):
        raise _not_accepted(raw)
    width, height = img.size
    if width <= 0 or height <= 0:
        raise InvalidImage("The image has no pixels.")
    if width * height > max_pixels:
        raise _too_many_pixels((width, height), max_pixels)
    side = max(reduce_to) if reduce_to else 0
    if side and img.format in ("JPEG", "MPO"):
        # Square request because EXIF rotation may swap the sides after decoding.
        img.draft("RGB", (side, side))
    img.load()  # GIF, APNG and WebP animations stay on their first frame here
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        pass  # a broken EXIF block should not reject an otherwise good photo
    rgb = _to_rgb(img)
    factor = min(rgb.size) // side if side else 1
    if factor > 1:
        rgb = rgb.reduce(factor)  # same "at least reduce_to" rule that JPEG draft follows
    return np.ascontiguousarray(np.array(rgb, dtype=np.uint8))


def load_image(
    data: bytes,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    reduce_to: tuple[int, int] | None = None,
) -> np.ndarray:
    """Check and decode uploaded bytes into a C-contiguous uint8 array of shape (H, W, 3)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImage("No file contents were received.")
    raw = bytes(data)
    if not raw:
        raise InvalidImage("The file is empty.")
    if len(raw) > max_bytes:
        size, limit = _size_text(len(raw), round_up=True), _size_text(max_bytes)
        raise InvalidImage(f"The file is {size}, over the {limit} upload limit.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(raw, max_pixels, reduce_to)
        except InvalidImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(_header_size(raw), max_pixels) from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, struct.error and more
            raise InvalidImage(_DAMAGED) from exc


def to_model_input(image: np.ndarray, size: tuple[int, int] = MODEL_SIZE) -> np.ndarray:
    """Squash an (H, W, 3) uint8 image to size=(height, width) like Keras' dataset loader."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
    if image.shape[:2] == tuple(size):
        return image
    resized = Image.fromarray(image, "RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).copy()


def load_for_model(data: bytes, **limits) -> tuple[np.ndarray, np.ndarray]:
    """Decode at a reduced scale for speed and return (display_image, model_input)."""
    display = load_image(data, reduce_to=(640, 640), **limits)
    return display, to_model_input(display)


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

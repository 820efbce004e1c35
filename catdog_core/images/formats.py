"""Which kind of file some bytes are, and the one-sentence refusals of the pixel path
(`images`): a format it does not read, a damaged file, too many pixels, too many bytes."""

from __future__ import annotations

import io
import math
import struct

from PIL import Image

from ..errors import InvalidImage

# Openers tried by Pillow; its JPEG opener also yields "MPO" (multi-picture JPEGs from phones).
ACCEPTED = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
ACCEPTED_NAMES = "JPEG, PNG, WebP, BMP or GIF"
NOT_IMAGE = f"This file is not an image this app can read ({ACCEPTED_NAMES})."
DAMAGED = "The file is damaged or incomplete and could not be decoded."
_KINDS = {
    "PDF": "a PDF document", "SVG": "an SVG drawing", "HTML": "a web page (HTML)",
    "HEIC": "a HEIC photo (the iPhone format)", "AVIF": "an AVIF image",
    "TIFF": "a TIFF image", "text": "a text file",
}
_HEIC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def describe_format(data: bytes) -> str | None:
    """Name the kind of file from its first bytes, or None when unrecognised."""
    head = bytes(data[:1024])
    kind = _image_signature(head)
    if kind is not None:
        return kind
    if head[4:8] == b"ftyp":
        return _iso_media_kind(head)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    kind = _document_kind(text)
    if kind is not None:
        return kind
    return "text" if _is_text(head) else None


def _image_signature(head: bytes) -> str | None:
    """The picture formats whose first bytes are a fixed signature."""
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
    return None


def _iso_media_kind(head: bytes) -> str | None:
    """AVIF or HEIC from the brands of an ISO media file's first (ftyp) box."""
    box = head[8:max(16, min(int.from_bytes(head[:4], "big"), len(head)))]
    if b"avif" in box or b"avis" in box:
        return "AVIF"
    if any(brand in box for brand in _HEIC_BRANDS):
        return "HEIC"
    return None


def _document_kind(text: bytes) -> str | None:
    """PDF, SVG or HTML from the start of the (lower-cased, stripped) text."""
    if text.startswith(b"%pdf-"):
        return "PDF"
    if b"<svg" in text and text.startswith(b"<"):
        return "SVG"
    html_tags = (b"<!doctype html", b"<html", b"<head", b"<body")
    if text.startswith(b"<") and any(tag in text for tag in html_tags):
        return "HTML"
    return None


def _is_text(head: bytes) -> bool:
    """Whether the first kilobyte is printable UTF-8."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # only a character cut at the 1 KB edge is tolerated
            return False
    printable = sum(ch >= 32 or ch in b"\t\r\n" for ch in head)
    return bool(head) and printable == len(head)


def size_text(n: int, *, round_up: bool = False) -> str:
    """A byte count as people read it: bytes below a megabyte, MB with one decimal above."""
    if n < 1024 * 1024:
        return f"{n:,} bytes"
    mb = n / 1024 / 1024
    # Rounding a file size up keeps it from printing as equal to the limit it exceeds.
    return f"{math.ceil(mb * 10) / 10 if round_up else round(mb, 1):g} MB"


def header_size(raw: bytes) -> tuple[int, int] | None:
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


def too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> InvalidImage:
    """The refusal of a picture over the pixel limit, naming its size when the header gives one."""
    limit = f"{max_pixels / 1e6:g}-megapixel limit"
    if size is None or size[0] * size[1] <= max_pixels:  # a GIF frame can outgrow its header
        return InvalidImage(f"The image has more pixels than the {limit}.")
    w, h = size
    megapixels = f"{w * h / 1e6:.1f} megapixels"
    return InvalidImage(f"The image is {w}x{h} pixels ({megapixels}), over the {limit}.")


def not_accepted(raw: bytes) -> InvalidImage:
    """The refusal of a file Pillow's accepted openers could not open, naming what it is."""
    kind = describe_format(raw)
    if kind in ("JPEG", "PNG", "GIF", "WebP", "BMP"):
        return InvalidImage(DAMAGED)  # right signature but a header Pillow cannot parse
    if kind in _KINDS:
        readable = f"not an image this app can read ({ACCEPTED_NAMES})"
        return InvalidImage(f"This file is {_KINDS[kind]}, {readable}.")
    try:
        # Only the header is parsed here, to name formats Pillow knows but this app refuses.
        with Image.open(io.BytesIO(raw)) as other:
            name = other.format
    except Exception:
        name = None
    if name:
        return InvalidImage(f"This file's format is {name}, but this app reads {ACCEPTED_NAMES}.")
    return InvalidImage(NOT_IMAGE)

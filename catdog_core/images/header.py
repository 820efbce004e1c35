"""Step 1 of the pixel path (`images`): the limits, and the header read and checked against
them before a pixel is decoded: format, size, pixel count, the memory the decode will take,
a progressive JPEG's scans; plus the time budget Pillow's decoders read under."""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..errors import InvalidImage
from .formats import ACCEPTED, DAMAGED, header_size, not_accepted, size_text, too_many_pixels

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_DECODE_BYTES = 256 * 1024 * 1024  # estimated peak memory of one decode
MAX_JPEG_SCANS = 100  # a real progressive photo has about 10
MAX_SCAN_WORK = 1_500_000_000  # pixels x scans: ~1 s of libjpeg work on these CPUs
DECODE_SECONDS = 10.0  # time budget of one Pillow decode

# Bytes per pixel as Pillow stores each mode (RGB takes 4, like RGBA).
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


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


class Budget(io.BytesIO):
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
        img = Image.open(Budget(raw, seconds), formats=ACCEPTED)
    except UnidentifiedImageError:
        raise not_accepted(raw) from None
    if img.format not in ACCEPTED + ("MPO",):
        raise not_accepted(raw)
    return img


def checked_bytes(data, max_bytes: int) -> bytes:
    """The file's contents as bytes, refused when missing, empty or over `max_bytes`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImage("No file contents were received.")
    raw = bytes(data)
    if not raw:
        raise InvalidImage("The file is empty.")
    if len(raw) > max_bytes:
        size, limit = size_text(len(raw), round_up=True), size_text(max_bytes)
        raise InvalidImage(f"The file is {size}, over the {limit} upload limit.")
    return raw


def guarded(raw: bytes, work):
    """Run work() turning Pillow's and TensorFlow's many failures into one InvalidImage."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return work()
        except InvalidImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_many_pixels(header_size(raw), MAX_PIXELS) from None
        except MemoryError:
            raise InvalidImage("The image is too large to decode on this server.") from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, struct.error; TensorFlow its own
            raise InvalidImage(DAMAGED) from exc


def _check_scans(raw: bytes, img: Image.Image) -> int:
    """A JPEG's scans, refused when decoding them would be far more work than a photo's."""
    if img.format not in ("JPEG", "MPO"):
        return 1
    width, height = img.size
    scans = _jpeg_scans(raw)
    if scans > MAX_JPEG_SCANS or width * height * scans > MAX_SCAN_WORK:
        raise InvalidImage(f"The JPEG has {scans} scans over {width}x{height} pixels, far more "
                           "work than a photo takes to decode; save it again as an ordinary JPEG.")
    return scans


def _check_memory(img: Image.Image, scans: int, orientation: int, max_decode_bytes: int) -> int:
    """The decode's estimated peak memory, refused over `max_decode_bytes`."""
    width, height = img.size
    cost = _estimate_decode_bytes(img.format, img.mode, width * height, scans, orientation)
    if cost > max_decode_bytes:
        raise InvalidImage(f"Decoding this {width}x{height} {img.format} ({img.mode}) would take about "
                           f"{cost / 2**20:.0f} MB of memory, over the {max_decode_bytes / 2**20:.0f} MB "
                           "limit; send a smaller picture.")
    return cost


def inspect_open(raw: bytes, max_pixels: int, max_decode_bytes: int,
                 seconds: float) -> tuple[Header, Image.Image]:
    """The checked header and the opened (not yet decoded) image, whose reads stop after `seconds`."""
    img = _open(raw, seconds)
    width, height = img.size
    if width <= 0 or height <= 0:
        raise InvalidImage("The image has no pixels.")
    if width * height > max_pixels:
        raise too_many_pixels((width, height), max_pixels)
    scans = _check_scans(raw, img)
    orientation = _orientation(img)
    cost = _check_memory(img, scans, orientation, max_decode_bytes)
    return Header(img.format, width, height, img.mode, scans, orientation, cost), img

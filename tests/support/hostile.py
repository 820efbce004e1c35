"""Hostile files, built in memory: what a student could upload to exhaust or break a
shared server. Used by tests/system/test_attacks.py and benchmarks/bench_attacks.py."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image


def chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png(width: int, height: int, depth: int, colour: int, row: bytes, extra: bytes = b"", level: int = 9) -> bytes:
    """A PNG whose every row is `row`, compressed in blocks so huge images stay cheap to build."""
    packer, parts, block = zlib.compressobj(level), [], 512
    for start in range(0, height, block):
        parts.append(packer.compress((b"\0" + row) * min(block, height - start)))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def grey16_png(side: int = 6320) -> bytes:
    """16-bit greyscale, just under 40 megapixels: ~77 KB that decoded to ~1 GB before."""
    return png(side, side, 16, 0, b"\0" * (2 * side))


def rgba_webp(side: int = 4000) -> bytes:
    """A lossless RGBA WebP of one colour: a few hundred bytes, 16 megapixels of RGBA."""
    buffer = io.BytesIO()
    Image.new("RGBA", (side, side), (10, 20, 30, 128)).save(buffer, "WEBP", lossless=True, quality=0)
    return buffer.getvalue()


def _segments(raw: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each JPEG segment, scans with their entropy-coded data."""
    i, out = 2, []
    while i < len(raw):
        marker = raw[i + 1]
        if marker == 0xD9:
            out.append((marker, i, i + 2))
            break
        length = int.from_bytes(raw[i + 2:i + 4], "big")
        if marker == 0xDA:
            j = i + 2 + length
            while True:
                k = raw.index(b"\xff", j)
                if raw[k + 1] == 0 or 0xD0 <= raw[k + 1] <= 0xD7:
                    j = k + 2
                    continue
                break
            out.append((marker, i, k))
            i = k
        else:
            out.append((marker, i, i + 2 + length))
            i += 2 + length
    return out


def scan_bomb_jpeg(side: int = 2000, repeats: int = 1000) -> bytes:
    """A progressive JPEG whose last scan is repeated: tiny, but every scan walks every block."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 100, 50)).save(buffer, "JPEG", progressive=True, quality=90)
    raw = buffer.getvalue()
    scans = [s for s in _segments(raw) if s[0] == 0xDA]
    _, start, end = scans[-1]
    return raw[:end] + raw[start:end] * repeats + raw[end:]


def huge_png(side: int = 16000) -> bytes:
    """16000x16000 (256 megapixels) of one palette colour: ~250 KB."""
    return png(side, side, 1, 3, b"\0" * ((side + 7) // 8), chunk(b"PLTE", bytes((255, 0, 0))))


def photo_like(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour gradients with a little noise: compresses like a phone photo (~3 MB at 12 MP)."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    image = np.stack([xx / width * 255, yy / height * 255, (xx + yy) / (width + height) * 255], axis=-1)
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def small_jpeg(kind: int, seed: int, size: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), (200, 90, 60) if kind == 0 else (60, 100, 200), np.uint8)
    image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def class_members(per_class: int = 6) -> dict[str, bytes]:
    return {f"pets/{name}/{name}{i}.jpg": small_jpeg(k, 10 * k + i)
            for k, name in enumerate(("cats", "dogs")) for i in range(per_class)}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_with_zeros(gigabytes: float = 1.0) -> bytes:
    """Valid classes beside one member of zeros (streamed in: never held in memory)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in class_members().items():
            archive.writestr(name, data)
        with archive.open("pets/cats/zeros.jpg", "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(int(gigabytes * 1024)):
                f.write(block)
    return out.getvalue()


def zip_of_tiny_gifs(count: int = 20_000) -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (1, 1), 0).save(buffer, "GIF")
    gif = buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(count):
            archive.writestr(f"pets/{'cats' if i % 2 else 'dogs'}/{i}.gif", gif)
    return out.getvalue()


def patch_member_header(data: bytes, name: str, *, flags: int | None = None, method: int | None = None) -> bytes:
    """The zip with one member's flag bits (encryption) or compression method rewritten in both
    its local header and the central directory, as a hostile tool would write them."""
    raw = bytearray(data)
    encoded = name.encode()
    local = raw.index(b"PK\x03\x04" + raw[4:6])  # first local header; find ours by name below
    while True:
        n = int.from_bytes(raw[local + 26:local + 28], "little")
        if raw[local + 30:local + 30 + n] == encoded:
            break
        local = raw.index(b"PK\x03\x04", local + 4)
    central = raw.index(b"PK\x01\x02")
    while True:
        n = int.from_bytes(raw[central + 28:central + 30], "little")
        if raw[central + 46:central + 46 + n] == encoded:
            break
        central = raw.index(b"PK\x01\x02", central + 4)
    if flags is not None:
        raw[local + 6:local + 8] = flags.to_bytes(2, "little")
        raw[central + 8:central + 10] = flags.to_bytes(2, "little")
    if method is not None:
        raw[local + 8:local + 10] = method.to_bytes(2, "little")
        raw[central + 10:central + 12] = method.to_bytes(2, "little")
    return bytes(raw)


# Python code to put first in a `python -c` program: at exit it writes the process's own peak
# resident size (VmHWM; ru_maxrss from wait4 would carry the parent's over exec) as "PEAK_KB n".
PEAK_PROBE = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write(f"\\nPEAK_KB {line.split()[1]}\\n")
atexit.register(_peak)
"""

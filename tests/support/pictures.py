"""Pictures the tests make: encoded in any format, two-coloured, raw PNG chunks (from
support.hostile), scikit-image's photos that are not pets, a zip of drawn classes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import jpeg_bytes
from support import hostile

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)



def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def two_halves(width: int, height: int, left=RED, right=BLUE) -> Image.Image:
    img = Image.new("RGB", (width, height), left)
    img.paste(right, (width // 2, 0, width, height))
    return img


def raw_png(width: int, height: int, depth: int, colour: int, row: bytes, extra: bytes = b"") -> bytes:
    return hostile.png(width, height, depth, colour, row, extra, level=1)  # fast to build, huge to decode


def near(pixel, expected, tol: int = 0) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected))


def skimage_photos() -> dict[str, np.ndarray]:
    """Photos scikit-image ships (no download): 20 that are not pets, and its cat, Chelsea."""
    data = pytest.importorskip("skimage.data")
    names = ["astronaut", "brick", "camera", "checkerboard", "clock", "coffee", "coins", "colorwheel", "grass",
             "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina",
             "rocket", "text", "cell", "chelsea"]
    out = {}
    for name in names:
        x = np.asarray(getattr(data, name)())
        if x.dtype == bool:
            x = x.astype(np.uint8) * 255
        if x.dtype != np.uint8:
            x = (255 * (x - x.min()) / max(float(np.ptp(x)), 1e-9)).astype(np.uint8)
        out[name] = (np.stack([x] * 3, -1) if x.ndim == 2 else x)[..., :3]
    return out


def png(picture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG")
    return buffer.getvalue()


def zip_of_classes(classes=("apples", "pears", "plums"), n: int = 6) -> bytes:
    import zipfile

    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, name in enumerate(classes):
            for i in range(n):
                archive.writestr(f"{name}/{name}{i}.jpg", jpeg_bytes(label % 2, rng, size=64, quality=75))
    return buffer.getvalue()

"""What a page shows, never what a model is fed: antialiased copies of decoded pictures
for showing, and uploaded file names made harmless to print."""

from __future__ import annotations

import unicodedata

import numpy as np
from PIL import Image

DISPLAY_SIDE = 640


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

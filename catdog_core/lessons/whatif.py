"""What-if: one photo changed by hand (turned, zoomed, brighter, more contrast, a grey patch over a
part of it), so a student can watch the model's probabilities move. Plain numpy and Pillow on the
model-sized picture: the web server draws the change, the model service classifies it through
the same resize as every other photo (the change never needs TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import CatdogError

GRID = 5  # the grey patch sits on a GRID x GRID board of places
MAX_SIDE = 1024  # pixels of the photo a change is drawn on (the model sees 160x160 anyway)
GREY = 128


class InvalidChange(CatdogError):
    """A what-if setting outside its range."""


@dataclass(frozen=True)
class Change:
    rotation: float = 0.0  # degrees, counter-clockwise, -180..180
    zoom: float = 1.0  # 1..3: the centre 1/zoom of the photo, enlarged back to full size
    brightness: float = 0.0  # -1..1: added to every pixel as a share of the full range
    contrast: float = 1.0  # 0..3: distances from the photo's mean grey multiplied by this
    patch: tuple[int, int] | None = None  # (row, column) on the GRID x GRID board, or None
    patch_size: float = 0.3  # the patch's side as a share of the photo's, 0.05..0.6

    def __post_init__(self):
        for name, low, high in (("rotation", -180.0, 180.0), ("zoom", 1.0, 3.0), ("brightness", -1.0, 1.0),
                                ("contrast", 0.0, 3.0), ("patch_size", 0.05, 0.6)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or not low <= value <= high:
                raise InvalidChange(f"{name.replace('_', ' ').capitalize()} must be a number from {low:g} to "
                                    f"{high:g}, not {value!r}.")
        if self.patch is not None:
            if (not isinstance(self.patch, tuple) or len(self.patch) != 2
                    or not all(isinstance(v, int) and 0 <= v < GRID for v in self.patch)):
                raise InvalidChange(f"The patch's place is a row and a column from 0 to {GRID - 1}.")

    @property
    def is_identity(self) -> bool:
        return self == Change(patch_size=self.patch_size) and self.patch is None

    def describe(self) -> str:
        parts = []
        if self.rotation:
            parts.append(f"turned {self.rotation:+.0f}°")
        if self.zoom != 1.0:
            parts.append(f"zoomed {self.zoom:.2g}x")
        if self.brightness:
            parts.append(f"brightness {self.brightness:+.0%}")
        if self.contrast != 1.0:
            parts.append(f"contrast x{self.contrast:.2g}")
        if self.patch is not None:
            parts.append(f"grey patch at row {self.patch[0] + 1}, column {self.patch[1] + 1}")
        return ", ".join(parts) if parts else "unchanged"


def patch_box(height: int, width: int, place: tuple[int, int], size: float) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the grey patch centred on a place of the GRID x GRID board."""
    side_h, side_w = max(1, round(height * size)), max(1, round(width * size))
    centre_y = (place[0] + 0.5) * height / GRID
    centre_x = (place[1] + 0.5) * width / GRID
    top = int(np.clip(round(centre_y - side_h / 2), 0, height - side_h))
    left = int(np.clip(round(centre_x - side_w / 2), 0, width - side_w))
    return top, left, top + side_h, left + side_w


def apply(picture: np.ndarray, change: Change) -> np.ndarray:
    """The photo (H x W x 3 uint8) with `change` drawn on it, same size, uint8. Turning and zooming
    fill the corners that come into view with the photo's own edge pixels, so the model is not
    shown black triangles it never saw in training."""
    image = np.asarray(picture)
    if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
        raise InvalidChange("A what-if photo is an RGB picture (height x width x 3, 0..255).")
    image = np.ascontiguousarray(image[..., :3])
    height, width = image.shape[:2]
    if max(height, width) > MAX_SIDE:
        raise InvalidChange(f"A what-if photo is at most {MAX_SIDE} pixels a side.")
    if change.rotation or change.zoom != 1.0:
        image = _turned_and_zoomed(image, change)
    out = _toned(image, change)
    if change.patch is not None:
        top, left, bottom, right = patch_box(height, width, change.patch, change.patch_size)
        out[top:bottom, left:right] = GREY
    return out


def _turned_and_zoomed(image: np.ndarray, change: Change) -> np.ndarray:
    """The photo turned about its centre, then its centre 1/zoom enlarged back to the photo's size."""
    height, width = image.shape[:2]
    pad = max(height, width)  # edge pixels around the photo, so a turn shows no black corners
    padded = Image.fromarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
    turned = padded.rotate(change.rotation, resample=Image.BILINEAR) if change.rotation else padded
    crop_h, crop_w = height / change.zoom, width / change.zoom
    cy, cx = pad + height / 2, pad + width / 2
    box = (cx - crop_w / 2, cy - crop_h / 2, cx + crop_w / 2, cy + crop_h / 2)
    return np.asarray(turned.resize((width, height), Image.BILINEAR, box=box))


def _toned(image: np.ndarray, change: Change) -> np.ndarray:
    """A uint8 copy of the photo with its contrast, then its brightness, changed."""
    out = image.astype(np.float32)
    if change.contrast != 1.0:
        mean = out.mean(axis=(0, 1), keepdims=True)
        out = mean + (out - mean) * change.contrast
    if change.brightness:
        out = out + change.brightness * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

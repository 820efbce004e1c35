"""Occlusion sensitivity (any model): a grey patch slid over the photo, the whole model run on
every covered copy in a few batches; warm is where covering the photo lowers the class's
log-odds the most. Slower than Grad-CAM (dozens of forward passes), but it measures the
model's answer itself, on a finer grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatdogError
from .inputs import check_class, model_sized

OCCLUSION_GRID = 8  # positions per side: 64 covered copies + the photo, ~0.9 CPU-s via TFLite (1.7 via TensorFlow)
OCCLUSION_PATCH = 0.25  # the patch's side as a fraction of the image's: about a cat's head at 160x160
OCCLUSION_BATCH = 33  # covered copies per forward pass: 8x8 + 1 in two equal batches
OCCLUSION_GREY = 127.5  # the patch: mid-grey, which preprocess_input maps to 0 (no signal)
MAX_GRID = 16


@dataclass(frozen=True)
class OcclusionMap:
    """What covering each part of the photo did to the model's answer for one class."""

    heatmap: np.ndarray  # (160, 160) float32 in 0..1: drops between patch centres over the largest (rises: 0)
    drops: np.ndarray  # (grid, grid) float32: the log-odds drop with the patch at each position (< 0: a rise)
    class_index: int
    probability: float  # of the class on the whole photo
    lowest: float  # of the class with the most telling patch covered
    patch: int  # the patch's side in pixels
    passes: int  # forward passes: grid * grid covered copies + the photo
    batches: int


def log_odds(logits: np.ndarray, class_index: int) -> np.ndarray:
    """(N, classes) logits -> (N,) log(p / (1 - p)) of one class: unlike p (or log p) it does not
    flatten out near 100 %, so a confident answer still shows what covering changed."""
    logits = np.asarray(logits, np.float64)
    others = np.delete(logits, class_index, axis=1)
    top = others.max(axis=1, keepdims=True)
    return logits[:, class_index] - (top[:, 0] + np.log(np.exp(others - top).sum(axis=1)))


def occlusion_positions(side: int, grid: int, patch: int) -> np.ndarray:
    """The patch's top-left corners along one side: `grid` evenly spaced, the first at 0 and the last
    flush with the far edge, so every pixel is covered at least once."""
    return np.linspace(0, side - patch, grid).round().astype(int)


def _between_centres(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (grid, grid) array of values at patch centres, interpolated linearly to every pixel
    (beyond the outer centres, the nearest value)."""
    height, width = size
    across = np.stack([np.interp(np.arange(width) + 0.5, cols, row) for row in values])  # (grid, width)
    return np.stack([np.interp(np.arange(height) + 0.5, rows, col) for col in across.T], axis=1)


def _check_grid(grid: int, patch_fraction: float) -> None:
    """Raises CatdogError for a grid or a patch the map cannot be made with."""
    if not 2 <= grid <= MAX_GRID:
        raise CatdogError(f"The occlusion grid must have 2 to {MAX_GRID} positions a side, not {grid}.")
    if not 0 < patch_fraction <= 1:
        raise CatdogError("The occlusion patch must be a fraction of the image between 0 and 1.")


def _covered_logits(image: np.ndarray, corners: list, patch: int, batch_size: int, forward) -> tuple[np.ndarray, int]:
    """The logits of the photo (row 0) and of each copy with the patch at one of `corners`, and
    how many batches the forward passes took."""
    total = len(corners) + 1
    batches = -(-total // max(1, batch_size))
    per_batch = -(-total // batches)  # equal batches: one traced shape, no short last pass
    outputs = []
    for first in range(0, total, per_batch):
        batch = np.repeat(image[None], min(per_batch, total - first), axis=0)
        for row, index in enumerate(range(first, first + len(batch))):
            if index:  # copy 0 is the photo itself
                y, x = corners[index - 1]
                batch[row, y:y + patch, x:x + patch] = OCCLUSION_GREY
        outputs.append(np.asarray(forward(batch), np.float64))
    return np.concatenate(outputs), batches


def _heatmap(drops: np.ndarray, ys: np.ndarray, xs: np.ndarray, patch: int, size: tuple[int, int]) -> np.ndarray:
    """The (grid, grid) drops placed at the patch centres, spread to every pixel, over the largest
    (a rise: 0; no drop anywhere: all zero)."""
    per_pixel = np.clip(_between_centres(drops, ys + patch / 2, xs + patch / 2, size), 0, None)
    top = float(per_pixel.max())
    return np.zeros(size, np.float32) if top <= 0 else (per_pixel / top).astype(np.float32)


def occlusion(model, image_160: np.ndarray, class_index: int | None = None, grid: int = OCCLUSION_GRID,
              patch_fraction: float = OCCLUSION_PATCH, batch_size: int = OCCLUSION_BATCH,
              forward=None) -> OcclusionMap:
    """Occlusion sensitivity of `class_index` (default: the class predicted for the photo).

    A grey square of `patch_fraction` of the side is put at grid x grid positions; the model runs on
    the photo and every covered copy, batch_size images at a time. Each position's value is the drop
    in the class's log-odds with the patch there; the heatmap places it at the patch's centre and
    interpolates between centres. forward: a batch of raw pixels ->
    logits (default: the model's compiled graph, predict.logits); give another engine to reuse this.
    """
    from ..predict import logits as model_logits

    _check_grid(grid, patch_fraction)
    image = model_sized(model, image_160, "Occlusion").astype(np.float32)
    check_class(model, class_index)
    forward = forward or (lambda batch: model_logits(model, batch))
    height, width = image.shape[:2]
    patch = max(1, round(min(height, width) * patch_fraction))
    ys, xs = occlusion_positions(height, grid, patch), occlusion_positions(width, grid, patch)
    corners = [(y, x) for y in ys for x in xs]
    logits, batches = _covered_logits(image, corners, patch, batch_size, forward)
    chosen = int(np.argmax(logits[0])) if class_index is None else int(class_index)
    scores = log_odds(logits, chosen)
    drops = (scores[0] - scores[1:]).astype(np.float32)
    heat = _heatmap(drops.reshape(grid, grid), ys, xs, patch, (height, width))
    probabilities = 0.5 * (1 + np.tanh(scores / 2))  # log-odds back to p, without overflow
    return OcclusionMap(heat, drops.reshape(grid, grid), chosen, float(probabilities[0]),
                        float(probabilities[1:].min()), patch, len(corners) + 1, batches)

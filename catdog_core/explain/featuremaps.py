"""What a small CNN sees: each of its own convolution layers' feature maps for one photo, and
those maps drawn as one picture, a tile per filter."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import CatdogError


@dataclass(frozen=True)
class Activation:
    """One convolution layer's feature maps for one photo."""
    layer: str
    filters: int
    size: tuple[int, int]  # height, width of each feature map
    maps: np.ndarray  # (height, width, filters) float32, after the layer's ReLU


# One probe model a model, built once; the lock keeps two threads from building it twice.
_probes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_probes_lock = threading.Lock()


def conv_layers(model) -> list:
    """The model's own convolution layers, in order (the small CNN's three; none for transfer)."""
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def activations(model, image: np.ndarray) -> list[Activation]:
    """What each convolution layer of a small CNN (models 1 to 3) makes of one image.

    The image is squashed to 160x160 as the model sees it; the maps are the layers' outputs
    after ReLU, one per filter. Raises CatdogError for a model without its own convolutions.
    """
    import keras

    from ..images import resize_for_model

    layers = conv_layers(model)
    if not layers:
        raise CatdogError("This model has no convolution layers of its own (the transfer model's are inside "
                          "MobileNetV2); pick a run of model 1, 2 or 3.")
    with _probes_lock:
        probe = _probes.get(model)
        if probe is None:
            # model.input, not model.inputs: a probe built on the list expects a list, and Keras warns at
            # every call given one tensor ("The structure of `inputs` doesn't match ... ['image']").
            probe = keras.Model(model.input, [layer.output for layer in layers])
            _probes[model] = probe
    picture = resize_for_model(np.asarray(image, np.uint8))
    outputs = probe(picture[None].astype("float32"), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [Activation(layer.name, int(out.shape[-1]), (int(out.shape[1]), int(out.shape[2])),
                       np.asarray(out[0], np.float32)) for layer, out in zip(layers, outputs)]


SILENT_TILE = (200, 210, 228)  # pale blue: a filter with no positive response anywhere in the photo
TILE_TOP = 99.0  # percentile of a map's positive values drawn white: one hot pixel does not darken the rest


def silent_filters(maps: np.ndarray) -> int:
    """How many of the (H, W, C) maps are zero everywhere (after ReLU: the filter found nothing)."""
    return int((np.asarray(maps).reshape(-1, maps.shape[-1]).max(axis=0) <= 0).sum())


def channel_grid(maps: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """(H, W, C) feature maps as one (rows, cols, 3) uint8 picture, a tile per filter on white.

    Each tile is scaled to its own range: 0 black, the TILE_TOP percentile of its positive values
    white, with square-root contrast, so a filter that fires on a few pixels (common in the last
    convolution of a barely trained CNN) shows where, instead of a black square with one bright
    dot. A filter silent everywhere is SILENT_TILE, not black."""
    height, width, count = maps.shape
    rows = -(-count // columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for c in range(count):
        tile = np.asarray(maps[..., c], np.float32)
        positive = tile[tile > 0]
        r, k = divmod(c, columns)
        cell = grid[r * (height + gap):r * (height + gap) + height, k * (width + gap):k * (width + gap) + width]
        if not positive.size:
            cell[:] = SILENT_TILE
            continue
        top = float(np.percentile(positive, TILE_TOP, method="lower"))  # a value of the map, not between two
        scaled = np.sqrt(np.clip(tile / top, 0, 1)) if top > 0 else np.zeros_like(tile)
        cell[:] = np.round(scaled * 255).astype(np.uint8)[..., None]
    return grid

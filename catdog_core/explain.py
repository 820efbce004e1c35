"""Where a model looked, two ways, each as a 0..1 heatmap that `overlay` paints over the photo.

- Grad-CAM (transfer model only): where MobileNetV2's last feature map pushed the
  chosen class's score up: a 5x5 grid at 160x160, 32 pixels a cell. (Its 10x10
  block before that was tried: patchier, and no more often on the animal.)
- Occlusion sensitivity (any model): a grey patch slid over the photo, the whole
  model run on every covered copy in a few batches; warm is where covering the
  photo lowers the class's log-odds the most. Slower (dozens of forward passes),
  but it measures the model's answer itself, on a finer grid.

The transfer model nests MobileNetV2 as one layer, so its feature maps are not
outputs Keras can hand out. Grad-CAM's forward pass is rebuilt here from the
model's own layers: preprocess -> base -> pool -> logits. Augmentation and
dropout are skipped: both are the identity when the model classifies.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .errors import CatdogError
from .models import BASE_NAME, head_on_shared_base

UNSUPPORTED = ("Grad-CAM here explains the transfer model (MobileNetV2 features); "
               "this run is a small CNN, so train the transfer recipe to see a heatmap.")
ALPHA = 0.45  # heatmap weight in the overlay: strong enough to read, the photo stays visible

# The ways of showing where a model looked, fastest first: name -> what a page calls it.
VIEWS = {"gradcam": "Grad-CAM (coarse, 5x5)", "occlusion": "Occlusion (slower, sharper)"}

# Blue (ignored) -> yellow -> red (what drove the score): readable on photos and for most colour-blind eyes.
_RAMP = np.array([[0.0, 30, 60, 200], [0.5, 250, 220, 40], [1.0, 220, 20, 20]])

_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_compiled_lock = threading.Lock()


def supports(model) -> bool:
    """True when the model has the MobileNetV2 base Grad-CAM looks into."""
    return any(layer.name == BASE_NAME for layer in model.layers)


def _cam_fn(model):
    """One compiled graph per model: 5x5 class activation map and the class explained."""
    import tensorflow as tf

    if not supports(model):
        raise CatdogError(UNSUPPORTED)
    with _compiled_lock:
        fn = _compiled.get(model)
        if fn is not None:
            return fn
        shared = head_on_shared_base(model)
        if shared is not None:
            _compiled[model] = fn = _shared_base_cam(*shared)
            return fn
        preprocess = model.get_layer("preprocess")
        base = model.get_layer(BASE_NAME)
        pool = model.get_layer("pool")
        dense = model.get_layer("logits")

        @tf.function(reduce_retracing=True)
        def cam(x, class_index):
            fmap = base(preprocess(x), training=False)
            with tf.GradientTape() as tape:
                tape.watch(fmap)
                logits = dense(pool(fmap))
                predicted = tf.argmax(logits[0], output_type=tf.int32)
                chosen = tf.where(class_index < 0, predicted, class_index)  # -1 means "the predicted class"
                score = tf.gather(logits[0], chosen)
            grads = tape.gradient(score, fmap)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # one weight per feature channel
            return tf.nn.relu(tf.reduce_sum(weights * fmap, axis=-1))[0], chosen

        # The graph holds the model's layers, never the model: the cache's key would never die.
        _compiled[model] = cam
        return cam


def _shared_base_cam(base, dense):
    """Grad-CAM of a head on a shared frozen base, with no graph of its own: the base's one graph gives
    the feature maps, and the rest is exact in numpy. Through GlobalMaxPooling2D the class score's
    gradient reaches each channel's largest cell (shared equally among ties) with that channel's Dense
    weight, so averaged over the H x W cells each channel's weight is kernel[channel, class] / (H x W)."""
    from .predict import base_maps, head_weights, pool_maps

    def cam(x, class_index):
        maps = base_maps(base, x)
        kernel, bias = head_weights(dense)
        chosen = int(class_index)
        if chosen < 0:
            chosen = int(np.argmax(pool_maps(maps)[0] @ kernel + bias))
        weights = kernel[:, chosen] / (maps.shape[1] * maps.shape[2])
        return np.maximum(maps[0] @ weights, 0.0).astype(np.float32), chosen

    return cam


def warm_up(model) -> None:
    """Trace the Grad-CAM graph with a blank image, once per model: tracing is seconds of Python
    that would otherwise land on the first photo a student classifies."""
    if model not in _compiled:
        grad_cam(model, np.zeros((*(d or 160 for d in model.input_shape[1:3]), 3), np.uint8))


def _model_sized(model, image: np.ndarray, what: str) -> np.ndarray:
    """An RGB image as the model sees it: squashed to its input size the way the pixel path does."""
    from .images import resize_for_model

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise CatdogError(f"{what} needs an RGB image (height x width x 3).")
    if image.shape[:2] != tuple(model.input_shape[1:3]):
        image = resize_for_model(image.astype(np.uint8))
    return image


def _check_class(model, class_index: int | None) -> None:
    classes = int(model.output_shape[-1])
    if class_index is not None and not 0 <= class_index < classes:
        raise CatdogError(f"Class number {class_index} does not exist; this model has classes 0 to {classes - 1}.")


def grad_cam(model, image_160: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """(160, 160) float32 heatmap in 0..1 for `class_index` (default: the predicted class).

    An image of another size is squashed to 160x160 first, as the model sees it.
    """
    import tensorflow as tf

    cam_fn = _cam_fn(model)
    image = _model_sized(model, image_160, "Grad-CAM")
    _check_class(model, class_index)
    size = tuple(model.input_shape[1:3])
    cam, _ = cam_fn(tf.constant(image[None], tf.float32),
                    tf.constant(-1 if class_index is None else class_index, tf.int32))
    heat = tf.image.resize(cam[None, :, :, None], size, method="bilinear")[0, :, :, 0].numpy()
    top = float(heat.max())
    if top <= 0:  # no positive evidence anywhere: an all-zero map, not 0/0
        return np.zeros(size, np.float32)
    return np.clip(heat / top, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- occlusion sensitivity


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
    from .predict import logits as model_logits

    if not 2 <= grid <= MAX_GRID:
        raise CatdogError(f"The occlusion grid must have 2 to {MAX_GRID} positions a side, not {grid}.")
    if not 0 < patch_fraction <= 1:
        raise CatdogError("The occlusion patch must be a fraction of the image between 0 and 1.")
    image = _model_sized(model, image_160, "Occlusion").astype(np.float32)
    _check_class(model, class_index)
    forward = forward or (lambda batch: model_logits(model, batch))
    height, width = image.shape[:2]
    patch = max(1, round(min(height, width) * patch_fraction))
    ys, xs = occlusion_positions(height, grid, patch), occlusion_positions(width, grid, patch)
    corners = [(y, x) for y in ys for x in xs]

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
    logits = np.concatenate(outputs)
    chosen = int(np.argmax(logits[0])) if class_index is None else int(class_index)
    scores = log_odds(logits, chosen)
    drops = (scores[0] - scores[1:]).astype(np.float32)

    per_pixel = np.clip(_between_centres(drops.reshape(grid, grid), ys + patch / 2, xs + patch / 2,
                                         (height, width)), 0, None)
    top = float(per_pixel.max())
    heat = np.zeros((height, width), np.float32) if top <= 0 else (per_pixel / top).astype(np.float32)
    probabilities = 0.5 * (1 + np.tanh(scores / 2))  # log-odds back to p, without overflow
    return OcclusionMap(heat, drops.reshape(grid, grid), chosen, float(probabilities[0]),
                        float(probabilities[1:].min()), patch, total, batches)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """(H, W) values in 0..1 -> (H, W, 3) uint8 on the blue-yellow-red ramp."""
    h = np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0)
    channels = [np.interp(h, _RAMP[:, 0], _RAMP[:, c]) for c in (1, 2, 3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The heatmap, resized to the image and coloured, blended over it: same shape, uint8.

    Greyscale (H, W) images come back as (H, W, 3); an alpha channel is kept as is.
    """
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise CatdogError("The overlay needs an RGB image (height x width x 3).")
    rgb = image[..., :3].astype(np.float32)
    height, width = rgb.shape[:2]
    heat = np.asarray(heatmap, np.float32)
    if heat.shape != (height, width):
        heat = np.asarray(Image.fromarray(heat).resize((width, height), Image.Resampling.BILINEAR))
    blended = (1.0 - alpha) * rgb + alpha * colorize(heat).astype(np.float32)
    out = image.astype(np.uint8, copy=True)
    out[..., :3] = np.clip(blended.round(), 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------- what a small CNN sees


@dataclass(frozen=True)
class Activation:
    layer: str
    filters: int
    size: tuple[int, int]  # height, width of each feature map
    maps: np.ndarray  # (height, width, filters) float32, after the layer's ReLU


_probes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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

    from .images import resize_for_model

    layers = conv_layers(model)
    if not layers:
        raise CatdogError("This model has no convolution layers of its own (the transfer model's are inside "
                          "MobileNetV2); pick a run of model 1, 2 or 3.")
    with _compiled_lock:
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

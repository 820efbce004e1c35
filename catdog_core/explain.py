"""Grad-CAM for the transfer model: where in the photo MobileNetV2's features
pushed the chosen class's score up, as a 0..1 heatmap, and that heatmap
painted over the photo.

The transfer model nests MobileNetV2 as one layer, so its last feature map is
not an output Keras can hand out. The forward pass is rebuilt here from the
model's own layers: preprocess -> base -> pool -> logits. Augmentation and
dropout are skipped: both are the identity when the model classifies.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .errors import CatdogError
from .models import BASE_NAME

UNSUPPORTED = ("Grad-CAM here explains the transfer model (MobileNetV2 features); "
               "this run is a small CNN, so train the transfer recipe to see a heatmap.")
ALPHA = 0.45  # heatmap weight in the overlay: strong enough to read, the photo stays visible

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

        _compiled[model] = cam
        return cam


def warm_up(model) -> None:
    """Trace the Grad-CAM graph with a blank image, once per model: tracing is seconds of Python
    that would otherwise land on the first photo a student classifies."""
    if model not in _compiled:
        grad_cam(model, np.zeros((*(d or 160 for d in model.input_shape[1:3]), 3), np.uint8))


def grad_cam(model, image_160: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """(160, 160) float32 heatmap in 0..1 for `class_index` (default: the predicted class).

    An image of another size is squashed to 160x160 first, as the model sees it.
    """
    import tensorflow as tf

    from .images import resize_for_model

    cam_fn = _cam_fn(model)
    image = np.asarray(image_160)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise CatdogError("Grad-CAM needs an RGB image (height x width x 3).")
    size = tuple(model.input_shape[1:3])
    if image.shape[:2] != size:
        image = resize_for_model(image.astype(np.uint8))
    classes = int(model.output_shape[-1])
    if class_index is not None and not 0 <= class_index < classes:
        raise CatdogError(f"Class number {class_index} does not exist; this model has classes 0 to {classes - 1}.")
    cam, _ = cam_fn(tf.constant(image[None], tf.float32),
                    tf.constant(-1 if class_index is None else class_index, tf.int32))
    heat = tf.image.resize(cam[None, :, :, None], size, method="bilinear")[0, :, :, 0].numpy()
    top = float(heat.max())
    if top <= 0:  # no positive evidence anywhere: an all-zero map, not 0/0
        return np.zeros(size, np.float32)
    return np.clip(heat / top, 0.0, 1.0).astype(np.float32)


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
            probe = keras.Model(model.inputs, [layer.output for layer in layers])
            _probes[model] = probe
    picture = resize_for_model(np.asarray(image, np.uint8))
    outputs = probe(picture[None].astype("float32"), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [Activation(layer.name, int(out.shape[-1]), (int(out.shape[1]), int(out.shape[2])),
                       np.asarray(out[0], np.float32)) for layer, out in zip(layers, outputs)]


def channel_grid(maps: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """(H, W, C) feature maps as one uint8 picture: a grid of C tiles, each scaled to its own
    0..255 (a filter that found nothing stays black), on a white background."""
    height, width, count = maps.shape
    rows = -(-count // columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), 255, np.uint8)
    for c in range(count):
        tile = maps[..., c]
        top = float(tile.max())
        scaled = np.zeros_like(tile) if top <= 0 else np.clip(tile / top, 0, 1)
        r, k = divmod(c, columns)
        grid[r * (height + gap):r * (height + gap) + height, k * (width + gap):k * (width + gap) + width] = (
            np.round(scaled * 255).astype(np.uint8))
    return grid

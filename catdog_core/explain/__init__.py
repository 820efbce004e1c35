"""Where a model looked, two ways, each as a 0..1 heatmap that `overlay` paints over the photo.

- Grad-CAM (transfer model only): where MobileNetV2's last feature map pushed the
  chosen class's score up: a 5x5 grid at 160x160, 32 pixels a cell. (Its 10x10
  block before that was tried: patchier, and no more often on the animal.)
- Occlusion sensitivity (any model, made in occlusion): a grey patch slid over the
  photo, the whole model run on every covered copy in a few batches; warm is where
  covering the photo lowers the class's log-odds the most. Slower (dozens of
  forward passes), but it measures the model's answer itself, on a finer grid.

This module makes Grad-CAM and paints a map; it names occlusion's and featuremaps'
(what a small CNN's convolutions see) public names too, so callers need one import.

The transfer model nests MobileNetV2 as one layer, so its feature maps are not
outputs Keras can hand out. Grad-CAM's forward pass is rebuilt here from the
model's own layers: preprocess -> base -> pool -> logits. Augmentation and
dropout are skipped: both are the identity when the model classifies.
"""

from __future__ import annotations


import numpy as np

from ..errors import CatdogError
from ..fileio import PerModel
from .inputs import check_class, model_sized
from .featuremaps import (SILENT_TILE, TILE_TOP, Activation, activations, channel_grid, conv_layers,
                          silent_filters)
from ..models import BASE_NAME, head_on_shared_base
from .occlusion import (MAX_GRID, OCCLUSION_BATCH, OCCLUSION_GREY, OCCLUSION_GRID, OCCLUSION_PATCH,
                        OcclusionMap, log_odds, occlusion, occlusion_positions)

__all__ = [
    "ALPHA", "UNSUPPORTED", "VIEWS", "colorize", "grad_cam", "overlay", "supports", "warm_up",
    # occlusion sensitivity (occlusion)
    "MAX_GRID", "OCCLUSION_BATCH", "OCCLUSION_GREY", "OCCLUSION_GRID", "OCCLUSION_PATCH", "OcclusionMap",
    "log_odds", "occlusion", "occlusion_positions",
    # what a small CNN sees (featuremaps)
    "SILENT_TILE", "TILE_TOP", "Activation", "activations", "channel_grid", "conv_layers", "silent_filters",
]

UNSUPPORTED = ("Grad-CAM here explains the transfer model (MobileNetV2 features); "
               "this run is a small CNN, so train the transfer recipe to see a heatmap.")
ALPHA = 0.45  # heatmap weight in the overlay: strong enough to read, the photo stays visible

# The ways of showing where a model looked, fastest first: name -> what a page calls it.
VIEWS = {"gradcam": "Grad-CAM (coarse, 5x5)", "occlusion": "Occlusion (slower, sharper)"}

# Blue (ignored) -> yellow -> red (what drove the score): readable on photos and for most colour-blind eyes.
_RAMP = np.array([[0.0, 30, 60, 200], [0.5, 250, 220, 40], [1.0, 220, 20, 20]])

_compiled = PerModel()  # model -> its one Grad-CAM graph


def supports(model) -> bool:
    """True when the model has the MobileNetV2 base Grad-CAM looks into."""
    return any(layer.name == BASE_NAME for layer in model.layers)


def _cam_fn(model):
    """One compiled graph per model: 5x5 class activation map and the class explained."""
    if not supports(model):
        raise CatdogError(UNSUPPORTED)
    return _compiled.get(model, _compiled_cam)


def _compiled_cam(model):
    import tensorflow as tf

    shared = head_on_shared_base(model)
    if shared is not None:
        return _shared_base_cam(*shared)
    preprocess = model.get_layer("preprocess")
    base = model.get_layer(BASE_NAME)
    pool = model.get_layer("pool")
    dense = model.get_layer("logits")

    @tf.function(reduce_retracing=True)
    def cam(x, class_index):  # holds the model's layers, never the model (see PerModel)
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

    return cam


def _shared_base_cam(base, dense):
    """Grad-CAM of a head on a shared frozen base, with no graph of its own: the base's one graph gives
    the feature maps, and the rest is exact in numpy. Through GlobalMaxPooling2D the class score's
    gradient reaches each channel's largest cell (shared equally among ties) with that channel's Dense
    weight, so averaged over the H x W cells each channel's weight is kernel[channel, class] / (H x W)."""
    from ..predict import base_maps, head_weights, pool_maps

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
def grad_cam(model, image_160: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """(160, 160) float32 heatmap in 0..1 for `class_index` (default: the predicted class).

    An image of another size is squashed to 160x160 first, as the model sees it.
    """
    import tensorflow as tf

    cam_fn = _cam_fn(model)
    image = model_sized(model, image_160, "Grad-CAM")
    check_class(model, class_index)
    size = tuple(model.input_shape[1:3])
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

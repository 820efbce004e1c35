"""The frozen MobileNetV2 base while a run trains: its fast extractor and the cached features of
a split (what the head of a frozen-base recipe trains on), and unfreezing its top layers for
fine-tuning. Keras loads only when a base is unfrozen."""

from __future__ import annotations

import numpy as np

from .. import features
from ..errors import InvalidSettings
from ..models import BASE_NAME, BuiltModel, compile_model
from ..progress import Progress


def extractor(built: BuiltModel, weights: str, progress: Progress) -> features.FeatureExtractor:
    """The base of a built model as the fast runtime; progress hears when it is converted first."""
    if not features.tflite_path(features.base_key(built.features, weights)).is_file():
        progress(0, 0, "Preparing a fast MobileNetV2 (once per machine, a few seconds)")
    return features.FeatureExtractor(built.features, weights)


def split_features(extract, data, split: str, progress: Progress) -> np.ndarray:
    """The base's pooled features of one split of a dataset, from (or into) the cache by content."""
    return features.cached_features(extract, data.key, split, data.split(split).images, progress)


def unfreeze(built: BuiltModel, from_layer: int, learning_rate: float) -> None:
    """Make the base's layers from `from_layer` on trainable and recompile at the lower rate.

    BatchNormalization layers stay frozen, so they keep running in inference
    mode with their ImageNet statistics: in Keras 3 the model's training=True
    overrides the base's recorded training=False (keras-team/keras#20285).
    """
    import keras

    base = built.model.get_layer(BASE_NAME)
    if not 0 <= from_layer < len(base.layers):
        raise InvalidSettings(f"Fine-tuning must start at a layer from 0 to {len(base.layers) - 1}, not {from_layer}.")
    base.trainable = True
    for i, layer in enumerate(base.layers):
        if i < from_layer or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    compile_model(built.model, learning_rate)

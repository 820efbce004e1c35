"""What every explanation checks first: an RGB image sized as the model sees it, and a class
number the model has."""

from __future__ import annotations

import numpy as np

from ..errors import CatdogError


def model_sized(model, image: np.ndarray, what: str) -> np.ndarray:
    """An RGB image as the model sees it: squashed to its input size the way the pixel path does."""
    from ..images import resize_for_model

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise CatdogError(f"{what} needs an RGB image (height x width x 3).")
    if image.shape[:2] != tuple(model.input_shape[1:3]):
        image = resize_for_model(image.astype(np.uint8))
    return image


def check_class(model, class_index: int | None) -> None:
    """Raises CatdogError unless `class_index` is None (the predicted class) or one of the model's."""
    classes = int(model.output_shape[-1])
    if class_index is not None and not 0 <= class_index < classes:
        raise CatdogError(f"Class number {class_index} does not exist; this model has classes 0 to {classes - 1}.")

"""The post's building blocks as code text, which every snippet and the standalone script are
made of: the imports and sizes, the loading, the augmentation layers, the recipe's model."""

from __future__ import annotations

from ..augment import FLIP_MODES, NO_AUGMENTATION, AugmentSettings
from ..jobspec import JobSpec
from ..models import SMALL_CNN, TRANSFER_HEAD, get_recipe

HEADER = '''import numpy as np
import keras
from keras import layers
import tensorflow as tf

IMG_SIZE = (160, 160)
BATCH_SIZE = 32
'''


def load_data(folder: str = "cats_and_dogs_filtered") -> str:
    """The post's loading, with this project's test split: a fifth of validation, by file."""
    return f'''{HEADER}
# The post's loader: every image decoded and squashed to 160x160
# (bilinear, no antialias).
train_ds = keras.utils.image_dataset_from_directory(
    "{folder}/train", shuffle=True, batch_size=BATCH_SIZE,
    image_size=IMG_SIZE)
val_ds = keras.utils.image_dataset_from_directory(
    "{folder}/validation", shuffle=False, batch_size=BATCH_SIZE,
    image_size=IMG_SIZE)
class_names = train_ds.class_names
print(class_names)

# The post's test set: the first fifth of the validation batches (take), the
# rest stay validation (skip). Its dataset reshuffles on every pass, so its
# test images change; without shuffling, they stay put:
batches = int(val_ds.cardinality())
test_ds = val_ds.take(batches // 5)
val_ds = val_ds.skip(batches // 5)

# Label balance: the baseline a model must beat.
counts = np.bincount(np.concatenate([y.numpy() for _, y in train_ds]))
print(dict(zip(class_names, counts)), "baseline", counts.max() / counts.sum())
'''


def augmentation(settings: AugmentSettings, preview: bool = True) -> str:
    """The settings as the keras.Sequential of random layers the model puts in front."""
    lines = []
    if FLIP_MODES[settings.flip]:
        lines.append(f'    layers.RandomFlip("{FLIP_MODES[settings.flip]}"),')
    if settings.rotation:
        lines.append(f"    layers.RandomRotation({settings.rotation:g}),  # up to ±{settings.rotation_degrees:.0f} degrees")
    if settings.zoom:
        lines.append(f"    layers.RandomZoom({settings.zoom:g}),")
    if settings.translation:
        lines.append(f"    layers.RandomTranslation({settings.translation:g}, {settings.translation:g}),")
    if settings.contrast:
        lines.append(f"    layers.RandomContrast({settings.contrast:g}, value_range=(0, 255)),")
    if settings.brightness:
        lines.append(f"    layers.RandomBrightness({settings.brightness:g}, value_range=(0, 255)),")
    if not lines:  # Keras cannot build an empty Sequential: the model then takes the pictures as they are
        return "# Augmentation is off in these settings: no random layers in front of the model.\n"
    body = "\n".join(lines)
    code = f"data_augmentation = keras.Sequential([\n{body}\n])\n"
    if preview:
        code += (
            "\n# Nine random variants of one training image, as the Augmentation page draws them:\n"
            "for images, _ in train_ds.take(1):\n"
            "    first = images[:1]\n"
            "    variants = [data_augmentation(first, training=True)[0] for _ in range(9)]\n")
    return code


def augmentation_page(settings: AugmentSettings) -> str:
    """What the Augmentation page shows: the settings' random layers with their imports."""
    return "import keras\nfrom keras import layers\n\n" + augmentation(settings)


def _layer_lines(table) -> list[str]:
    """models' layer tables (SMALL_CNN, TRANSFER_HEAD) as the post writes them: x = layers.X(...)(x)."""
    lines = []
    for kind, args, kwargs, _ in table:
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        lines.append(f"x = layers.{kind}({', '.join(shown)})(x)")
    return lines


def model(recipe: str, settings: AugmentSettings, num_classes: int = 2, weights: str | None = "imagenet",
          preview: bool = True) -> str:
    """The recipe as the post builds it, from the same layer tables as models.build."""
    r = get_recipe(recipe)
    parts = [augmentation(settings, preview) if r.uses_augmentation else ""]
    x = "inputs"
    steps = ["inputs = keras.Input(shape=IMG_SIZE + (3,))"]
    if r.uses_augmentation and not settings.is_identity:
        steps.append("x = data_augmentation(inputs)")
        x = "x"
    if r.normalizes:
        steps.append(f"x = layers.Rescaling(1 / 127.5, offset=-1)({x})  # mobilenet_v2.preprocess_input")
        x = "x"
    if x == "inputs":
        steps.append("x = inputs")
    if r.frozen_base:
        steps += [
            'base_model = keras.applications.MobileNetV2(input_shape=IMG_SIZE + (3,), include_top=False,',
            f'                                            weights={weights!r})',
            "base_model.trainable = False",
            "x = base_model(x, training=False)",
            *_layer_lines(TRANSFER_HEAD),
        ]
    else:
        steps += _layer_lines(SMALL_CNN)
    steps.append(f"outputs = layers.Dense({num_classes})(x)")
    lr = r.learning_rate
    steps += [
        "model = keras.Model(inputs, outputs)",
        f"model.compile(optimizer=keras.optimizers.Adam({lr:g}),",
        "              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),",
        "              metrics=['accuracy'])",
        "model.summary()",
    ]
    return "".join(parts) + "\n" + "\n".join(steps) + "\n"


def recipe_settings(spec: JobSpec) -> AugmentSettings:
    """What the recipe puts in front of the model: the spec's augmentation, none for model 1."""
    return spec.settings if get_recipe(spec.recipe).uses_augmentation else NO_AUGMENTATION

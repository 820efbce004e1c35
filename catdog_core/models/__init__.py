"""The named recipes: the blog post's four models, built as the post builds them.

Every model takes raw 0..255 RGB pixels, so a saved ``.keras`` file classifies
an image with no extra code. Augmentation layers come from an
``AugmentSettings`` and sit on the raw pixels, before the post's
``mobilenet_v2.preprocess_input`` normalisation (x / 127.5 - 1): flips and
rotations commute with that linear map, so this is the post's model, and it
keeps brightness and contrast working on the 0..255 range they are defined for.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import config
from ..augment import AugmentSettings, build_layers
from ..errors import InvalidSettings
from .mobilenet import BASE_NAME, base_source, load_base, share_base_as, shared_base

# The base's names are mobilenet's, named here too so a recipe's callers need one import.
__all__ = ["BASE_NAME", "RECIPES", "SMALL_CNN", "SUMMARY_COLUMNS", "TRANSFER_HEAD", "BuiltModel", "Recipe",
           "TransferParts", "base_source", "build", "build_features", "compile_model", "get_recipe",
           "head_on_shared_base", "load_base", "logits_layer", "make_layers", "preprocess_layer", "recipe_summary",
           "share_base_as", "shared_base", "small_cnn", "summary_text", "transfer", "with_probabilities"]


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    description: str
    post_val_accuracy: str  # what the blog post reports, for comparison tables
    uses_augmentation: bool
    frozen_base: bool
    learning_rate: float = 1e-3
    post_val: float | None = None  # the post's figures as numbers, after its 20 epochs
    post_test: float | None = None
    normalizes: bool = False  # mobilenet_v2.preprocess_input (x / 127.5 - 1) in front


# The post's layers as data, (Keras layer, arguments, keyword arguments, name): the builders below
# make them and codegen prints them, so the code shown to students is the model that trains.
SMALL_CNN = (
    ("Conv2D", (32, 3), {"activation": "relu"}, "conv_1"),
    ("MaxPooling2D", (), {}, "pool_1"),
    ("Conv2D", (32, 3), {"activation": "relu"}, "conv_2"),
    ("MaxPooling2D", (), {}, "pool_2"),
    ("Conv2D", (64, 3), {"activation": "relu"}, "conv_3"),
    ("Flatten", (), {}, "flatten"),
    ("Dropout", (0.2,), {}, "dropout"),
)
TRANSFER_HEAD = (
    ("GlobalMaxPooling2D", (), {}, "pool"),
    ("Dropout", (0.2,), {}, "dropout"),
)


RECIPES = {
    r.name: r
    for r in (
        Recipe("baseline", "Model 1: small CNN",
               "Three convolutions on raw pixels, Flatten, Dropout(0.2), Dense: the post's first try.",
               "55-60 %", False, False, post_val=0.58),
        Recipe("augmented", "Model 2: + augmentation",
               "Model 1 with random flips and rotations in front, so it sees new variants every epoch.",
               "about 60 %", True, False, post_val=0.60),
        Recipe("normalized", "Model 3: + normalisation",
               "Model 2 with pixels scaled to -1..1 (MobileNetV2's preprocess_input) before the convolutions.",
               "about 74 %", True, False, post_val=0.74, normalizes=True),
        Recipe("transfer", "Model 4: transfer learning",
               "Frozen ImageNet MobileNetV2 as a feature extractor, GlobalMaxPooling, Dropout(0.2), Dense: only the head learns.",
               "about 97 %", True, True, post_val=0.97, post_test=0.974, normalizes=True),
    )
}


@dataclass
class BuiltModel:
    """A recipe's models. They share their layers, so training one trains the others.

    - model: what trains, raw pixels -> augmentation -> ... -> logits (the post's model);
    - inference: the same without the random layers; it is what a run saves and
      exports, so calling it as model(x) always gives the same answer;
    - features / head: for a frozen base, the parts training can cache around.
    """

    recipe: Recipe
    model: object  # keras.Model
    inference: object = None  # keras.Model: raw pixels -> logits, no random layers
    augmentation: object | None = None  # keras.Sequential or None
    features: object | None = None  # raw pixels -> pooled base features (frozen)
    head: object | None = None  # pooled features -> logits (the trainable part)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise InvalidSettings(f"Unknown recipe {name!r}; choose one of {', '.join(RECIPES)}.")
    return RECIPES[name]


def preprocess_layer(name: str = "preprocess"):
    """mobilenet_v2.preprocess_input as a saveable layer: x / 127.5 - 1."""
    from keras import layers

    return layers.Rescaling(1 / 127.5, offset=-1.0, name=name)


def make_layers(table) -> list:
    """Keras layers from a table such as SMALL_CNN, each named so that two models never clash."""
    from keras import layers

    return [getattr(layers, kind)(*args, name=name, **kwargs) for kind, args, kwargs, name in table]


def logits_layer(num_classes: int):
    from keras import layers

    return layers.Dense(num_classes, name="logits")


def small_cnn(recipe: Recipe, num_classes: int):
    """Models 1 to 3: (pixels scaled to -1..1 for model 3) the post's three convolutions, Flatten,
    Dropout, Dense. Returns forward(x) -> logits."""
    steps = ([preprocess_layer()] if recipe.normalizes else []) + make_layers(SMALL_CNN) + [logits_layer(num_classes)]

    def forward(x):
        for layer in steps:
            x = layer(x)
        return x

    return forward


@dataclass
class TransferParts:
    """Model 4's layers, kept apart so training can cache the frozen base's outputs."""

    preprocess: object
    base: object
    pool: object
    dropout: object
    logits: object

    def __call__(self, x):
        return self.logits(self.dropout(self.pool(self.base(self.preprocess(x), training=False))))


def transfer(num_classes: int, base) -> TransferParts:
    """Model 4: preprocess_input, the frozen MobileNetV2 (training=False), GlobalMaxPooling2D,
    Dropout(0.2), Dense."""
    pool, dropout = make_layers(TRANSFER_HEAD)
    return TransferParts(preprocess_layer(), base, pool, dropout, logits_layer(num_classes))


def head_on_shared_base(model):
    """(base, logits layer) when `model` is this code's transfer recipe on a shared frozen base
    (built with share_base), else None. Such a model is preprocess -> base -> GlobalMaxPooling2D ->
    Dense when it classifies (augmentation and dropout are the identity then), so every head on one
    base can be answered by one traced graph of that base and its own Dense in numpy."""
    from keras import layers

    names = {layer.name: layer for layer in model.layers}
    base = names.get(BASE_NAME)
    if base is None or base_source(base) is None:
        return None
    pool, dense, preprocess = names.get("pool"), names.get("logits"), names.get("preprocess")
    if not (isinstance(pool, layers.GlobalMaxPooling2D) and isinstance(dense, layers.Dense)
            and isinstance(preprocess, layers.Rescaling)):
        return None
    return base, dense


def build(name: str, num_classes: int = 2, settings: AugmentSettings | None = None,
          weights: str | None = None, pretrained: bool = True,
          learning_rate: float | None = None, share_base: bool = False) -> BuiltModel:
    """Build and compile one recipe, ready to fit; see BuiltModel for what comes back.

    share_base: use this process's shared frozen MobileNetV2 (see shared_base); only for
    models that keep it frozen.
    """
    recipe = get_recipe(name)
    if num_classes < 2:
        raise InvalidSettings("A classifier needs at least 2 classes.")
    settings = settings or AugmentSettings()
    learning_rate = learning_rate or recipe.learning_rate
    augmentation = None
    if recipe.uses_augmentation and not settings.is_identity:
        augmentation = build_layers(settings)
    parts = None
    if recipe.frozen_base:
        base = shared_base(weights) if share_base and pretrained else load_base(weights, pretrained)
        forward = parts = transfer(num_classes, base)
    else:
        forward = small_cnn(recipe, num_classes)
    model, inference = _model_and_inference(recipe.name, forward, augmentation, learning_rate)
    built = BuiltModel(recipe, model, inference, augmentation)
    if parts is not None:
        built.features, built.head = _features_and_head(parts, learning_rate)
    return built


def _model_and_inference(name: str, forward, augmentation, learning_rate: float) -> tuple:
    """(the compiled model that trains, the same layers without the random ones) of one recipe."""
    import keras

    # The post's model first, so each shared layer's first output is the one in its graph.
    inputs = keras.Input(config.IMG_SIZE + (3,), name="image")
    model = keras.Model(inputs, forward(augmentation(inputs) if augmentation else inputs), name=name)
    compile_model(model, learning_rate)
    if augmentation is None:
        return model, model
    clean = keras.Input(config.IMG_SIZE + (3,), name="image")
    return model, keras.Model(clean, forward(clean), name=name)


def _features_and_head(parts: TransferParts, learning_rate: float) -> tuple:
    """(raw pixels -> pooled base features, compiled pooled features -> logits): model 4's layer
    objects regrouped, so training can cache the frozen base's outputs."""
    import keras

    raw = keras.Input(config.IMG_SIZE + (3,), name="raw")
    features = keras.Model(raw, parts.pool(parts.base(parts.preprocess(raw), training=False)), name="features")
    pooled = keras.Input((parts.base.output_shape[-1],), name="pooled")
    head = keras.Model(pooled, parts.logits(parts.dropout(pooled)), name="head")
    compile_model(head, learning_rate)
    return features, head


def with_probabilities(model):
    """The inference model with a softmax on its logits: raw 0..255 pixels -> class probabilities."""
    import keras
    from keras import layers

    inputs = keras.Input(model.input_shape[1:], name="image")
    return keras.Model(inputs, layers.Softmax(name="probabilities")(model(inputs)), name=f"{model.name}_probabilities")


def build_features(weights: str | None = None):
    """The frozen part of the transfer recipe alone: raw pixels -> pooled MobileNetV2 features."""
    import keras
    from keras import layers

    raw = keras.Input(config.IMG_SIZE + (3,), name="raw")
    pooled = layers.GlobalMaxPooling2D(name="pool")(load_base(weights)(preprocess_layer()(raw), training=False))
    return keras.Model(raw, pooled, name="features")


def compile_model(model, learning_rate: float, steps_per_execution: int = 1) -> None:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)


SUMMARY_COLUMNS = 68  # the fewest in which no recipe's cell wraps: "(None, 158, 158, 32)" needs them


def summary_text(model) -> str:
    """Keras' model.summary() as plain text, for the Training page."""
    lines: list[str] = []
    # SUMMARY_COLUMNS: with print_fn Keras renders on an 80-column console (a wider table loses its Param #),
    # and the Training page shows it whole in presenter mode at 1280 pixels (80 lost Param # there).
    model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=SUMMARY_COLUMNS)
    return _strip_ansi("\n".join(lines))


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def recipe_summary(name: str, num_classes: int = 2, settings: AugmentSettings | None = None) -> str:
    """The summary of a recipe, built without pretrained weights (fast, offline)."""
    return summary_text(build(name, num_classes, settings, pretrained=False).model)

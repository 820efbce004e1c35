"""Show the code: the plain Keras code that does what a page just did, in the blog
post's own style (image_dataset_from_directory, the recipe's layers, fit), and a
standalone script that retrains a saved run's recipe on any data folder.

What is generated imports tensorflow, keras and numpy only: a student can copy
it into a notebook without this project. The post's building blocks are made in
codegen.blocks and the standalone script in codegen.retraining; both are named here too.
"""

from __future__ import annotations

from ..augment import AugmentSettings
from .blocks import HEADER, augmentation, augmentation_page, load_data, model, recipe_settings
from .retraining import for_run, script
from ..jobspec import JobSpec
from ..models import get_recipe

__all__ = ["HEADER", "augment_check", "augmentation", "augmentation_page", "classify", "evaluate", "for_run",
           "learning_curve", "load_data", "model", "script", "training"]


def training(spec: JobSpec, num_classes: int = 2) -> str:
    """Loading, the model and fit: what the Training page's Start does with this job."""
    recipe, epochs, learning_rate = spec.recipe, spec.epochs, spec.learning_rate
    fine_tune_epochs, fine_tune_at = spec.fine_tune_epochs, spec.fine_tune_at
    code = load_data() + "\n" + model(recipe, recipe_settings(spec), num_classes)
    if learning_rate:
        code = code.replace(f"Adam({get_recipe(recipe).learning_rate:g})", f"Adam({learning_rate:g})")
    variants = getattr(spec, "variants", 0)
    if get_recipe(recipe).frozen_base and spec.use_cache and not recipe_settings(spec).is_identity and 0 < variants < epochs:
        code += f'''
# Here every epoch makes new variants, as the post does. The app does that for the first {variants}
# epochs, keeps MobileNetV2's features of them and draws from those after: the base runs less.'''
    code += f'''
history = model.fit(train_ds, epochs={epochs}, validation_data=val_ds)
print("validation accuracy", history.history["val_accuracy"][-1])
'''
    if fine_tune_epochs:
        code += f'''
# Fine-tuning: unfreeze the top of MobileNetV2, BatchNormalization stays in inference mode.
base_model.trainable = True
for layer in base_model.layers[:{fine_tune_at}]:
    layer.trainable = False
for layer in base_model.layers:
    if isinstance(layer, layers.BatchNormalization):
        layer.trainable = False
model.compile(optimizer=keras.optimizers.Adam({(learning_rate or get_recipe(recipe).learning_rate) / 10:g}),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
history_fine = model.fit(train_ds, epochs={epochs + fine_tune_epochs}, initial_epoch={epochs},
                         validation_data=val_ds)
'''
    code += '''
loss, accuracy = model.evaluate(test_ds)
print("test accuracy", accuracy)
'''
    return code


def classify(model_file: str = "model.keras", class_names=("cats", "dogs")) -> str:
    """What the Classify page does for one photo: the same pixels as the loader, then softmax."""
    return f'''import numpy as np
import keras
import tensorflow as tf

model = keras.saving.load_model("{model_file}")  # takes raw 0..255 RGB pixels, returns logits
class_names = {list(class_names)!r}

raw = tf.io.read_file("photo.jpg")
image = tf.io.decode_jpeg(raw, channels=3)             # the loader's own decoder
image = tf.image.resize(image, (160, 160))             # bilinear, no antialias: the loader's resize
logits = model(image[None])                            # a batch of one
probabilities = tf.nn.softmax(logits)[0].numpy()
print(class_names[int(np.argmax(probabilities))], probabilities)
'''


def evaluate(model_file: str = "model.keras", folder: str = "cats_and_dogs_filtered") -> str:
    """What the Evaluate page does: the test split, accuracy, confusion, the worst mistakes."""
    return load_data(folder) + f'''
model = keras.saving.load_model("{model_file}")
images = np.concatenate([x.numpy() for x, _ in test_ds])
labels = np.concatenate([y.numpy() for _, y in test_ds])
probabilities = tf.nn.softmax(model.predict(images)).numpy()
predicted = probabilities.argmax(axis=1)
print("test accuracy", (predicted == labels).mean())
print(tf.math.confusion_matrix(labels, predicted).numpy())  # rows: true class, columns: predicted
losses = -np.log(probabilities[np.arange(len(labels)), labels])
worst = np.argsort(-losses)[:12]  # the images the model was most confidently wrong about
'''

def learning_curve() -> str:
    """How the Training page's learning curve is made, in plain Keras on cached features."""
    return '''import numpy as np
import tensorflow as tf

# features: MobileNetV2's pooled outputs of every training photo (computed once); labels: their classes
def learning_curve(features, labels, val_features, val_labels, sizes, classes=2, seed=42):
    points = []
    for n in sizes:
        per_class = n // classes                     # a balanced subset: the same number of every class
        chosen = np.concatenate([
            np.flatnonzero(labels == c)[np.random.default_rng((seed, c)).permutation(
                int(np.sum(labels == c)))[:per_class]] for c in range(classes)])
        tf.keras.utils.set_random_seed(seed)
        head = tf.keras.Sequential([tf.keras.layers.Dropout(0.2), tf.keras.layers.Dense(classes)])
        head.compile(tf.keras.optimizers.Adam(3e-4),
                     tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        epochs = max(10, -(-100 // -(-len(chosen) // 32)))   # at least 100 optimizer steps
        head.fit(features[chosen], labels[chosen], batch_size=32, epochs=epochs, verbose=0)
        _, accuracy = head.evaluate(val_features, val_labels, verbose=0)
        points.append((len(chosen), accuracy))     # plot on a log x axis
    return points
'''


def augment_check(settings: AugmentSettings) -> str:
    """How the Augmentation page's "Does it help?" measures, in plain Keras on the frozen base."""
    layers_code = augmentation(settings, preview=False)
    if "data_augmentation" not in layers_code:
        layers_code += "data_augmentation = keras.Sequential([layers.Identity()])\n"
    return ("import keras\nimport numpy as np\nfrom keras import layers\n\n" + layers_code + '''
# base: the transfer model's frozen part (preprocess_input, MobileNetV2 with training=False, GlobalMaxPooling2D)
# train_images, train_labels, val_images, val_labels: the photos (0..255) and their classes
def head_accuracy(features_in_epoch, val_features, seed):
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([layers.Dropout(0.2), layers.Dense(2)])
    head.compile(keras.optimizers.Adam(3e-4),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    for epoch in range(10):
        head.fit(features_in_epoch(epoch), train_labels, batch_size=32, epochs=1, verbose=0)
    return head.evaluate(val_features, val_labels, verbose=0)[1]

K, SEEDS = 4, 3
plain = base.predict(train_images, verbose=0)                   # the photos as they are
copies = np.stack([base.predict(data_augmentation(train_images, training=True), verbose=0) for _ in range(K)])
val = base.predict(val_images, verbose=0)
rows = np.arange(len(plain))

without = [head_accuracy(lambda epoch: plain, val, seed) for seed in range(SEEDS)]
with_ = []
for seed in range(SEEDS):                        # in each epoch, each photo is one of its K copies
    rng = np.random.default_rng(seed)
    with_.append(head_accuracy(lambda epoch: copies[rng.integers(K, size=len(rows)), rows], val, seed))

difference = np.mean(with_) - np.mean(without)
noise = 2 * np.sqrt(np.var(with_, ddof=1) / SEEDS + np.var(without, ddof=1) / SEEDS)
print(f"with {np.mean(with_):.1%} ± {np.std(with_, ddof=1):.1%}, without {np.mean(without):.1%} ± "
      f"{np.std(without, ddof=1):.1%}: " + ("no measurable difference" if abs(difference) <= noise else
                                            f"{difference * 100:+.1f} points"))
''')

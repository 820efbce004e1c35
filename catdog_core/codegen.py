"""Show the code: the plain Keras code that does what a page just did, in the blog
post's own style (image_dataset_from_directory, the recipe's layers, fit), and a
standalone script that retrains a saved run's recipe on any data folder.

What is generated imports tensorflow, keras and numpy only: a student can copy
it into a notebook without this project.
"""

from __future__ import annotations

from .augment import FLIP_MODES, NO_AUGMENTATION, AugmentSettings
from .jobspec import JobSpec
from .models import SMALL_CNN, TRANSFER_HEAD, get_recipe

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


def _settings(spec: JobSpec) -> AugmentSettings:
    """What the recipe puts in front of the model: the spec's augmentation, none for model 1."""
    return spec.settings if get_recipe(spec.recipe).uses_augmentation else NO_AUGMENTATION


def training(spec: JobSpec, num_classes: int = 2) -> str:
    """Loading, the model and fit: what the Training page's Start does with this job."""
    recipe, epochs, learning_rate = spec.recipe, spec.epochs, spec.learning_rate
    fine_tune_epochs, fine_tune_at = spec.fine_tune_epochs, spec.fine_tune_at
    code = load_data() + "\n" + model(recipe, _settings(spec), num_classes)
    if learning_rate:
        code = code.replace(f"Adam({get_recipe(recipe).learning_rate:g})", f"Adam({learning_rate:g})")
    variants = getattr(spec, "variants", 0)
    if get_recipe(recipe).frozen_base and spec.use_cache and not _settings(spec).is_identity and 0 < variants < epochs:
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


def script(spec: JobSpec, source: str = "") -> str:
    """A standalone program that retrains the job's recipe and settings on --data for --epochs,
    printing the validation accuracy after each epoch. Imports tensorflow, keras and numpy only."""
    recipe, epochs, learning_rate = spec.recipe, spec.epochs, spec.learning_rate
    fine_tune_epochs, fine_tune_at = spec.fine_tune_epochs, spec.fine_tune_at
    r = get_recipe(recipe)
    body = model(recipe, _settings(spec), num_classes=0, preview=False).replace("layers.Dense(0)",
                                                                         "layers.Dense(len(class_names))")
    body = body.replace("weights='imagenet'", "weights=args.weights")
    if learning_rate:
        body = body.replace(f"Adam({r.learning_rate:g})", f"Adam({learning_rate:g})")
    body = "\n".join("    " + line if line else "" for line in body.splitlines())
    fine = ""
    if fine_tune_epochs and r.frozen_base:
        fine = f'''
    if args.fine_tune_epochs:
        base_model.trainable = True
        for i, layer in enumerate(base_model.layers):
            if i < {fine_tune_at} or isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
        model.compile(optimizer=keras.optimizers.Adam({(learning_rate or r.learning_rate) / 10:g}),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(train_ds, epochs=args.epochs + args.fine_tune_epochs, initial_epoch=args.epochs,
                  validation_data=val_ds, callbacks=[PrintValidation()], verbose=0)
'''
    train_data, helpers = _training_data(spec.exclude)
    return f'''"""Retrain {r.title} ({recipe}){(' as in run ' + source) if source else ''}: a standalone script.

    python this_script.py --data FOLDER_WITH_train_AND_validation [--epochs {epochs}] [--weights imagenet]

Written by catdog; needs only tensorflow (keras) and numpy.
"""

import argparse
{"import os" + chr(10) if spec.exclude else ""}
import numpy as np
import keras
from keras import layers
import tensorflow as tf

IMG_SIZE = (160, 160)
BATCH_SIZE = 32


class PrintValidation(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {{epoch + 1}}: validation accuracy {{logs['val_accuracy']:.4f}}", flush=True)

{helpers}
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a folder with train/ and validation/, one subfolder per class")
    parser.add_argument("--epochs", type=int, default={epochs})
    parser.add_argument("--weights", default="imagenet", help="MobileNetV2 weights: imagenet or a no-top .h5 file")
    parser.add_argument("--fine-tune-epochs", type=int, default={fine_tune_epochs})
    args = parser.parse_args()
    keras.utils.set_random_seed(123)

{train_data}    val_ds = keras.utils.image_dataset_from_directory(args.data + "/validation", shuffle=False,
                                                      batch_size=BATCH_SIZE, image_size=IMG_SIZE)
{body}
    model.fit(train_ds, epochs=args.epochs, validation_data=val_ds, callbacks=[PrintValidation()], verbose=0)
{fine}    loss, accuracy = model.evaluate(val_ds, verbose=0)
    print(f"final validation accuracy {{accuracy:.4f}}")


if __name__ == "__main__":
    main()
'''


PLAIN_TRAINING_DATA = '''    train_ds = keras.utils.image_dataset_from_directory(args.data + "/train", shuffle=True,
                                                        batch_size=BATCH_SIZE, image_size=IMG_SIZE)
    class_names = train_ds.class_names
'''

WITHOUT_EXCLUDED = '''    class_names = sorted(d for d in os.listdir(args.data + "/train") if os.path.isdir(f"{args.data}/train/{d}"))
    train_ds = training_photos_kept(args.data, class_names)
'''


def _training_data(exclude) -> tuple[str, str]:
    """(the lines of main() that make train_ds and class_names, helper code above main()).

    With photos left out, image_dataset_from_directory cannot skip them, so the script lists
    the training folder itself and reads the photos the way that function does (decoded with
    three channels, resized bilinearly to 160x160, shuffled, batches of 32)."""
    if not exclude:
        return PLAIN_TRAINING_DATA, ""
    listed = "\n".join(f"    {path!r}," for path in exclude)
    helper = f'''
# The training photos this run left out (suspected wrong labels); validation is unchanged.
EXCLUDED = {{
{listed}
}}
PHOTO_TYPES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def training_photos_kept(folder, class_names):
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for file in sorted(os.listdir(f"{{folder}}/train/{{name}}")):
            if file.lower().endswith(PHOTO_TYPES) and f"train/{{name}}/{{file}}" not in EXCLUDED:
                paths.append(f"{{folder}}/train/{{name}}/{{file}}")
                labels.append(label)
    print(f"training on {{len(paths)}} photos, {{len(EXCLUDED)}} left out", flush=True)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.image.resize(image, IMG_SIZE), label

    return (tf.data.Dataset.from_tensor_slices((paths, labels)).shuffle(len(paths), seed=123)
            .map(load).batch(BATCH_SIZE))

'''
    return WITHOUT_EXCLUDED, helper


def for_run(run) -> str:
    """The standalone script of a saved run."""
    if run.spec:  # the job it was trained from (checked when the run was read)
        return script(JobSpec.from_dict(run.spec), source=run.run_id)
    settings = AugmentSettings.from_dict(run.settings) if run.settings else AugmentSettings()  # an older run
    fine = run.epochs - run.fine_tune_from_epoch if run.fine_tune_from_epoch is not None else 0
    rate = run.extra.get("learning_rate")
    spec = JobSpec(run.recipe, run.fine_tune_from_epoch or run.epochs, settings, fine_tune_epochs=fine,
                   learning_rate=rate if isinstance(rate, (int, float)) else None)
    return script(spec, source=run.run_id)


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

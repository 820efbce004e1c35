"""The standalone script that retrains a job's or a saved run's recipe on any data folder: its
text, the model's lines in main(), fine-tuning, and the training photos with any left out."""

from __future__ import annotations

from ..augment import AugmentSettings
from .blocks import model, recipe_settings
from ..jobspec import JobSpec
from ..models import Recipe, get_recipe

# Filled by script(); doubled braces are the script's own f-strings.
SCRIPT = '''"""Retrain {title} ({recipe}){as_in_run}: a standalone script.

    python this_script.py --data FOLDER_WITH_train_AND_validation [--epochs {epochs}] [--weights imagenet]

Written by catdog; needs only tensorflow (keras) and numpy.
"""

import argparse
{import_os}
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


def _model_lines(spec: JobSpec, r: Recipe) -> str:
    """The recipe's model as main() builds it: as many outputs as classes, --weights, the job's rate."""
    body = model(spec.recipe, recipe_settings(spec), num_classes=0, preview=False).replace(
        "layers.Dense(0)", "layers.Dense(len(class_names))")
    body = body.replace("weights='imagenet'", "weights=args.weights")
    if spec.learning_rate:
        body = body.replace(f"Adam({r.learning_rate:g})", f"Adam({spec.learning_rate:g})")
    return "\n".join("    " + line if line else "" for line in body.splitlines())


def _fine_tuning_lines(spec: JobSpec, r: Recipe) -> str:
    """main()'s fine-tuning after the first fit, when the job fine-tunes a frozen base; else nothing."""
    if not (spec.fine_tune_epochs and r.frozen_base):
        return ""
    return f'''
    if args.fine_tune_epochs:
        base_model.trainable = True
        for i, layer in enumerate(base_model.layers):
            if i < {spec.fine_tune_at} or isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
        model.compile(optimizer=keras.optimizers.Adam({(spec.learning_rate or r.learning_rate) / 10:g}),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(train_ds, epochs=args.epochs + args.fine_tune_epochs, initial_epoch=args.epochs,
                  validation_data=val_ds, callbacks=[PrintValidation()], verbose=0)
'''


def script(spec: JobSpec, source: str = "") -> str:
    """A standalone program that retrains the job's recipe and settings on --data for --epochs,
    printing the validation accuracy after each epoch. Imports tensorflow, keras and numpy only."""
    r = get_recipe(spec.recipe)
    train_data, helpers = _training_data(spec.exclude)
    return SCRIPT.format(title=r.title, recipe=spec.recipe, as_in_run=f" as in run {source}" if source else "",
                         epochs=spec.epochs, fine_tune_epochs=spec.fine_tune_epochs,
                         import_os="import os\n" if spec.exclude else "", helpers=helpers, train_data=train_data,
                         body=_model_lines(spec, r), fine=_fine_tuning_lines(spec, r))


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

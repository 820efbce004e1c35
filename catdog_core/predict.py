"""Classify images with a trained model: probabilities for every class."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .images import load_for_model, resize_for_model


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "probabilities": self.probabilities}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_compiled_lock = threading.Lock()


def _inference_fn(model):
    """The model as one compiled graph: ~10x faster than an eager call for one image."""
    import tensorflow as tf

    with _compiled_lock:
        fn = _compiled.get(model)
        if fn is None:
            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
            _compiled[model] = fn
        return fn


def warm_up(model) -> None:
    """Trace the model's compiled graph with one blank image. Tracing MobileNetV2 is seconds of
    Python; done when the model loads, it does not land on the first photo (a busy server took
    over a minute to answer that one)."""
    logits(model, np.zeros((1, *(d or 160 for d in model.input_shape[1:])), "float32"))


def logits(model, images: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) raw pixels -> (N, classes) float64 logits, through the compiled graph."""
    return np.asarray(_inference_fn(model)(np.asarray(images, dtype="float32")), dtype="float64")


def classify_batch(model, images: np.ndarray, class_names) -> list[Prediction]:
    """(N, 160, 160, 3) uint8 -> one Prediction each."""
    probs = _softmax(logits(model, images))
    out = []
    for row in probs:
        best = int(np.argmax(row))
        out.append(Prediction(str(class_names[best]), float(row[best]),
                              {str(n): float(p) for n, p in zip(class_names, row)}))
    return out


def classify(model, image: np.ndarray, class_names) -> Prediction:
    """One RGB uint8 image of any size (resized here) -> Prediction."""
    if image.shape[:2] != (160, 160):
        image = resize_for_model(image)
    return classify_batch(model, image[None], class_names)[0]


def classify_bytes(model, data: bytes, class_names) -> tuple[np.ndarray, Prediction]:
    """Untrusted upload bytes -> (image to show, Prediction); raises InvalidImage."""
    shown, model_input = load_for_model(data)
    return shown, classify(model, model_input, class_names)


# ---------------------------------------------------------------- a labelled batch check

MAX_CHECK_FILES = 500


def _stem_words(name: str) -> list[str]:
    import re

    return [w for w in re.split(r"[^0-9a-zA-Z\u00c0-\uffff]+", name.lower()) if w]


def _forms(class_name: str) -> set[str]:
    """A class name and its singular/plural, lower case: 'cats' matches cat.3.jpg and cats/."""
    base = class_name.lower()
    return {base, base[:-1] if base.endswith("s") else base + "s"}


def label_from_name(name: str, class_names) -> str | None:
    """The class a file's name or folder says it shows: a folder named after a class
    (cats/x.jpg, dog/x.jpg) or a file name starting with one (cat.12.jpg, Dogs_01.png)."""
    parts = str(name).replace("\\", "/").split("/")
    for folder in reversed(parts[:-1]):
        for cls in class_names:
            if folder.lower() in _forms(cls):
                return cls
    words = _stem_words(parts[-1].rsplit(".", 1)[0])
    for cls in class_names:
        if words and words[0] in _forms(cls):
            return cls
    return None


@dataclass
class Checked:
    name: str
    true_label: str
    prediction: Prediction
    picture: np.ndarray  # the display copy
    model_input: np.ndarray


@dataclass
class LabelledCheck:
    """Photos whose class is known, classified: how many right, the confusion, the misses."""

    class_names: tuple[str, ...]
    checked: list[Checked]
    unlabelled: list[str]  # names no class could be read from
    refused: list[tuple[str, str]]  # (name, why) for files that are not usable images

    @property
    def right(self) -> int:
        return sum(c.prediction.label == c.true_label for c in self.checked)

    @property
    def total(self) -> int:
        return len(self.checked)

    @property
    def misses(self) -> list[Checked]:
        wrong = [c for c in self.checked if c.prediction.label != c.true_label]
        return sorted(wrong, key=lambda c: c.prediction.probabilities.get(c.true_label, 0.0))

    @property
    def confusion(self) -> np.ndarray:
        from .evaluate import confusion_matrix

        index = {n: i for i, n in enumerate(self.class_names)}
        return confusion_matrix([index[c.true_label] for c in self.checked],
                                [index[c.prediction.label] for c in self.checked], len(index))


def check_labelled(model, class_names, items) -> LabelledCheck:
    """(name, bytes) pairs -> LabelledCheck; the class of each is read from its name."""
    from .errors import InvalidImage
    from .images import safe_display_name

    class_names = tuple(str(n) for n in class_names)
    checked, unlabelled, refused = [], [], []
    for name, data in list(items)[:MAX_CHECK_FILES]:
        true = label_from_name(name, class_names)
        if true is None:
            unlabelled.append(safe_display_name(name))
            continue
        try:
            shown, model_input = load_for_model(data)
        except InvalidImage as exc:
            refused.append((safe_display_name(name), str(exc)))
            continue
        checked.append(Checked(safe_display_name(name), true, classify(model, model_input, class_names), shown,
                               model_input))
    return LabelledCheck(class_names, checked, unlabelled, refused)


def images_in_zip(data: bytes, limit: int = MAX_CHECK_FILES) -> list[tuple[str, bytes]]:
    """The image files of an uploaded zip, with their paths, after the same member checks as a
    dataset zip (names, sizes, encryption); raises InvalidDataset with a sentence."""
    import io
    import zipfile

    from . import sources
    from .errors import InvalidDataset

    limits = sources.ZipLimits(members=limit * 2, total_bytes=200 * 1024**2, member_bytes=10 * 1024**2)
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            members = sources.check_members(archive, "the zip", limits)
            out = []
            for member in members:
                parts = sources.check_member_name(member.filename, "the zip")
                if member.is_dir() or not parts or any(p.startswith((".", "__MACOSX")) for p in parts):
                    continue
                out.append(("/".join(parts), archive.read(member)))
                if len(out) >= limit:
                    break
            return out
    except InvalidDataset:
        raise
    except Exception as exc:
        raise sources.zip_problem(exc, "the zip") from None


def labelled_items(files: list[tuple[str, bytes]], limit: int = MAX_CHECK_FILES) -> list[tuple[str, bytes]]:
    """Uploaded files for a labelled check as (name, bytes) photos: a zip's images with their
    folders (see images_in_zip), other files as they are; at most `limit`."""
    items: list[tuple[str, bytes]] = []
    for name, data in files:
        if bytes(data[:4]) == b"PK\x03\x04":
            items += images_in_zip(data, limit)
        else:
            items.append((str(name), bytes(data)))
        if len(items) >= limit:
            return items[:limit]
    return items


def tally(labels, class_names) -> str:
    """A batch in words: '9 dogs, 1 cat' (most first; a class name ending in s loses it for one)."""
    from collections import Counter

    counts = Counter(labels)
    parts = []
    for name in sorted(counts, key=lambda n: (-counts[n], list(class_names).index(n) if n in class_names else 0)):
        shown = name[:-1] if counts[name] == 1 and name.endswith("s") and len(name) > 1 else name
        parts.append(f"{counts[name]} {shown}")
    return ", ".join(parts)

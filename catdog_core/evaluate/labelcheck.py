"""A labelled batch check: uploaded photos (a zip's too) whose class their folder or file name
says, each classified; how many were right, the confusion, and the misses, worst first."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from .. import predict
from ..errors import InvalidDataset, InvalidImage
from ..images import load_for_model, safe_display_name
from ..metrics import confusion_matrix

MAX_CHECK_FILES = 500


def _stem_words(name: str) -> list[str]:
    """A file name's words, lower case, split at anything not a letter or digit."""
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
    """One labelled photo, classified."""
    name: str
    true_label: str
    prediction: predict.Prediction
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
        index = {n: i for i, n in enumerate(self.class_names)}
        return confusion_matrix([index[c.true_label] for c in self.checked],
                                [index[c.prediction.label] for c in self.checked], len(index))


def shown_path(name: str) -> str:
    """A labelled file's name with its folder (cats/6.jpg): both classes of a zip can have a 6.jpg.
    Each part is made harmless to print as safe_display_name does."""
    parts = [p for p in str(name or "").replace("\\", "/").split("/") if p]
    if len(parts) < 2:
        return safe_display_name(name)
    return f"{safe_display_name(parts[-2], 40)}/{safe_display_name(parts[-1])}"


def check_labelled(model, class_names, items) -> LabelledCheck:
    """(name, bytes) pairs -> LabelledCheck; the class of each is read from its name."""
    class_names = tuple(str(n) for n in class_names)
    checked, unlabelled, refused = [], [], []
    for name, data in list(items)[:MAX_CHECK_FILES]:
        true = label_from_name(name, class_names)
        if true is None:
            unlabelled.append(shown_path(name))
            continue
        try:
            shown, model_input = load_for_model(data)
        except InvalidImage as exc:
            refused.append((shown_path(name), str(exc)))
            continue
        checked.append(Checked(shown_path(name), true, predict.classify(model, model_input, class_names), shown,
                               model_input))
    return LabelledCheck(class_names, checked, unlabelled, refused)


def images_in_zip(data: bytes, limit: int = MAX_CHECK_FILES) -> list[tuple[str, bytes]]:
    """The image files of an uploaded zip, with their paths, after the same member checks as a
    dataset zip (names, sizes, encryption); raises InvalidDataset with a sentence."""
    from .. import sources

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

"""Plant a shortcut (a "Clever Hans" lesson): a model can score well for the wrong reason.

A small coloured square is stamped in one corner of a share of ONE class's training photos. The
quick model (the frozen MobileNetV2's features, its head trained as the quick preset's, in numpy:
suspects.fit_softmax) learns from those photos, and is measured three ways on the validation split:

- clean: the photos as they are (what the usual number says);
- the other classes' photos, stamped: a dog with the cats' square is now a "cat"?
- the stamped class's photos without a stamp: a cat without its square is still a cat?

When the head latched onto the square, the second accuracy falls far below the first: the score
on clean photos hid it. Each stamped photo's features are computed once and kept by content (the
dataset, the stamp, the photos chosen), as the augmentation check keeps its variants.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

from .. import config
from ..progress import Progress
from ..errors import InvalidSettings

COLOURS = {"red": (230, 25, 35), "green": (20, 200, 40), "blue": (25, 60, 235), "yellow": (250, 220, 0),
           "magenta": (220, 0, 200)}
CORNERS = ("top left", "top right", "bottom left", "bottom right")
MIN_SIZE, MAX_SIZE = 4, 64  # pixels a side of the 160 x 160 photo


@dataclass(frozen=True)
class Stamp:
    target: str  # the class whose training photos get the square
    share: float = 1.0  # of that class's training photos, 0 to 1
    size: int = 16
    corner: str = "bottom right"
    colour: str = "red"
    seed: int = config.SEED

    def check(self, class_names=None) -> "Stamp":
        """This stamp, or InvalidSettings with a sentence; its class only when class_names are given."""
        if not isinstance(self.target, str) or not 0 < len(self.target) <= 200:
            raise InvalidSettings("The stamped class must be named (up to 200 characters).")
        if class_names is not None and self.target not in class_names:
            raise InvalidSettings(f"The stamped class must be one of {', '.join(class_names)}, not {self.target!r}.")
        if not isinstance(self.share, (int, float)) or isinstance(self.share, bool) or not 0 <= self.share <= 1:
            raise InvalidSettings(f"The share of stamped photos must be between 0 and 100 %, not {self.share}.")
        if not (isinstance(self.size, int) and MIN_SIZE <= self.size <= MAX_SIZE):
            raise InvalidSettings(f"The stamp must be {MIN_SIZE} to {MAX_SIZE} pixels a side, not {self.size}.")
        if self.corner not in CORNERS:
            raise InvalidSettings(f"The stamp's corner must be one of {', '.join(CORNERS)}.")
        if self.colour not in COLOURS:
            raise InvalidSettings(f"The stamp's colour must be one of {', '.join(COLOURS)}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise InvalidSettings("The stamp's seed must be a whole number from 0.")
        return self

    def describe(self) -> str:
        return (f"a {self.size}-pixel {self.colour} square, {self.corner}, on {self.share:.0%} of the "
                f"{self.target} training photos")


def stamped(images: np.ndarray, stamp: Stamp) -> np.ndarray:
    """A copy of (N, H, W, 3) uint8 photos with the stamp's square in its corner (4 pixels in)."""
    out = np.array(images, dtype=np.uint8, copy=True)
    h, w = out.shape[1:3]
    s, margin = stamp.size, 4
    top = margin if stamp.corner.startswith("top") else h - margin - s
    left = margin if stamp.corner.endswith("left") else w - margin - s
    out[:, top:top + s, left:left + s] = COLOURS[stamp.colour]
    return out


@dataclass(frozen=True)
class ShortcutResult:
    stamp: dict
    class_names: tuple[str, ...]
    stamped_photos: int  # training photos that carried the stamp
    clean: float  # validation accuracy, the photos as they are
    others_stamped: float  # the other classes' validation photos, stamped
    target_clean: float  # the stamped class's validation photos, as they are
    without: dict  # the same three of a head trained on no stamp at all, the control
    counts: dict  # validation photos behind each accuracy
    example: dict  # one stamped validation photo of another class: its answer with and without the stamp
    seconds: float

    @property
    def fall(self) -> float:
        """Points lost from clean photos to stamped photos of the other classes."""
        return self.clean - self.others_stamped

    def sentence(self) -> str:
        st = Stamp(**self.stamp)
        control = self.without["others_stamped"]
        if self.fall >= 0.10:
            return (f"The model learned the square: right on {self.clean:.1%} of the clean validation photos, but on "
                    f"only {self.others_stamped:.1%} of the other classes' photos with the {st.colour} square, "
                    f"{self.fall * 100:.0f} points less (the same head trained without any square: {control:.1%}). "
                    "Its usual score cannot show this; photos where the clue and the class disagree can.")
        return (f"This time the square did not take over: {self.clean:.1%} on clean photos, "
                f"{self.others_stamped:.1%} on the other classes stamped (without any square in training: "
                f"{control:.1%}). Try a larger square or a larger share.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ShortcutResult":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        return cls(**{**values, "class_names": tuple(values["class_names"])})


def _accuracy(w, b, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((x @ w + b).argmax(1) == y)) if len(y) else float("nan")


def run_shortcut(data, stamp: Stamp, weights: str | None = None,
                 progress: Progress | None = None) -> ShortcutResult:
    """Train the quick head on training photos with the stamp planted, and one without (the control);
    measure both three ways on the validation split."""
    from .. import novelty
    from . import suspects

    stamp = stamp.check(tuple(data.class_names))
    started = time.perf_counter()
    target = list(data.class_names).index(stamp.target)
    y, vy = np.asarray(data.train.labels, int), np.asarray(data.validation.labels, int)
    f = _stamped_features(data, stamp, target, novelty.base_extractor(weights), progress)
    classes = len(data.class_names)
    w, b = suspects.fit_softmax(f.planted, y, classes, seed=stamp.seed)
    w0, b0 = suspects.fit_softmax(f.train_x, y, classes, seed=stamp.seed)
    mine = vy == target
    planted = _three(w, b, f, vy, mine)
    counts = {"clean": int(len(vy)), "others_stamped": int(len(f.others)), "target_clean": int(mine.sum())}
    return ShortcutResult(asdict(stamp), tuple(data.class_names), int(len(f.chosen)), planted["clean"],
                          planted["others_stamped"], planted["target_clean"], _three(w0, b0, f, vy, mine), counts,
                          _example(data, f, w, b, vy), time.perf_counter() - started)


@dataclass(frozen=True)
class _Planted:
    """The features a stamp's lesson learns and is measured on, with the photos that carry the square."""
    chosen: np.ndarray  # rows of the stamped class's training photos that carry it
    others: np.ndarray  # rows of the other classes' validation photos
    train_x: np.ndarray  # the training photos as they are
    planted: np.ndarray  # the same, the chosen ones stamped
    val_x: np.ndarray  # the validation photos as they are
    others_x: np.ndarray  # the other classes' validation photos, stamped


def _stamped_features(data, stamp: Stamp, target: int, extract, progress: Progress | None) -> _Planted:
    """The base's features of the photos as they are and stamped; the stamped ones kept in the
    features cache, by the stamp and the photos it went on."""
    from .. import features

    train_x = features.cached_features(extract, data.key, "train", data.train.images, progress)
    val_x = features.cached_features(extract, data.key, "validation", data.validation.images, progress)
    chosen = _chosen(np.asarray(data.train.labels, int), target, stamp)
    others = np.flatnonzero(np.asarray(data.validation.labels, int) != target)
    ident = f"{data.key}|{extract.key}|{sorted(asdict(stamp).items())}|{chosen.tobytes().hex()}"
    name = hashlib.sha1(ident.encode()).hexdigest()[:20]
    planted = train_x.copy()
    if len(chosen):
        planted[chosen] = features.cached_features(extract, data.key, f"stamped-{name}-train",
                                                   stamped(data.train.images[chosen], stamp), progress,
                                                   "Computing MobileNetV2 features (stamped train)")
    others_x = features.cached_features(extract, data.key, f"stamped-{name}-others",
                                        stamped(data.validation.images[others], stamp), progress,
                                        "Computing MobileNetV2 features (stamped validation)")
    return _Planted(chosen, others, train_x, planted, val_x, others_x)


def _chosen(y: np.ndarray, target: int, stamp: Stamp) -> np.ndarray:
    """The training photos of the stamped class that get the square: the stamp's share, drawn by its seed."""
    rng = np.random.default_rng(stamp.seed)
    own = np.flatnonzero(y == target)
    return np.sort(rng.choice(own, size=int(round(stamp.share * len(own))), replace=False))


def _three(w, b, f: _Planted, vy: np.ndarray, mine: np.ndarray) -> dict:
    """A head's three validation accuracies: clean, the other classes stamped, the stamped class clean."""
    return {"clean": _accuracy(w, b, f.val_x, vy), "others_stamped": _accuracy(w, b, f.others_x, vy[f.others]),
            "target_clean": _accuracy(w, b, f.val_x[mine], vy[mine])}


def _example(data, f: _Planted, w, b, vy: np.ndarray) -> dict:
    """The first other-class validation photo: the head's answer with the stamp and as it is."""
    if not len(f.others):
        return {}
    i = int(f.others[0])
    with_stamp, as_is = (f.others_x[:1] @ w + b)[0], (f.val_x[i:i + 1] @ w + b)[0]
    return {"index": i, "file": data.validation.files[i], "true": data.class_names[vy[i]],
            "with_stamp": data.class_names[int(with_stamp.argmax())],
            "with_stamp_probability": float(_softmax(with_stamp).max()),
            "as_is": data.class_names[int(as_is.argmax())],
            "as_is_probability": float(_softmax(as_is).max())}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()

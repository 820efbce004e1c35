"""What the model service answers with: plain data the web server can draw without TensorFlow
(numpy arrays, strings and the frozen dataclasses here), pickled across the service's socket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dataset, predict
from ..novelty import Verdict


@dataclass(frozen=True)
class PreparedData:
    """Where a dataset's decoded images are on disk: enough for any process to open them."""

    source: dataset.DataSource
    key: str
    auto_split: bool
    signature: str  # of the files when they were read (dataset.files_signature)


@dataclass(frozen=True)
class ModelInfo:
    run_id: str
    class_names: tuple[str, ...]
    explains: bool  # Grad-CAM is available (the model has the MobileNetV2 base)


@dataclass(frozen=True)
class Answer:
    """One photo classified: what it looks like, what the model said, and where it looked."""

    picture: np.ndarray  # the display copy, uint8
    prediction: predict.Prediction
    looked: np.ndarray | None  # the Grad-CAM overlay, or None
    seen: dataset.SeenPhoto | None = None  # the photo of the run's dataset this one is, if any
    novelty: Verdict | None = None  # how unlike the run's training photos it is (None: not known)


@dataclass(frozen=True)
class Explanation:
    """Where the model looked in one photo, one way (a key of explain.VIEWS), for the class it predicted."""

    view: str
    looked: np.ndarray  # the heatmap painted over the display copy, uint8
    class_name: str  # the class explained
    probability: float  # the model's probability of that class for the whole photo
    lowest: float | None = None  # occlusion: that probability with the most telling patch covered
    largest_drop: float | None = None  # occlusion: the largest fall in the class's log-odds
    grid: int | None = None  # occlusion: patch positions per side
    passes: int | None = None  # occlusion: forward passes it took
    engine: str = ""  # occlusion: "TFLite" (the converted frozen base) or "TensorFlow"


@dataclass(frozen=True)
class Miss:
    name: str
    true_label: str
    prediction: predict.Prediction
    picture: np.ndarray
    looked: np.ndarray | None


@dataclass(frozen=True)
class CheckAnswer:
    """A labelled batch checked: the same numbers as evaluate.LabelledCheck, pictures only for misses."""

    class_names: tuple[str, ...]
    right: int
    total: int
    confusion: np.ndarray
    misses: list[Miss]  # the most confident first, at most tasks.MAX_MISS_MAPS with pictures
    miss_count: int
    unlabelled: list[str]
    refused: list[tuple[str, str]]
    seen: tuple[str, ...] = ()  # the checked photos the model trained on (their names here)
    right_unseen: int = 0  # the right answers among the others
    unlike: tuple[str, ...] = ()  # the checked photos unlike the run's training photos (novelty.py)


@dataclass(frozen=True)
class LayerView:
    layer: str
    filters: int
    size: tuple[int, int]
    grid: np.ndarray  # explain.channel_grid of the maps
    silent: int = 0  # filters with no response anywhere in the photo (explain.silent_filters)

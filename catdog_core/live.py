"""Live classification of a video stream (the webcam): each frame is handed to a
predict function (the web app's: the model service, which resizes it through the
one pixel path and runs the model) and comes back with the label and its
probability drawn over it. Frames arriving while a prediction is under way are
passed through with the last answer, so the video never stutters behind a slow CPU.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from typing import Callable

from .errors import CatdogError
from .predict import Prediction


class LiveClassifier:
    """rgb frame (H, W, 3) uint8 in, (the frame with the answer drawn on it, Prediction) out.

    `predict` takes a whole frame and returns its Prediction, raising CatdogError when it
    cannot answer (then the last answer stays up).
    """

    def __init__(self, predict: Callable[[np.ndarray], Prediction]):
        self.predict = predict
        self.last: Prediction | None = None
        self._busy = threading.Lock()
        self._times: deque[float] = deque(maxlen=30)

    @property
    def rate(self) -> float:
        """Predictions a second over the last few."""
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-6)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, Prediction | None]:
        frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
        if self._busy.acquire(blocking=False):
            try:
                self.last = self.predict(frame)
                self._times.append(time.monotonic())
            except CatdogError:
                pass  # the service is busy or restarting: keep showing the last answer
            finally:
                self._busy.release()
        return (annotate(frame, self.last) if self.last is not None else frame), self.last


def annotate(frame: np.ndarray, prediction: Prediction) -> np.ndarray:
    """The label and its probability in a band across the top of the frame; for a frame unlike the
    training photos (novelty.py), "none of the above?" with the forced answer after it."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    size = max(16, frame.shape[0] // 14)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # an older Pillow without sizes
        font = ImageFont.load_default()
    draw.rectangle((0, 0, frame.shape[1], int(size * 1.6)), fill=(0, 0, 0))
    said = f"{prediction.label} {prediction.confidence:.0%}"
    if prediction.unlike:
        said = f"none of the above? (forced: {said})"
    draw.text((size // 2, size // 4), said, fill=(255, 255, 255), font=font)
    return np.asarray(image)

"""The command line's progress: one line on stderr, redrawn at most 10 times a second."""

from __future__ import annotations

import sys
import time


class Bar:
    """A one-line progress bar on stderr, redrawn at most 10 times a second.

    Not keras.utils.Progbar: importing Keras starts TensorFlow, and the commands that follow the
    queue (train, jobs, reproduce) stay out of it; the worker process trains.
    """

    open_line = False  # a bar is drawn and its line not yet ended

    def __init__(self, stream=None):
        # sys.stderr is looked up now, not when this module loaded: quiet mode replaces it.
        self.stream, self.last, self.shown = stream or sys.stderr, 0.0, False

    def __call__(self, done: int, total: int, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1 and done != total:
            return
        self.last = now
        if total:
            filled = int(30 * done / total)
            text = f"\r{message[:40]:<40} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
        else:
            text = f"\r{message[:40]:<40}"
        self.stream.write(text.ljust(90))
        self.stream.flush()
        self.shown = Bar.open_line = True

    @classmethod
    def end_open_line(cls) -> None:
        """Finish a half-drawn bar so an error message starts on its own line."""
        if cls.open_line:
            sys.stderr.write("\n")
            cls.open_line = False

    def line(self, text: str) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 90 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = Bar.open_line = False


def pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"

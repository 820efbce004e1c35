"""The command line: look at the data, train, evaluate and predict without a browser.

    python -m catdog_core info
    python -m catdog_core train --recipe transfer --epochs 2 [--quick] [--json]
    python -m catdog_core runs
    python -m catdog_core evaluate latest
    python -m catdog_core predict latest photo.jpg ... [--explain OUTDIR]
    python -m catdog_core export latest --format tflite --out exported/
    python -m catdog_core script latest --out retrain.py
    python -m catdog_core map latest --out map.html

Errors a user can cause end with exit code 2 and one line on stderr.

Laid out by job: progress (the bar), follow (queued jobs), commands (one function
each), parser (the arguments); main() here.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal

from ..errors import CatdogError  # noqa: E402
from .commands import COMMANDS  # noqa: E402
from .parser import parser  # noqa: E402
from .progress import Bar  # noqa: E402


def _quiet() -> None:
    """Keep TensorFlow's, absl's and TFLite's start-up lines off the terminal.

    They are written by C++ straight to file descriptor 2, so that descriptor goes to
    /dev/null and Python's own stderr (progress bars, errors, tracebacks) to a copy of
    the terminal. `--verbose` leaves everything as it is.
    """
    import logging
    import warnings

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="tensorflow|keras|absl")
    try:
        terminal = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
    except OSError:  # no file descriptors to juggle (an embedded interpreter): stay as is
        pass


class _Printable:
    """A text stream that shows control and text-direction characters as escapes (\\x1b,
    \\u202e): names from folders and files (a class folder called ESC[2J, a right-to-left
    override) reach the terminal as what they are, never as commands to it. Line ends and the
    progress bar's carriage return pass."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def printable(text: str) -> str:
    import unicodedata

    return "".join(ch if ch in "\n\r\t" or unicodedata.category(ch) not in ("Cc", "Cf")
                   else ch.encode("unicode_escape").decode("ascii") for ch in text)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.verbose and args.command != "worker" and argv is None:
        _quiet()
    if argv is None:
        sys.stdout, sys.stderr = _Printable(sys.stdout), _Printable(sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except CatdogError as exc:
        Bar.end_open_line()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

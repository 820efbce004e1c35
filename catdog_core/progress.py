"""Progress: the one shape every long step of the library reports in.

    progress(done, total, message)    a callback (Progress); total is 0 while the step has no count

A training observer (training.Observer) hears the same three things as
`on_phase(message, done, total)`, and each batch and epoch besides; `phases(on_phase)` lets a
step that takes a Progress report to one.
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int, str], None]


def phases(on_phase: Callable[..., None]) -> Progress:
    """A Progress that tells on_phase(message, done, total): an observer's, a job's."""
    return lambda done, total, message: on_phase(message, done, total)


def say(progress: Progress | None, message: str) -> Progress | None:
    """`progress` with its message fixed (the step's own words are replaced); None stays None."""
    fixed = message
    return None if progress is None else (lambda done, total, message="": progress(done, total, fixed))

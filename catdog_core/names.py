"""Names people type and classmates read (a name on the board, a run's name): one rule for the
characters they may hold and the words they may not be, so a name can never pass for another
person, for the teacher or for this session's "(you)"."""

from __future__ import annotations

import unicodedata

from .errors import CatdogError

# What the board and the pickers write themselves beside a name or in place of one.
RESERVED = ("teacher", "command line", "you")
MARKS = ("(you)", "(yours)", "(teacher)")


class InvalidName(CatdogError):
    """A name that cannot be shown to the class (empty, too long, invisible or reserved characters)."""


def clean(name: str, limit: int, what: str = "A name") -> str:
    """`name` as classmates will read it: NFC, single spaces, at most `limit` characters; refused
    with one sentence when empty, when it holds control, format or text-direction characters (which
    can make a name display as another), or when it is or contains what the app writes itself."""
    if not isinstance(name, str):
        raise InvalidName(f"{what} is text.")
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if not name:
        raise InvalidName("Type a name first (letters, digits, spaces).")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") for ch in name):
        raise InvalidName(f"{what} cannot hold invisible control or text-direction characters; use letters, "
                          "digits, spaces and punctuation.")
    if len(name) > limit:
        raise InvalidName(f"{what} has at most {limit} characters.")
    folded = name.casefold()
    if folded.strip(" .!?()[]") in RESERVED or any(mark in folded for mark in MARKS):
        raise InvalidName(f"{what} cannot be “{name}”: the app writes that itself, so it would pass for "
                          "someone else.")
    return name

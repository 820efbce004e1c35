"""How counts read in sentences: "1 epoch", "2 epochs", "1 batch", "3 batches"."""

from __future__ import annotations


def count(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun that agrees with it (plural: the singular plus "s" unless given)."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"

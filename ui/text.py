"""Names from users shown as text, never as Markdown or HTML."""

from __future__ import annotations

import re


# Markdown turns a bare address into a link even with its ':' and '.' escaped (GFM autolinks): an
# invisible word joiner after the scheme, after 'www' and after '@' keeps it text, shown as typed.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|www)(?=\\?[:.])|(@)")
WORD_JOINER = "\u2060"


def plain(text) -> str:
    """Text from users (class, file and run names) made safe inside st.markdown: every Markdown
    and HTML character is escaped, so a name like [x](http://...) or ![](...) shows as typed,
    and a bare address or e-mail stays text instead of becoming a link."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=%])", r"\\\1", str(text)).replace("\n", " ")
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, escaped)


class refusal:
    """`with ui.refusal() as said:` runs its block; a CatdogError inside it (what a user can meet: a
    refusal, a limit, a photo that is not one) is shown as its one sentence instead of a traceback,
    kept as `said.error`, and the page goes on after the block (`stop=True`: the page stops there).
    `prefix` goes before the sentence (a file's name); `show` draws it (default st.error: a column's
    own `.error`, or `st.caption` for a quiet note)."""

    def __init__(self, prefix: str = "", *, stop: bool = False, show=None):
        self.prefix, self.stop, self.show, self.error = prefix, stop, show, None

    def __enter__(self) -> "refusal":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        from catdog_core.errors import CatdogError

        if kind is None or not issubclass(kind, CatdogError):
            return False
        import streamlit as st

        self.error = exc
        (self.show or st.error)(plain(f"{self.prefix}{exc}"))
        if self.stop:
            st.stop()
        return True


def attempt(action, *args, **kwargs) -> bool:
    """Run `action(*args, **kwargs)`; whether it succeeded (its CatdogError shown, see refusal)."""
    with refusal() as said:
        action(*args, **kwargs)
    return said.error is None

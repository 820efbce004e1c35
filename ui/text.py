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


def attempt(action, *args, **kwargs) -> bool:
    """Run `action(*args, **kwargs)`; whether it succeeded. A CatdogError (what a user can meet:
    a refusal, a limit) is shown as its one sentence instead of a traceback."""
    import streamlit as st

    from catdog_core.errors import CatdogError

    try:
        action(*args, **kwargs)
    except CatdogError as exc:
        st.error(plain(str(exc)))
        return False
    return True

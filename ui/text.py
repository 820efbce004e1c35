"""Names from users shown as text, never as Markdown or HTML."""

from __future__ import annotations

import re


def plain(text) -> str:
    """Text from users (class, file and run names) made safe inside st.markdown: every Markdown
    and HTML character is escaped, so a name like [x](http://...) or ![](...) shows as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=%])", r"\\\1", str(text)).replace("\n", " ")

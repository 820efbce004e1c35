"""The page side of a class served by `catdog classroom`: who a browser is (its pass), and whether
its page can have a camera at all."""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

import streamlit as st

from catdog_core import classroom, config, door

from .state import OWNER_KEY, ROLE_KEY

PASS_KEY = "_pass"  # the pass cookie this session's owner and role were read from, checked once


def served() -> bool:
    """Whether this server is `catdog classroom`'s (the door in front, passes instead of the form)."""
    return config.settings().classroom


@functools.lru_cache(maxsize=4)
def _secret(home: str) -> bytes:
    return classroom.server_secret(classroom.class_folder(home))


def pass_gate() -> None:
    """The session's owner is its pass's id (kept by the browser: the same after a reload and a
    reconnect) and its role the pass's role. Verified when the cookie changes, not every run."""
    token = st.context.cookies.get(classroom.PASS_COOKIE)
    if token is not None and st.session_state.get(PASS_KEY) == token:
        return
    found = classroom.read_pass(_secret(str(config.catdog_home())), token)
    if found is None:
        st.markdown(f"Your pass for this class is missing or out of date: [sign in again]({door.LOGIN_PATH}).")
        st.stop()
    st.session_state[OWNER_KEY] = found.owner
    st.session_state[ROLE_KEY] = found.role
    st.session_state[PASS_KEY] = token


def _secure_origin(url: str | None) -> bool:
    """Whether browsers treat the page's address as secure: https, or this machine itself."""
    if not url:
        return True  # no browser (a test harness): nothing to say
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def camera_problem() -> str | None:
    """One sentence when this page can have no camera (plain http on another machine's address:
    browsers give such a page no camera at all), with the class's https address if it has one."""
    if _secure_origin(st.context.url):
        return None
    info = classroom.server_info()
    where = (f"open {info.urls[0]} instead" if info is not None and info.urls
             else "your teacher can serve the class over https with `catdog classroom`")
    return ("Browsers give a camera only to pages served over https or on this computer itself, so there is "
            f"none here: {where}.")

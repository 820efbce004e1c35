"""What a session remembers between pages: its keys in st.session_state, and the small
readers of them every page uses (who it is, its dataset, its augmentation, presenter mode)."""

from __future__ import annotations

import secrets

import streamlit as st

from catdog_core.augment import AugmentSettings
from catdog_core.classroom import STUDENT, TEACHER  # noqa: F401  (the roles, named once)
from catdog_core.owners import STUDENT_BUDGET, Actor, Budget

SETTINGS_KEY = "augment_settings"
GROUP_KEY = "job_group"
SOURCE_KEY = "data_source"  # an uploaded zip's path (set by the Dataset page only), or None: the default
OWNER_KEY = "owner"
AUTH_KEY = "class_password_ok"
ROLE_KEY = "_role"  # TEACHER or STUDENT, set by the gate (ui.frame) only, never from a widget
PRESENTER_KEY = "presenter"
NEW_RUNS_KEY = "_new_runs"  # runs this session's jobs saved, newest last


def owner() -> str:
    """This session's name in the queue and towards the model service."""
    return st.session_state.setdefault(OWNER_KEY, f"session {secrets.token_hex(16)}")


def is_teacher() -> bool:
    """Whether this session may act on everyone's work (stop any job, delete or rename any run, see
    every upload). One user on their own machine (no class password) is the teacher; in a class, only
    a session that gave the teacher password is."""
    return st.session_state.get(ROLE_KEY) == TEACHER


def actor() -> Actor:
    """This session as the owner checks see it (catdog_core.owners): who it is, whether the teacher."""
    return Actor(owner(), is_teacher())


def budget() -> Budget | None:
    """What this session may queue at once: a student's share; the teacher's is not bounded."""
    return None if is_teacher() else STUDENT_BUDGET


UNREADABLE_NOTE = "This page got a message it could not read, so it was not drawn; reload the page."


def state_readable() -> bool:
    """Whether Streamlit can read this session's state. A message that sets state no widget of the
    app has (only a forged one does) makes every later widget fail with a traceback in the server's
    log; the session is stopped at the gate instead, until a reload starts a fresh one."""
    try:
        list(st.session_state)
    except KeyError:
        return False
    return True


def presenter() -> bool:
    """Presenter mode (the sidebar toggle): bigger type, images and charts, kept for the session."""
    return bool(st.session_state.get(PRESENTER_KEY))


def data_source() -> str | None:
    """This session's dataset: an uploaded zip of its own classes, or None for the configured one."""
    return st.session_state.get(SOURCE_KEY)


def current_settings() -> AugmentSettings:
    """The settings chosen on the Augmentation page; the post's until then."""
    return st.session_state.get(SETTINGS_KEY) or AugmentSettings()

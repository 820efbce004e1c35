"""Plotly figures built once per content and shared by every session: building one (plotly validates
every property it is given) was the largest share of the web server's Python under a class, and a
page rerun or a classmate's visit asks for the same figure again."""

from __future__ import annotations

import streamlit as st

KEPT = 128  # figures: label counts, probabilities, confusion matrices, a job's curves (tens of KB each)


@st.cache_resource(max_entries=KEPT, show_spinner=False)
def _built(name: str, args: tuple, kwargs: dict, _build):
    """Keyed by the builder's name and its arguments' content (Streamlit hashes them); `_build` is
    the builder itself, not hashed."""
    return _build(*args, **kwargs)


def figure(build, *args, **kwargs):
    """`build(*args, **kwargs)`, a catdog_core.charts function, from the cache when the same figure was
    built before. The figure is shared: show it, never change it (a change belongs in `build`)."""
    return _built(f"{build.__module__}.{build.__qualname__}", args, kwargs, build)

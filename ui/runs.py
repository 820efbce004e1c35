"""Which saved runs a session sees first: its own dataset's, the best by default, and the
one it just trained once that is saved."""

from __future__ import annotations

import streamlit as st

from catdog_core import runs

from .data import cached_data
from .state import NEW_RUNS_KEY, data_source

VALIDATION_NOTE = ("Why can validation beat training accuracy? Training accuracy is measured while dropout "
                   "switches off a fifth of the features and augmentation changes every photo, and it averages "
                   "over the whole epoch while the model was still learning; validation is measured after the "
                   "epoch, on unchanged photos, with dropout off.")


def session_runs(listing) -> tuple[list, list]:
    """(runs on this session's dataset, the others). Another session's uploaded classes are
    never on this session's side, so they are never its default."""
    from catdog_core import uploads

    loaded = cached_data()
    if loaded is not None:
        mine = runs.on_dataset(listing, loaded.key, loaded.class_names)
    else:
        source = data_source()
        uploaded = str(uploads.uploads_dir())

        def same_data(run) -> bool:
            location = str(run.dataset.get("location", ""))
            return location == source if source else not location.startswith(uploaded)

        mine = [r for r in listing if same_data(r)]
    ids = {r.run_id for r in mine}
    return mine, [r for r in listing if r.run_id not in ids]


def default_run(listing, recipe: str | None = None):
    """The run a page opens on: the best on this session's dataset (see runs.best)."""
    mine, _ = session_runs(listing)
    return runs.best(mine, recipe=recipe) or (runs.best(mine) if recipe else None)


def fine_tune_marker(name: str, history, from_epoch: int | None = None) -> dict[str, int]:
    """{name: epoch} where fine-tuning starts, for charts.learning_curves(markers=...)."""
    if from_epoch is None:
        from_epoch = next((h["epoch"] - 1 for h in history if h.get("stage") == "fine-tune"), None)
    return {name: from_epoch} if from_epoch is not None else {}


def run_picker(label: str, key: str, listing, recipe: str | None = None, placeholder: str | None = None):
    """The one run picker of every page. Runs on this session's dataset come first and the best
    of them is the default; a run this session just trained is selected once it is saved; a
    choice that no longer exists (deleted, or another dataset's after "Back to cats and dogs")
    falls back to the default. Returns the chosen Run, or None (only with a placeholder)."""
    mine, others = session_runs(listing)
    ordered = mine + others
    if not ordered:
        return None
    by_id = {r.run_id: r for r in ordered}
    on_data = {r.run_id for r in mine}
    fresh = [rid for rid in st.session_state.get(NEW_RUNS_KEY, []) if rid in by_id]
    seen = st.session_state.setdefault(f"_{key}_followed", [])
    if fresh and fresh[-1] not in seen:
        seen.append(fresh[-1])
        st.session_state[key] = fresh[-1]  # what the user just trained
    if st.session_state.get(key) not in by_id or (st.session_state.get(key) not in on_data and mine
                                                  and st.session_state.get(f"_{key}_dataset") != _dataset_tag()):
        st.session_state.pop(key, None)
    st.session_state[f"_{key}_dataset"] = _dataset_tag()
    if key not in st.session_state:
        top = default_run(listing, recipe)
        st.session_state[key] = top.run_id if top is not None else (None if placeholder else ordered[0].run_id)
    chosen = st.selectbox(label, list(by_id), key=key, placeholder=placeholder,
                          format_func=lambda rid: by_id[rid].title() + ("" if rid in on_data else " · other data"))
    return by_id.get(chosen) if chosen else None


def _dataset_tag() -> str:
    loaded = cached_data()
    return loaded.key if loaded is not None else str(data_source())

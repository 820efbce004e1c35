"""Which saved runs a session sees first: its own dataset's, the best by default, and the
one it just trained once that is saved."""

from __future__ import annotations

import streamlit as st

from catdog_core import runs

from .data import cached_data
from .state import data_source

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


def run_picker(label: str, key: str, listing, recipe: str | None = None, placeholder: str | None = None,
               explain: bool = True):
    """The one run picker of every page. It opens on the best run for the data in use (validation
    accuracy, the newest on a tie; of `recipe` when there is one), and follows the best while the
    user has not picked: a better run trained later becomes the default, a worse one does not. A run
    the user picked stays picked until it is deleted or the dataset changes. A caption under the
    picker says which run is shown and why. Returns the chosen Run, or None (only with a placeholder)."""
    mine, others = session_runs(listing)
    ordered = mine + others
    if not ordered:
        return None
    by_id = {r.run_id: r for r in ordered}
    on_data = {r.run_id for r in mine}
    picked_key, data_key = f"_{key}_picked", f"_{key}_dataset"
    tag = dataset_tag()
    picked = st.session_state.get(picked_key)
    if picked not in by_id or (st.session_state.get(data_key) != tag and picked not in on_data):
        picked = None  # deleted, or another dataset's after the data changed
    st.session_state[data_key] = tag
    st.session_state[picked_key] = picked
    top = default_run(listing, recipe)
    default = top.run_id if top is not None else (None if placeholder else ordered[0].run_id)
    st.session_state[key] = picked or default
    chosen = st.selectbox(label, list(by_id), key=key, placeholder=placeholder,
                          on_change=_remember_pick, args=(key,),
                          format_func=lambda rid: by_id[rid].title() + ("" if rid in on_data else " · other data"))
    run = by_id.get(chosen) if chosen else None
    if run is not None and explain:
        st.caption(_why_shown(run, picked == chosen, top, recipe, mine))
    return run


def _remember_pick(key: str) -> None:
    st.session_state[f"_{key}_picked"] = st.session_state.get(key)


def _why_shown(run, by_user: bool, top, recipe: str | None, mine: list) -> str:
    """One sentence under a picker: which run is shown and why (plain text for st.caption)."""
    accuracy = f"{run.val_accuracy:.1%}" if run.val_accuracy is not None else "no validation figure yet"
    if by_user:
        return f"Showing the run you picked ({accuracy} validation accuracy)."
    if top is None or run.run_id != top.run_id:
        return "No run on the data in use yet: this one was trained on other data."
    same_recipe = bool(recipe) and run.recipe == recipe
    tie = any(r.run_id != run.run_id and r.val_accuracy == run.val_accuracy and (not same_recipe or r.recipe == recipe)
              for r in mine)
    return (f"Showing the best {recipe + ' run' if same_recipe else 'run'} on the data in use: {accuracy} "
            f"validation accuracy{' (the newest of equals)' if tie else ''}. Pick another above to compare.")


def dataset_tag() -> str:
    loaded = cached_data()
    return loaded.key if loaded is not None else str(data_source())

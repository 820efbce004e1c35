"""Label check: the training photos whose label a model that never saw them contradicts; leave the
wrong ones out (a list beside the dataset, no file deleted) and retrain the quick model."""

import inspect
from dataclasses import replace

import streamlit as st

from catdog_core import jobs, runs
from catdog_core.lessons import suspects
from catdog_core.errors import CatdogError
from catdog_core.words import count
import ui
from ui.shortcut import section as shortcut_section

ui.page_setup()

SHOWN = (8, 12, 24, 48)
CACHE_KEY = "_suspects"  # {dataset key: SuspectReport}: computed once per session and dataset

st.title("Label check: the dataset has mistakes too")
st.markdown(
    f"Every training photo gets an answer from a model that **never saw it**: the training split is cut into "
    f"{suspects.FOLDS} parts, a quick transfer head learns from four and answers for the fifth, five times over "
    "(*out-of-fold* predictions). A photo whose label that answer contradicts with high confidence is worth a "
    "look: a wrong label, both animals, neither, or just a hard photo. Tick the ones you agree are wrong; they "
    "are kept in a list beside the dataset (no file is deleted) and left out of training when you retrain.")

loaded = ui.load_data()
if loaded is None:
    st.stop()

labels_tab, shortcut_tab = st.tabs(["Wrong labels", "Plant a shortcut"])
with shortcut_tab:  # drawn first: the label check below stops the script until it is asked for
    shortcut_section(loaded)
with labels_tab:
    with st.expander("Show the code", icon=":material/code:"):
        st.code("\n\n".join(inspect.getsource(f) for f in (suspects.stratified_folds, suspects.fit_softmax,
                                                             suspects.out_of_fold, suspects.rank)),
                language="python", wrap_lines=True)

    cache = st.session_state.setdefault(CACHE_KEY, {})
    report = cache.get(loaded.key)
    if report is None:
        if st.button("Find suspicious labels", type="primary", icon=":material/search:",
                     help="The first time computes MobileNetV2's features of the training split (as Quick transfer "
                          "does); afterwards it takes seconds."):
            bar = ui.ProgressBar()
            try:
                with ui.refusal(stop=True), st.spinner("Training a head per fold…"):
                    cache[loaded.key] = ui.service.suspects(ui.data_source(), progress=bar)
            finally:
                bar.clear()
            st.rerun()
        st.stop()


    def _toggle(path: str, key: str) -> None:
        """A tick or untick: the list beside the dataset follows at once."""
        chosen = set(suspects.load_exclusions(loaded, ui.owner()))
        (chosen.add if st.session_state.get(key) else chosen.discard)(path)
        try:
            suspects.save_exclusions(loaded, chosen, ui.owner())
        except (CatdogError, OSError) as exc:  # e.g. a read-only home: the tick is taken back, with a sentence
            st.session_state[key] = not st.session_state.get(key)
            st.session_state["_suspects_problem"] = f"The list could not be saved: {exc}"


    def _clear() -> None:
        suspects.save_exclusions(loaded, (), ui.owner())  # this session's list only
        for key in [k for k in st.session_state if str(k).startswith("exclude_")]:
            del st.session_state[key]


    excluded = suspects.load_exclusions(loaded, ui.owner())
    a, b, c = st.columns(3)
    a.metric("Out-of-fold accuracy", f"{report.accuracy:.1%}", help=f"over {report.photos} training photos")
    b.metric("Labels contradicted", report.disagreements, help="training photos whose out-of-fold answer is another class")
    c.metric("Seconds to compute", f"{report.seconds:.1f}", help="from cached MobileNetV2 features, when it was computed")
    problem = st.session_state.pop("_suspects_problem", None)
    if problem:
        st.error(ui.plain(problem))

    if not report.suspects:
        st.success("The out-of-fold model agrees with every label in the training split.")
    else:
        shown = st.segmented_control("Photos shown", SHOWN, default=SHOWN[1], key="suspects_shown") or SHOWN[1]
        rows = {f: i for i, f in enumerate(loaded.train.files)}
        per_row = 3 if ui.presenter() else 4
        items = [s for s in report.suspects[:shown] if s.path in rows]
        for start in range(0, len(items), per_row):
            for col, item in zip(st.columns(per_row), items[start:start + per_row]):
                key = f"exclude_{loaded.key}_{rows[item.path]}"
                if key not in st.session_state:
                    st.session_state[key] = item.path in excluded
                col.image(loaded.train.images[rows[item.path]], width="stretch")
                col.markdown(f"**{ui.plain(item.path.rsplit('/', 1)[-1])}**  \nlabel: {ui.plain(item.given)} · "
                             f"model: **{ui.plain(item.predicted)}** ({item.confidence:.1%})")
                col.checkbox("exclude", key=key, on_change=_toggle, args=(item.path, key),
                             help=ui.plain(item.path))

    st.subheader("Retrain without them")
    n = len(excluded)
    if n:
        st.caption(f"{count(n, 'photo')} left out of the training split of this dataset (validation and test "
                   "stay as they are, so the accuracies compare).")
        st.button("Clear the list", icon=":material/undo:", on_click=_clear, key="suspects_clear")
    what = f"Retrain the quick model without the {count(n, 'excluded photo')}"
    if st.button(what, type="primary", icon=":material/bolt:", disabled=not n, key="suspects_retrain"):
        ui.submit(replace(jobs.quick_spec(ui.data_source()), exclude=excluded,
                          label=f"quick transfer without {count(n, 'photo')}"))

    job = ui.session_job()
    if job is not None and job.spec.exclude:
        ui.job_panel(job.job_id, "label check")

    mine, _ = ui.session_runs(runs.list_runs().runs)
    before = runs.best([r for r in mine if not r.excluded], recipe="transfer")
    after = next((r for r in mine if r.excluded), None)  # newest first
    if after is not None and after.val_accuracy is not None:
        left_out = count(len(after.excluded), "photo")
        if before is not None and before.val_accuracy is not None:
            change = after.val_accuracy - before.val_accuracy
            st.markdown(
                f"**Before and after:** without {left_out}, the quick model reaches **{after.val_accuracy:.1%}** "
                f"validation accuracy (run {ui.plain(after.name)}); the best transfer run with every photo reached "
                f"**{before.val_accuracy:.1%}** (run {ui.plain(before.name)}), a change of {change:+.1%}. "
                f"Each validation photo is worth {1 / max(1, after.val_count or 1):.1%}, so a change of a photo or "
                "two is noise.")
        else:
            st.markdown(f"**After:** without {left_out}, the quick model reaches **{after.val_accuracy:.1%}** "
                        "validation accuracy; train a quick model with every photo to compare.")
        st.page_link("pages/training.py", label="Compare the runs on the Training page", icon=":material/compare:")

"""How much data is enough? The Training page's learning curve over the data: Start queues one
job per recipe (the transfer head, then optionally the small CNN), and their points stream into
one chart as the worker finishes them. Nothing trains here; finished points are cached by content,
so the same curve again is drawn at once."""

from __future__ import annotations

import streamlit as st

from catdog_core import charts, codegen, jobs
from catdog_core.words import count

from .data import cached_data
from .jobs import PANEL_SECONDS
from .state import actor, budget, data_source, owner, presenter
from .text import plain, refusal
from .timing import curve_time_note

CURVE_JOBS_KEY = "_curve_jobs"  # {data source or "": the ids of this session's latest curve jobs}

LESSON = (
    "Each point is a model trained from scratch on a balanced subset of the training photos (the same "
    "number of every class, drawn by a fixed seed) and measured on the whole validation split; the bars are "
    "each accuracy's 95 % interval. The transfer head starts from what MobileNetV2 learned on 1.3 million "
    "ImageNet photos, so a few dozen of yours already give a good classifier, and more photos add less and "
    "less. The small CNN starts from nothing: with a few hundred photos it barely beats a coin toss. That is "
    "the lesson of transfer learning in one picture: someone else's data does most of the work."
)


def _title(recipe: str) -> str:
    name = charts.RECIPE_NAMES.get(recipe, recipe)
    return name[:1].upper() + name[1:]


def _points(job: jobs.JobState) -> list[dict]:
    """The curve's points so far, as the chart takes them."""
    return [p.to_dict() for p in job.points]


def section() -> None:
    """The section's controls and its live chart."""
    source = data_source()
    st.markdown("How many photos does a model need? Train the same recipe on 20, 50, 100 … 2000 of the "
                "training photos and watch the validation accuracy.")
    took = curve_time_note("baseline")  # measured here, or nothing
    with_cnn = st.checkbox(
        f"Also the small CNN (up to {jobs.CURVE_BASELINE_MAX} photos{took})", value=True,
        key="curve_cnn", help="It trains on raw pixels: much slower per photo than the transfer head, which "
                              "trains on cached MobileNetV2 features.")
    store = st.session_state.setdefault(CURVE_JOBS_KEY, {})
    ids = store.get(source or "", [])
    queue = jobs.get_queue()
    following = [j for j in (queue.get(i) for i in ids) if j is not None]
    active = [j for j in following if j.active]
    if active:
        if st.button("Stop the learning curve", icon=":material/stop_circle:", key="curve_stop"):
            queue.stop_many((j.job_id for j in active), actor())
            st.rerun()
    elif st.button("Start the learning curve", icon=":material/show_chart:", key="curve_start"):
        recipes = ["transfer"] + (["baseline"] if with_cnn else [])
        with refusal() as said:
            _, store[source or ""] = jobs.submit_group([jobs.curve_spec(r, source) for r in recipes], owner=owner(),
                                                       label="learning curve", budget=budget())
        if not said.error:
            st.rerun()
    if ids:
        st.fragment(_live, run_every=PANEL_SECONDS if active else None)(tuple(ids))
    else:
        st.caption("Press Start: the points come one by one from the training worker; points computed before "
                   "on this data come back at once.")
    st.caption(LESSON)
    with st.expander("Show the code", icon=":material/code:"):
        st.code(codegen.learning_curve(), language="python", wrap_lines=True)


def _live(ids: tuple[int, ...]) -> None:
    queue = jobs.get_queue()
    following = [j for j in (queue.get(i) for i in ids) if j is not None]
    points = {j.spec.recipe: _points(j) for j in following if _points(j)}
    for job in following:
        done = len(_points(job))
        what = _title(job.spec.recipe)
        if job.state == jobs.QUEUED:
            st.caption(f"{what}: waiting in the queue at position {job.queue_position}.")
        elif job.state == jobs.RUNNING:
            text = f"{what}: {plain(job.phase)} · {count(done, 'point')} so far"
            now = job.now()
            if now.total:
                st.progress(now.fraction, text=f"{text} · step {now.done:,} of {now.total:,}")
            else:
                st.caption(text + ".")
        elif job.state == jobs.FAILED:
            st.error(f"{what}: {plain(job.error or 'failed')}")
        else:
            st.caption(f"{what}: {plain(job.phase)}.")
    if points:
        classes = max((p.get("classes", 0) for rows in points.values() for p in rows), default=0)
        loaded = cached_data() if not classes else None
        classes = classes or (len(loaded.class_names) if loaded is not None else 0)
        chance = 1 / classes if classes else None
        st.plotly_chart(charts.data_curve(points, large=presenter(), chance=chance), key="data_curve",
                        config=charts.NO_TOOLBAR)
        for recipe, rows in points.items():
            first, last = min(rows, key=lambda p: p["size"]), max(rows, key=lambda p: p["size"])
            if first is not last:
                st.caption(f"{_title(recipe)}: {first['accuracy']:.1%} with "
                           f"{first['size']} photos, {last['accuracy']:.1%} with {last['size']} "
                           f"(on {last['count']} validation photos).")
    seen = st.session_state.setdefault("_curve_active", {})
    name = ",".join(map(str, ids))
    was_active, seen[name] = seen.get(name, False), any(j.active for j in following)
    if was_active and not seen[name]:
        st.rerun()  # the whole page: the chart stops polling, Start comes back

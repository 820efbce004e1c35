"""The Augmentation page's "Does it help?" and its sweep of one setting: each a job of the queue
(catdog_core.lessons.augcheck runs it in the worker); an answer kept on disk is shown at once, without a job."""

from __future__ import annotations

import json

import streamlit as st

from catdog_core.lessons import augcheck
from catdog_core import charts, codegen, jobs, jobspec
from catdog_core.augment import AugmentSettings

from .data import cached_data
from .jobs import PANEL_SECONDS
from .state import actor, budget, data_source, owner, presenter
from .text import plain, refusal

JOBS_KEY = "_augcheck_jobs"  # {what was asked (JSON): the id of the job that answers it}
SWEEPS = {  # the values a sweep offers first, the post's where it has one
    "rotation": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),
    "zoom": (0.0, 0.1, 0.2, 0.3, 0.5),
    "translation": (0.0, 0.05, 0.1, 0.2, 0.3),
    "contrast": (0.0, 0.2, 0.4, 0.6, 0.9),
    "brightness": (0.0, 0.2, 0.4, 0.6, 0.9),
    "flip": ("none", "horizontal", "vertical", "both"),
}
LESSON = (
    "The transfer model's MobileNetV2 is frozen: augmentation only changes the features its small head "
    "learns from. So the check makes {k} augmented copies of every training photo, runs them through the "
    "base once, and trains the quick head {s} times with different seeds with them and {s} times without, "
    "measured on the same validation photos. A difference smaller than the seeds' spread is no difference."
)


def _asked(settings: AugmentSettings, source, setting: str = "", values=()) -> str:
    return json.dumps([source or "", settings.to_dict(), setting, list(values)], sort_keys=True)


def _answers(job: jobs.JobState) -> list[dict]:
    return [h for h in job.history if "with_mean" in h]


def _job(store: dict, asked: str) -> jobs.JobState | None:
    job_id = store.get(asked)
    return jobs.get_queue().get(job_id) if job_id is not None else None


def _show_answer(answer: dict) -> None:
    left, right = st.columns(2)
    for column, label, side in ((left, "Validation accuracy with", "with"), (right, "Without", "without")):
        column.metric(label, f"{answer[side + '_mean'] * 100:.1f} ± {answer[side + '_spread'] * 100:.1f} %",
                      help=f"Mean ± spread of {answer['seeds']} heads, each trained with another seed.")
    st.markdown(f"**{plain(answer['verdict'])}**")
    took = "kept from an earlier check" if answer.get("cached") else f"measured in {answer['seconds']:.0f} s"
    st.caption(f"{answer['photos']:,} training photos × {answer['variants']} augmented copies, "
               f"{answer['seeds']} seeds a side, {answer['validation']:,} validation photos; {took}. "
               "± is the spread (standard deviation) over the seeds.")


def progress(job: jobs.JobState, what: str) -> None:
    """A job's place in the queue or its phase, as one line (the shortcut's job uses it too)."""
    if job.state == jobs.QUEUED:
        st.caption(f"{what}: waiting in the queue at position {job.queue_position}.")
    elif job.state == jobs.RUNNING:
        now = job.now()
        if now.total:
            st.progress(now.fraction, text=f"{what}: {plain(now.phase)} · {now.done:,} of {now.total:,}")
        else:
            st.caption(f"{what}: {plain(job.phase)}…")
    elif job.state == jobs.FAILED:
        st.error(f"{what}: {plain(job.error or 'failed')}")
    elif job.state != jobs.DONE:
        st.caption(f"{what}: {plain(job.phase)}.")


def _submit(store: dict, asked: str, spec: jobs.JobSpec) -> None:
    with refusal() as said:
        store[asked] = jobs.submit(spec, owner=owner(), budget=budget())
    if not said.error:
        st.rerun()


def rerun_when_ended(job: jobs.JobState | None) -> None:
    """A live fragment ends with its job: the whole page runs once more and stops polling."""
    if job is None:
        return
    seen = st.session_state.setdefault("_augcheck_active", {})
    was_active, seen[job.job_id] = seen.get(job.job_id, False), job.active
    if was_active and not job.active:
        st.rerun()


def _check_live(asked: str) -> None:
    job = _job(st.session_state.setdefault(JOBS_KEY, {}), asked)
    if job is None:
        return
    answers = _answers(job)
    if answers:
        _show_answer(answers[-1])
    else:
        progress(job, "Does it help?")
    rerun_when_ended(job)


def _sweep_live(asked: str, setting: str, current) -> None:
    job = _job(st.session_state.setdefault(JOBS_KEY, {}), asked)
    if job is None:
        return
    answers = _answers(job)
    progress(job, f"Sweep of {setting}")
    if answers:
        st.plotly_chart(charts.augment_sweep(answers, setting, current, large=presenter()), key="aug_sweep",
                        config=charts.NO_TOOLBAR)
        best = max(answers, key=lambda a: a["with_mean"])
        st.caption(f"Best here: {setting} {best['value']} at {best['with_mean']:.1%} ± "
                   f"{best['with_spread'] * 100:.1f} (without augmentation {best['without_mean']:.1%}); "
                   f"{len(answers)} of {len(job.spec.sweep_values)} values measured.")
    rerun_when_ended(job)


def section(settings: AugmentSettings) -> None:
    """"Does it help?" for these settings, and a sweep of one of them."""
    st.subheader("Does it help?")
    st.caption(LESSON.format(k=jobspec.AUGCHECK_VARIANTS, s=augcheck.SEEDS))
    source = data_source()
    loaded = cached_data()
    if loaded is None:
        st.info("The check measures on the dataset: open it on the Dataset page first.")
        return
    store = st.session_state.setdefault(JOBS_KEY, {})
    if settings.is_identity:
        st.info("These settings change nothing: turn on a flip or move a slider first.")
    else:
        _check(settings, source, loaded.key, store)
    _sweep(settings, source, store)
    with st.expander("Show the code", icon=":material/code:"):
        st.code(codegen.augment_check(settings), language="python", wrap_lines=True)


def _check(settings: AugmentSettings, source, data_key, store: dict) -> None:
    """The check's answer (this session's, or one kept on disk), its live job, or its button."""
    asked = _asked(settings, source)
    answer = augcheck.known(data_key, settings)
    job = _job(store, asked)
    asked_here = _answers(job) if job is not None and not job.active else []
    if asked_here:  # this session's own question: as its job answered it (measured, or kept)
        _show_answer(asked_here[-1])
    elif answer is not None and (job is None or not job.active):
        _show_answer({**answer.summary(), "cached": True})
    elif job is not None:
        st.fragment(_check_live, run_every=PANEL_SECONDS if job.active else None)(asked)
    if answer is None and (job is None or not job.active):
        if st.button("Does it help?", icon=":material/science:", key="aug_check", type="primary"):
            _submit(store, asked, jobs.augcheck_spec(settings, source))
        st.caption("It runs in the training queue (under half a minute on a 2-core laptop once the photos' "
                   "features are cached; students share it).")


def _sweep(settings: AugmentSettings, source, store: dict) -> None:
    """The sweep of one setting: which values, Sweep (or Stop the sweep), and its live answer."""
    st.markdown("**A sweep of one setting**: the same check at several values, to see where augmentation "
                "stops helping and starts hurting.")
    left, right = st.columns([1, 2])
    setting = left.selectbox("Setting", list(SWEEPS), key="aug_sweep_setting")
    values = right.multiselect("Values", SWEEPS[setting], default=list(SWEEPS[setting]),
                               key=f"aug_sweep_values_{setting}", max_selections=augcheck.MAX_SWEEP)
    current = getattr(settings, setting)
    asked_sweep = _asked(settings, source, setting, values)
    sweep_job = _job(store, asked_sweep)
    if sweep_job is not None and sweep_job.active:
        if st.button("Stop the sweep", icon=":material/stop_circle:", key="aug_sweep_stop"):
            jobs.get_queue().stop(sweep_job.job_id, actor())
            st.rerun()
    elif st.button("Sweep", icon=":material/tune:", key="aug_sweep_start", disabled=len(values) < 2,
                   help="Two values or more."):
        with refusal() as said:
            spec = jobs.augcheck_spec(settings, source, setting, sorted(values, key=lambda v: (str(type(v)), v)))
        if not said.error:
            _submit(store, asked_sweep, spec)
    if sweep_job is not None:
        st.fragment(_sweep_live, run_every=PANEL_SECONDS if sweep_job.active else None)(asked_sweep, setting, current)


GAP_KEY = "_gap_jobs"  # {what was asked (JSON): the ids of model 1's and model 2's jobs}
GAP_EPOCHS = 5
GAP_MIN_STEPS = jobspec.MIN_STEPS  # the small-data rule as for every training (tests lower it)
GAP_NAMES = ("model 1 (no augmentation)", "model 2 (augmented)")


def _gaps(history: list[dict]) -> list[float]:
    return [h["accuracy"] - h["val_accuracy"] for h in history
            if h.get("accuracy") is not None and h.get("val_accuracy") is not None]


def _gap_live(asked: str) -> None:
    queue = jobs.get_queue()
    ids = st.session_state.setdefault(GAP_KEY, {}).get(asked, [])
    following = [j for j in (queue.get(i) for i in ids) if j is not None]
    for name, job in zip(GAP_NAMES, following):
        if job.active or job.state == jobs.FAILED:
            progress(job, name[:1].upper() + name[1:])
    curves = {name: job.history for name, job in zip(GAP_NAMES, following) if job.history}
    if curves:
        st.plotly_chart(charts.learning_curves(curves, "accuracy", title="Training (dashed) vs validation (solid)",
                                               large=presenter()), key="aug_gap", config=charts.NO_TOOLBAR)
        for name, history in curves.items():
            gaps = _gaps(history)
            if gaps:
                shown = ", ".join(f"{g * 100:+.0f}" for g in gaps[-8:])
                st.caption(f"{name[:1].upper() + name[1:]}: training minus validation accuracy by epoch "
                           f"{shown} points{' (the last 8)' if len(gaps) > 8 else ''}.")
        ended = [job for job in following if not job.active]
        if len(ended) == len(following) == 2 and all(_gaps(j.history) for j in following):
            first, second = (_gaps(j.history)[-1] for j in following)
            if first - second > 0.03:
                meaning = ("Model 1 learns its training photos by heart and runs away from validation; "
                           "augmentation shows model 2 new variants every epoch, so it has less to learn by heart.")
            elif max(first, second) <= 0.03:
                meaning = ("Neither model runs away from validation yet: the photos are easy to tell apart, "
                           "or the epochs too few to learn them by heart.")
            else:
                meaning = "Here these settings did not narrow the gap: try others, or more epochs."
            st.markdown(f"**After the last epoch, model 1's training accuracy is {first * 100:.0f} points above its "
                        f"validation accuracy, model 2's {second * 100:.0f}.** {meaning}")
    rerun_when_ended(next((j for j in following if j.active), following[-1] if following else None))


def gap_section(settings: AugmentSettings) -> None:
    """The post's lesson: model 1 and model 2 side by side, training vs validation accuracy."""
    st.subheader("The overfitting gap")
    st.caption(f"The post's small CNN trained {GAP_EPOCHS} epochs twice, side by side: model 1 without "
               "augmentation, model 2 with these settings. Both are jobs of the training queue, saved as runs.")
    source = data_source()
    if cached_data() is None:
        st.info("The two models train on the dataset: open it on the Dataset page first.")
        return
    store = st.session_state.setdefault(GAP_KEY, {})
    asked = _asked(settings, source, "gap")
    queue = jobs.get_queue()
    following = [j for j in (queue.get(i) for i in store.get(asked, [])) if j is not None]
    active = [j for j in following if j.active]
    if active:
        if st.button("Stop both", icon=":material/stop_circle:", key="aug_gap_stop"):
            queue.stop_many((j.job_id for j in active), actor())
            st.rerun()
    elif st.button(f"Train model 1 and model 2 ({GAP_EPOCHS} epochs each)", icon=":material/compare:",
                   key="aug_gap_start", disabled=settings.is_identity,
                   help="Model 2 needs an augmentation: turn on a flip or move a slider."):
        specs = [jobs.JobSpec("baseline", GAP_EPOCHS, settings, source, label="overfitting gap: model 1",
                              min_steps=GAP_MIN_STEPS),
                 jobs.JobSpec("augmented", GAP_EPOCHS, settings, source, label="overfitting gap: model 2",
                              min_steps=GAP_MIN_STEPS)]
        with refusal() as said:
            _, store[asked] = jobs.submit_group(specs, owner=owner(), label="overfitting gap", budget=budget())
        if not said.error:
            st.rerun()
    if following:
        st.fragment(_gap_live, run_every=PANEL_SECONDS if active else None)(asked)
    with st.expander("Show the code", icon=":material/code:"):
        st.code(codegen.training(jobs.JobSpec("augmented", GAP_EPOCHS, settings)), language="python", wrap_lines=True)
        st.caption("Model 1 is the same without the data_augmentation line: `recipe baseline` on the Training page.")

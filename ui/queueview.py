"""The queue of every job on this machine, as the pages show it under their panels: owner, place
and time left of each, its Stop button for whoever may stop it, and "Stop all…" after a
confirmation. Redrawn every QUEUE_SECONDS while anything is queued or running."""

from __future__ import annotations

import streamlit as st

from catdog_core import board, jobs, owners

from .jobs import QUEUE_SECONDS, REFUSED_KEY, duration_text, shown_owner, stop_job
from .state import actor
from .text import plain

QUEUE_EMPTIED_KEY = "_queue_emptied"  # the queue view saw the queue empty: the page reruns next beat
CONFIRM_KEY = "_confirm_stop_all"  # "Stop all…" was pressed: the confirmation shows


def queue_view() -> None:
    """Every queued and running job of the machine, with owner, position and time left; Stop one,
    or Stop all after a confirmation. Redrawn every QUEUE_SECONDS while anything is active."""
    if not jobs.get_queue().active():
        return
    st.fragment(_queue_view, run_every=QUEUE_SECONDS)()


def _queue_view() -> None:
    """One beat of the queue view: a row per active job, a refused stop's sentence, Stop all."""
    active = jobs.get_queue().active()
    st.markdown(f"**The queue** · {len(active)} job{'s' if len(active) != 1 else ''} "
                f"(one training at a time per worker)")
    if not active:  # the whole page (the queue view goes), on the next beat as the panel does
        if st.session_state.pop(QUEUE_EMPTIED_KEY, False):
            st.rerun()
        st.session_state[QUEUE_EMPTIED_KEY] = True
        return
    st.session_state.pop(QUEUE_EMPTIED_KEY, None)
    me, known = actor(), board.names()
    for job in active:
        _queue_row(job, me, known)
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.error(plain(refused))
    _stop_all_control(me, [j for j in active if me.may(j.owner)])


def _queue_row(job: jobs.JobState, me: owners.Actor, known: dict[str, str]) -> None:
    """One job of the queue: its number and title, who it is, where it is, and its Stop."""
    cols = st.columns([3, 2, 2, 1.4], vertical_alignment="center")
    cols[0].markdown(f"**{job.job_id}** · {plain(job.title)}")
    cols[1].markdown(plain(shown_owner(job.owner, known)))
    if job.state == jobs.RUNNING:
        estimate = job.eta()
        left = duration_text(estimate.seconds) if estimate is not None else "timing…"
        cols[2].markdown(f"training, {left} left" + ("" if estimate is None or estimate.whole else " (frozen)"))
    else:
        cols[2].markdown(f"queued, position {job.queue_position}")
    if job.stop_requested:
        cols[3].caption("stopping")
    elif me.may(job.owner):  # callbacks, not st.rerun: a click may come in a fragment run or a whole-page run
        cols[3].button("Stop", key=f"queue_stop_{job.job_id}", icon=":material/stop_circle:",
                       on_click=stop_job, args=(job.job_id,))


def _stop_all_control(me: owners.Actor, stoppable: list[jobs.JobState]) -> None:
    """The teacher's "Stop all…" (every job), a student's "Stop all mine…", after a confirmation."""
    mine = "" if me.teacher else " of yours"
    if st.session_state.get(CONFIRM_KEY):
        st.warning(("Stop the job in the queue?" if len(stoppable) == 1 else f"Stop all {len(stoppable)} jobs{mine}?")
                   + " A running job keeps its finished epochs; a queued one is cancelled.")
        yes, no = st.columns(2)
        yes.button("Yes, stop them all", type="primary", key="stop_all_yes", on_click=_stop_all, args=(True,))
        no.button("No, keep them", key="stop_all_no", on_click=_stop_all, args=(False,))
    elif len(stoppable) > 1:
        st.button("Stop all…" if me.teacher else "Stop all mine…", key="stop_all", icon=":material/cancel:",
                  on_click=_ask_stop_all)


def _ask_stop_all() -> None:
    st.session_state[CONFIRM_KEY] = True


def _stop_all(confirmed: bool) -> None:
    if confirmed:
        jobs.get_queue().stop_all(actor())  # the teacher's: every job; a student's: their own
    st.session_state[CONFIRM_KEY] = False

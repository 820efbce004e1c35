"""Training jobs as the pages show them: submit one for this session, follow it in a live
panel (progress, time left, curves), and the queue of every job with Stop buttons.
Training never runs here; pages submit jobs to the queue and read it."""

from __future__ import annotations

import time

import streamlit as st

from catdog_core import augment, board, charts, config, jobs, metrics, owners, runs
from catdog_core.errors import CatdogError
from catdog_core.words import count

from .data import cached_data
from .figures import figure
from .runs import VALIDATION_NOTE, fine_tune_marker
from .state import GROUP_KEY, NEW_RUNS_KEY, actor, budget, data_source, owner, presenter
from .text import plain, refusal


JOBS_BY_DATA_KEY = "_jobs_by_data"  # {data source or "": this session's latest job on that data}
REDRAW_KEY = "_jobs_redraw"  # jobs that just ended: the page reruns on their panel's next beat
QUEUE_EMPTIED_KEY = "_queue_emptied"  # the queue view saw the queue empty: the page reruns next beat
ORIGINS_KEY = "_job_origins"  # {job id: the page this session submitted it from}
REFUSED_KEY = "_job_refused"  # the sentence a refused submit or stop left for the next run to show


def session_job() -> jobs.JobState | None:
    """The job this session's pages show: its own, on the data in use (the running one of its
    group while the post's four models train one after another, else its latest). Another
    session's job, or this session's job on other data, is never shown in a page's panel; the
    queue view lists every job."""
    queue = jobs.get_queue()
    source = data_source()
    here = config.data_dir_setting() if source is None else source  # as jobs.resolved writes it into a spec
    group = st.session_state.get(GROUP_KEY)
    if group:
        running = next((j for j in queue.group(group) if j.state == jobs.RUNNING and j.spec.data == here), None)
        if running is not None:
            return running  # reproducing the post: follow the model being trained now
    job_id = st.session_state.get(JOBS_BY_DATA_KEY, {}).get(source or "")
    job = queue.get(job_id) if job_id is not None else None
    return job if job is not None and job.spec.data == here else None


def _follow(job_id: int, data: str | None) -> None:
    st.session_state.setdefault(JOBS_BY_DATA_KEY, {})[data or ""] = job_id


def submit(spec: jobs.JobSpec, origin: str = "") -> None:
    """Queue a job for this session and redraw the page (sidebar included) around it; `origin` names
    the page that asked (see started_on). Past a student's budget, the sentence shows instead."""
    with refusal() as said:
        job_id = jobs.submit(spec, owner=owner(), budget=budget())
    if said.error:
        return
    st.session_state.setdefault(ORIGINS_KEY, {})[job_id] = origin
    _follow(job_id, spec.data)
    st.session_state.pop(GROUP_KEY, None)
    st.rerun()


def started_on(job: jobs.JobState, origin: str) -> bool:
    """Whether this session submitted the job from the page `origin` (ui.submit's argument)."""
    return st.session_state.get(ORIGINS_KEY, {}).get(job.job_id) == origin


def submit_group(specs: list[jobs.JobSpec], label: str) -> None:
    with refusal() as said:
        group, ids = jobs.submit_group(specs, owner=owner(), label=label, budget=budget())
    if said.error:
        return
    st.session_state[GROUP_KEY] = group
    _follow(ids[0], specs[0].data)
    st.rerun()


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "after epoch 1"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def legend_below(fig):
    """Learning curves side by side leave no room for a legend on the right."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22), height=fig.layout.height + 60)
    return fig


def _curves_figure(curves: dict, metric: str, marks: dict, large: bool, title: str | None):
    return legend_below(charts.learning_curves(curves, metric, markers=marks, large=large, title=title))


def curves_figure(curves: dict, metric: str, marks: dict | None = None, title: str | None = None):
    """Learning curves with the legend below, built once per content (ui.figure) and shared by every
    session that shows the same runs: a job's panel redraws every two seconds, and a class opens the
    Training page's comparison of the same best runs again and again (a plotly figure is slow Python)."""
    return figure(_curves_figure, curves, metric, marks or {}, presenter(), title)


def _job_curves(curves: dict, metric: str, marks: dict):
    """A job's curve, built once per finished epoch."""
    return curves_figure(curves, metric, marks)


# Every open tab that follows a job reruns its panel this often: the queue is read from SQLite and
# nothing else is computed, so thirty tabs cost the server little.
PANEL_SECONDS = 2.0
QUEUE_SECONDS = PANEL_SECONDS  # the same beat: the panel and the queue never disagree for long


def job_panel(job_id: int, where: str) -> None:
    """The live view of one job; polls the queue every PANEL_SECONDS while it is queued or running."""
    job = jobs.get_queue().get(job_id)
    if job is None:
        return
    every = PANEL_SECONDS if job.active else None
    st.fragment(_job_view, run_every=every)(job_id, where)


# A job that the last beat saw nearly done is waited for in the panel's run, reading its row every
# END_POLL seconds for at most END_WAIT: "Finished" shows as the job ends, not on the next beat up to
# PANEL_SECONDS later (a quick job takes ~3 s, so that beat was most of its wait). END_WAIT stays well
# under PANEL_SECONDS, so the wait ends before the next beat asks for this panel again.
END_WAIT = 1.2
END_POLL = 0.1


def _until_ended(queue, job: jobs.JobState) -> jobs.JobState:
    """The job, re-read until it is no longer running, if it is expected to end within END_WAIT
    (its last epoch is done, or its time left says so); else as it is."""
    if job.state != jobs.RUNNING:
        return job
    left = job.eta()
    if len(job.history) < job.epochs_total and not (left is not None and left.whole and left.seconds <= END_WAIT):
        return job
    deadline = time.monotonic() + END_WAIT
    while time.monotonic() < deadline:
        time.sleep(END_POLL)
        latest = queue.get(job.job_id)
        if latest is None:
            break
        job = latest
        if job.state != jobs.RUNNING:
            break
    return job


def _saved_run(run_id: str | None):
    if not run_id:
        return None
    try:
        return runs.find_run(run_id)
    except CatdogError:
        return None


def _epochs_planned(job: jobs.JobState) -> int:
    """The job's epochs in all: the worker's plan once it has said it, else planned here from the data
    in use (a panel shows only a job on it), so a small dataset's 100 epochs show from the start."""
    loaded = cached_data()
    if job.batch is not None or loaded is None:
        return job.epochs_total
    return jobs.planned_epochs(job.spec, len(loaded.train))


def _job_view(job_id: int, where: str) -> None:
    queue = jobs.get_queue()
    job = queue.get(job_id)
    if job is not None:
        job = _until_ended(queue, job)
    if job is None:
        st.info("That training job is no longer in the queue; its run, if saved, is in the table below.")
        return
    seen = st.session_state.setdefault("_job_states", {})
    was_active = seen.get(job_id) in (jobs.QUEUED, jobs.RUNNING)
    seen[job_id] = job.state
    spec = job.spec
    uses_augmentation = spec.recipe != "baseline"
    st.markdown(f"**Job {job.job_id}: {plain(job.title)}** · recipe `{spec.recipe}` · "
                f"{augment.describe(spec.settings) if uses_augmentation else 'no augmentation'}")
    if job.state == jobs.QUEUED:
        st.info(f"Waiting in the queue at position {job.queue_position}: jobs train one after another.")
    elif job.state == jobs.RUNNING:
        _running_view(job, _epochs_planned(job))
    if job.active:
        _stop_control(job, where)
    else:
        _ended_view(job)
    _job_charts(job, where)
    _redraw_when_ended(job, was_active)


def _running_view(job: jobs.JobState, total: int) -> None:
    """A running job's progress bar (this batch, or the phase before training) and its three figures."""
    batch = job.batch
    if job.phase == "Training" and batch is not None and batch.step:  # step 0: only the plan so far
        st.progress(batch.step / batch.steps,
                    text=f"Epoch {batch.epoch} of {total}: batch {batch.step} of {batch.steps}"
                         f" · loss {batch.loss:.3f} · accuracy {batch.accuracy:.1%}")
    elif job.phase_total:
        st.progress(min(job.phase_done / job.phase_total, 1.0),
                    text=f"{job.phase}: {job.phase_done:,} of {job.phase_total:,}")
    else:
        st.progress(0.0, text=f"{job.phase}…")
    cols = st.columns(3)
    cols[0].metric("Epochs finished", f"{len(job.history)} of {total}")
    estimate = job.eta()
    if estimate is None:
        cols[1].metric("Time left", "timing…", help="Shown once the first batches have been timed.")
    elif estimate.whole:
        cols[1].metric("Time left", duration_text(estimate.seconds))
    else:
        cols[1].metric("Frozen stage left", duration_text(estimate.seconds),
                       help="Fine-tune epochs run the whole MobileNetV2 and take much longer; "
                            "their time shows once the first of them starts.")
    last = job.history[-1]["val_accuracy"] if job.history else None
    cols[2].metric("Validation accuracy", f"{last:.1%}" if last is not None else "–")


def _stop_control(job: jobs.JobState, where: str) -> None:
    """An active job's Stop (Cancel while queued), for whoever may stop it."""
    if job.stop_requested:
        st.caption("Stopping after the current batch; finished epochs are kept.")
    elif actor().may(job.owner) and st.button(
            "Stop" if job.state == jobs.RUNNING else "Cancel", key=f"stop_{where}_{job.job_id}",
            icon=":material/stop_circle:", help="Ends after the current batch and keeps the finished epochs."):
        if stop_job(job.job_id):
            st.caption("Stopping after the current batch; finished epochs are kept.")


def _ended_view(job: jobs.JobState) -> None:
    """How an ended job ended: its saved run's numbers and notes, or why it failed."""
    if job.state == jobs.FAILED:
        st.error(plain(job.error or "Training failed."))
        return
    if job.state not in (jobs.DONE, jobs.STOPPED):
        return
    run = _saved_run(job.run_id)
    if run is None:
        st.warning(f"{plain(job.phase)}.")
        return
    numbers = (f"validation {metrics.verdict(run.val_accuracy, run.val_count)}; "
               f"test {metrics.verdict(run.test_accuracy, run.test_count)}")
    if job.state == jobs.DONE:
        st.success(f"Finished {count(len(job.history), 'epoch')}: {numbers}. Saved as run `{run.run_id}`.")
    else:
        st.warning(f"{plain(job.phase)}: {numbers}. Saved as run `{run.run_id}`.")
    for note in run.notes:
        st.caption(plain(note))


def _job_charts(job: jobs.JobState, where: str) -> None:
    if not job.history:
        if job.active:
            st.caption("The accuracy and loss curves appear when the first epoch ends.")
        return
    recipe = job.spec.recipe
    curves, marks = {recipe: job.history}, fine_tune_marker(recipe, job.history)
    left, right = st.columns(2)
    for column, metric, short in ((left, "accuracy", "acc"), (right, "loss", "loss")):
        column.plotly_chart(_job_curves(curves, metric, marks), key=f"{short}_{where}_{job.job_id}",
                            config=charts.NO_TOOLBAR)
    st.caption(VALIDATION_NOTE)


def _redraw_when_ended(job: jobs.JobState, was_active: bool) -> None:
    """The new run belongs in the page's tables and selectors, so the whole page reruns: on the
    panel's next beat, after this run has drawn "Finished". Rerunning at once held "Finished"
    back until the whole page had run (~1 s on 2 cores with a worker training)."""
    redraw = st.session_state.setdefault(REDRAW_KEY, set())
    if was_active and not job.active:
        if job.run_id and job.owner == owner():
            st.session_state.setdefault(NEW_RUNS_KEY, []).append(job.run_id)  # pickers select it
        redraw.add(job.job_id)
    elif job.job_id in redraw:
        redraw.discard(job.job_id)
        st.rerun()


def queue_view() -> None:
    """Every queued and running job of the machine, with owner, position and time left; Stop one,
    or Stop all after a confirmation. Redrawn every QUEUE_SECONDS while anything is active."""
    if not jobs.get_queue().active():
        return
    st.fragment(_queue_view, run_every=QUEUE_SECONDS)()


def _queue_view() -> None:
    queue = jobs.get_queue()
    active = queue.active()
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
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.error(plain(refused))
    _stop_all_control(me, [j for j in active if me.may(j.owner)])


def shown_owner(job_owner: str, known: dict[str, str]) -> str:
    """Who a job is, as the queue and the sidebar show it: "you", a board name (`known`, from
    board.names(), read once per view), or a short id."""
    if job_owner and job_owner == owner():
        return "you"
    return known.get(job_owner) or owners.shown(job_owner)


def stop_job(job_id: int) -> bool:
    """Stop a job for this session; a job it may not stop (a forged request) is refused in a sentence."""
    try:
        jobs.get_queue().stop(job_id, actor())
    except CatdogError as exc:
        st.session_state[REFUSED_KEY] = str(exc)
        return False
    return True


def _stop_all_control(me: owners.Actor, stoppable: list[jobs.JobState]) -> None:
    """The teacher's "Stop all…" (every job), a student's "Stop all mine…", after a confirmation."""
    mine = "" if me.teacher else " of yours"
    if st.session_state.get("_confirm_stop_all"):
        st.warning(("Stop the job in the queue?" if len(stoppable) == 1 else f"Stop all {len(stoppable)} jobs{mine}?")
                   + " A running job keeps its finished epochs; a queued one is cancelled.")
        yes, no = st.columns(2)
        yes.button("Yes, stop them all", type="primary", key="stop_all_yes", on_click=_stop_all, args=(True,))
        no.button("No, keep them", key="stop_all_no", on_click=_stop_all, args=(False,))
    elif len(stoppable) > 1:
        st.button("Stop all…" if me.teacher else "Stop all mine…", key="stop_all", icon=":material/cancel:",
                  on_click=_ask_stop_all)


def _ask_stop_all() -> None:
    st.session_state["_confirm_stop_all"] = True


def _stop_all(confirmed: bool) -> None:
    if confirmed:
        jobs.get_queue().stop_all(actor())  # the teacher's: every job; a student's: their own
    st.session_state["_confirm_stop_all"] = False

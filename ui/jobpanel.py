"""One training job's live panel on the page that follows it: where it is in the queue, its
progress and time left, how it ended, its curves, and its Stop button. Redrawn every
PANEL_SECONDS while the job is queued or running; it only reads the queue."""

from __future__ import annotations

import time

import streamlit as st

from catdog_core import augment, charts, jobs, metrics, runs
from catdog_core.errors import CatdogError
from catdog_core.words import count

from .data import cached_data
from .jobs import PANEL_SECONDS, curves_figure, duration_text, stop_job
from .runs import VALIDATION_NOTE, fine_tune_marker
from .state import NEW_RUNS_KEY, actor, owner
from .text import plain

REDRAW_KEY = "_jobs_redraw"  # jobs that just ended: the page reruns on their panel's next beat
STATES_KEY = "_job_states"  # {job id: its state as this session's panel last drew it}


def job_panel(job_id: int, where: str) -> None:
    """The live view of one job; polls the queue every PANEL_SECONDS while it is queued or running."""
    job = jobs.get_queue().get(job_id)
    if job is None:
        return
    every = PANEL_SECONDS if job.active else None
    st.fragment(_job_view, run_every=every)(job_id, where)


def _job_view(job_id: int, where: str) -> None:
    """One beat of the panel: the job's heading, then its wait, progress or end, and its curves."""
    queue = jobs.get_queue()
    job = queue.get(job_id)
    if job is not None:
        job = _until_ended(queue, job)
    if job is None:
        st.info("That training job is no longer in the queue; its run, if saved, is in the table below.")
        return
    seen = st.session_state.setdefault(STATES_KEY, {})
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


def _epochs_planned(job: jobs.JobState) -> int:
    """The job's epochs in all: the worker's plan once it has said it, else planned here from the data
    in use (a panel shows only a job on it), so a small dataset's 100 epochs show from the start."""
    loaded = cached_data()
    if job.batch is not None or loaded is None:
        return job.epochs_total
    return jobs.planned_epochs(job.spec, len(loaded.train))


def _running_view(job: jobs.JobState, total: int) -> None:
    """A running job's progress bar (this batch, or the phase before training) and its three figures."""
    now = job.now()
    batch = now.batch
    if batch is not None:
        text = (f"Epoch {batch.epoch} of {total}: batch {batch.step} of {batch.steps}"
                f" · loss {batch.loss:.3f} · accuracy {batch.accuracy:.1%}")
    else:
        text = f"{now.phase}: {now.done:,} of {now.total:,}" if now.total else f"{now.phase}…"
    st.progress(now.fraction, text=text)
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
    epochs = job.epochs
    last = epochs[-1].val_accuracy if epochs else None
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


def _saved_run(run_id: str | None):
    if not run_id:
        return None
    try:
        return runs.find_run(run_id)
    except CatdogError:
        return None


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


def _job_curves(curves: dict, metric: str, marks: dict):
    """A job's curve, built once per finished epoch."""
    return curves_figure(curves, metric, marks)


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

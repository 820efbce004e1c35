"""Training jobs as this session asks for them: submit one (or the post's four as a group), which
job its pages follow, stop one; and what every job view shares: the beat they redraw on, how long
a job takes in words, who a job is, the learning curves' figure. Training never runs here; pages
submit jobs to the queue and read it (ui.jobpanel draws one job, ui.queueview the whole queue)."""

from __future__ import annotations

import streamlit as st

from catdog_core import charts, config, jobs, owners
from catdog_core.errors import CatdogError

from .figures import figure
from .state import GROUP_KEY, actor, budget, data_source, owner, presenter
from .text import refusal


JOBS_BY_DATA_KEY = "_jobs_by_data"  # {data source or "": this session's latest job on that data}
ORIGINS_KEY = "_job_origins"  # {job id: the page this session submitted it from}
REFUSED_KEY = "_job_refused"  # the sentence a refused submit or stop left for the next run to show

# Every open tab that follows a job reruns its panel this often: the queue is read from SQLite and
# nothing else is computed, so thirty tabs cost the server little.
PANEL_SECONDS = 2.0
QUEUE_SECONDS = PANEL_SECONDS  # the same beat: the panel and the queue never disagree for long


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
    """Queue several jobs as one group (the post's four models) and follow them, the running one first."""
    with refusal() as said:
        group, ids = jobs.submit_group(specs, owner=owner(), label=label, budget=budget())
    if said.error:
        return
    st.session_state[GROUP_KEY] = group
    _follow(ids[0], specs[0].data)
    st.rerun()


def stop_job(job_id: int) -> bool:
    """Stop a job for this session; a job it may not stop (a forged request) is refused in a sentence."""
    try:
        jobs.get_queue().stop(job_id, actor())
    except CatdogError as exc:
        st.session_state[REFUSED_KEY] = str(exc)
        return False
    return True


def shown_owner(job_owner: str, known: dict[str, str]) -> str:
    """Who a job is, as the queue and the sidebar show it: "you", a board name (`known`, from
    board.names(), read once per view), or a short id."""
    if job_owner and job_owner == owner():
        return "you"
    return known.get(job_owner) or owners.shown(job_owner)


def duration_text(seconds: float | None) -> str:
    """A time left in words: "45 s", "3 min 05 s", "1 h 02 min" ("after epoch 1" while unknown)."""
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


"""What the pages share: the dataset loader with its progress bar, the
augmentation settings in session state, and the live panel of a training job.

UI only: every decision about data, models and jobs is made in catdog_core.
"""

from __future__ import annotations

import re

import streamlit as st

from catdog_core import augment, charts, config, dataset, evaluate, jobs
from catdog_core.augment import AugmentSettings
from catdog_core.errors import CatdogError, DatasetUnavailable

# TensorFlow and Keras are imported here, once: Python runs this module's first import in one
# thread while the other sessions wait for it. Left to the pages, the first requests after a
# server start imported them in several threads at once and broke each other's import
# ("Registering two gradient with name ...", half-initialised modules).
import keras  # noqa: E402,F401
import tensorflow  # noqa: E402,F401

def keep_keras_state_between_runs() -> None:
    """Stop Streamlit from calling keras.backend.clear_session() after every script run.

    That call replaces Keras' per-thread state for all threads at once, so a rerun
    (the live panel polls every second) that ends while the background worker
    builds a model makes its layer names collide ("conv2d is used 2 times").
    The worker owns its models; page runs have nothing to clear.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # a future Streamlit without this module: nothing to undo
        return
    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


keep_keras_state_between_runs()


def run_through_app() -> None:
    """Make sure app.py (navigation and sidebar) wraps the page; every page calls this first.

    Until some session has run app.py's st.navigation, Streamlit serves pages/*.py
    as an old-style pages-directory app, so a bookmarked /training opened right
    after a server start would run alone (wrong menu, no sidebar status), and
    stay so for everyone. Switching to st.navigation mode, as st.navigation
    itself does, and rerunning sends the same URL through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", None):
        PagesManager.uses_pages_directory = False
        st.rerun()

def plain(text) -> str:
    """Text from users (class, file and run names) made safe inside st.markdown: every Markdown
    and HTML character is escaped, so a name like [x](http://...) or ![](...) shows as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])", r"\\\1", str(text)).replace("\n", " ")


SETTINGS_KEY = "augment_settings"
JOB_KEY = "job_id"
SOURCE_KEY = "data_source"  # an uploaded zip's path (set by the Dataset page only), or None: the default
DATA_HINT = (f"The app reads {config.EXPECTED_LAYOUT}. Point {config.ENV_DATA_DIR} at such a "
             "folder or zip and restart the app.")


# ---------------------------------------------------------------- progress and data


class ProgressBar:
    """st.progress fed by catdog_core's progress(done, total, message) callbacks.

    The bar appears on the first callback only, so a cached result shows nothing,
    and it is redrawn only when the percentage or the message changes.
    """

    def __init__(self):
        self.slot = st.empty()
        self.shown = None

    def __call__(self, done: int, total: int, message: str) -> None:
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        if total and "Download" in message:
            text = f"{message}: {done / 1e6:.0f} of {total / 1e6:.0f} MB"
        elif total:
            text = f"{message}: {done:,} of {total:,}"
        else:
            text = f"{message}…"
        key = (int(fraction * 100), message)
        if key != self.shown:
            self.shown = key
            self.slot.progress(fraction, text=text)

    def clear(self) -> None:
        self.slot.empty()


def try_load_data(allow_download: bool = False):
    """(dataset, None) or (None, the CatdogError that stopped it); a progress bar on first load."""
    bar = ProgressBar()
    try:
        with st.spinner("Loading the dataset…"):  # covers TensorFlow's start before the first progress report
            loaded = dataset.load_dataset(data_source(), progress=bar, allow_download=allow_download)
    except CatdogError as exc:
        return None, exc
    finally:
        bar.clear()
    if bar.shown is not None:
        st.rerun()  # a fresh load: rerun once so the sidebar shows it too
    return loaded, None


def data_source() -> str | None:
    """This session's dataset: an uploaded zip of its own classes, or None for the configured one."""
    return st.session_state.get(SOURCE_KEY)


def cached_data():
    """This session's dataset if the process has loaded it already, without any work."""
    return dataset.cached_dataset(data_source())


def fine_tune_marker(name: str, history, from_epoch: int | None = None) -> dict[str, int]:
    """{name: epoch} where fine-tuning starts, for charts.learning_curves(markers=...)."""
    if from_epoch is None:
        from_epoch = next((h["epoch"] - 1 for h in history if h.get("stage") == "fine-tune"), None)
    return {name: from_epoch} if from_epoch is not None else {}


def load_data():
    """The dataset, or None after showing why it is missing and where to fix it."""
    loaded, problem = try_load_data()
    if problem is not None:
        show_data_problem(problem)
    return loaded


def show_data_problem(problem: CatdogError, link_home: bool = True) -> None:
    st.error(str(problem))
    if isinstance(problem, DatasetUnavailable) and link_home:
        st.page_link("pages/home.py", label="Get the dataset on the Home page", icon=":material/download:")
    elif not isinstance(problem, DatasetUnavailable):
        st.caption(DATA_HINT)


def file_uploader(label: str, key: str, multiple: bool = False):
    """st.file_uploader for untrusted files, without Streamlit's extension filter.

    With type=..., a request whose file name lacks an allowed extension (a crafted
    name such as "..") raises inside Streamlit and shows a traceback. catdog_core
    checks every file's content instead (images.load_image, dataset.import_zip),
    which also catches a wrong extension, and answers in one sentence.
    """
    return st.file_uploader(label, accept_multiple_files=multiple, key=key)


def default_run(listing, recipe: str | None = None):
    """The run a page opens on: the best on this session's dataset (see runs.best), never another
    session's uploaded classes."""
    from catdog_core import runs, uploads

    loaded = cached_data()
    if loaded is not None:
        return runs.best(listing, loaded.key, loaded.class_names, recipe)
    source = data_source()
    uploaded = str(uploads.uploads_dir())

    def mine(run) -> bool:
        location = str(run.dataset.get("location", ""))
        return location == source if source else not location.startswith(uploaded)

    return runs.best([r for r in listing if mine(r)], recipe=recipe)


# ---------------------------------------------------------------- augmentation settings


def current_settings() -> AugmentSettings:
    """The settings chosen on the Augmentation page; the post's until then."""
    return st.session_state.get(SETTINGS_KEY) or AugmentSettings()


# ---------------------------------------------------------------- training jobs


def session_job() -> jobs.JobState | None:
    """This session's latest job, else the job the queue is running for anyone."""
    queue = jobs.get_queue()
    job_id = st.session_state.get(JOB_KEY)
    job = queue.get(job_id) if job_id is not None else None
    return job or queue.current()


def submit(spec: jobs.JobSpec) -> None:
    """Queue a job for this session and redraw the page (sidebar included) around it."""
    st.session_state[JOB_KEY] = jobs.get_queue().submit(spec)
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
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22), height=420)
    return fig


def job_panel(job_id: int, where: str) -> None:
    """The live view of one job; polls once a second while it is queued or running."""
    job = jobs.get_queue().get(job_id)
    if job is None:
        return
    every = 1.0 if job.active else None
    st.fragment(_job_view, run_every=every)(job_id, where)


def _saved_run(run_id: str | None):
    from catdog_core import runs
    from catdog_core.errors import CatdogError

    if not run_id:
        return None
    try:
        return runs.find_run(run_id)
    except CatdogError:
        return None


def _job_view(job_id: int, where: str) -> None:
    queue = jobs.get_queue()
    job = queue.get(job_id)
    if job is None:
        st.info("That training job is no longer in the queue; its run, if saved, is in the table below.")
        return
    seen = st.session_state.setdefault("_job_states", {})
    was_active = seen.get(job_id) in (jobs.QUEUED, jobs.RUNNING)
    seen[job_id] = job.state

    spec = job.spec
    total = spec.epochs + spec.fine_tune_epochs
    what = spec.label or f"{spec.recipe}, {total} epochs"
    uses_augmentation = spec.recipe != "baseline"
    st.markdown(f"**Job {job.job_id}: {what}** · recipe `{spec.recipe}` · "
                f"{augment.describe(spec.settings) if uses_augmentation else 'no augmentation'}")

    if job.state == jobs.QUEUED:
        st.info(f"Waiting in the queue at position {job.queue_position}: one training runs at a time.")
    elif job.state == jobs.RUNNING:
        if job.phase == "Training" and job.steps:
            st.progress(job.step / job.steps,
                        text=f"Epoch {job.epoch} of {total}: batch {job.step} of {job.steps}"
                             + (f" · loss {job.batch_loss:.3f} · accuracy {job.batch_accuracy:.1%}"
                                if job.batch_loss is not None else ""))
        elif job.phase_total:
            st.progress(min(job.phase_done / job.phase_total, 1.0),
                        text=f"{job.phase}: {job.phase_done:,} of {job.phase_total:,}")
        else:
            st.progress(0.0, text=f"{job.phase}…")
        done_epochs = len(job.history)
        cols = st.columns(3)
        cols[0].metric("Epochs finished", f"{done_epochs} of {total}")
        estimate = job.eta()
        if estimate is None:
            cols[1].metric("Time left", "after the first batches")
        elif estimate.whole:
            cols[1].metric("Time left", duration_text(estimate.seconds))
        else:
            cols[1].metric("Frozen stage left", duration_text(estimate.seconds),
                           help="Fine-tune epochs run the whole MobileNetV2 and take much longer; "
                                "their time shows once the first of them starts.")
        last = job.history[-1]["val_accuracy"] if job.history else None
        cols[2].metric("Validation accuracy", f"{last:.1%}" if last is not None else "–")

    if job.active:
        if st.session_state.get(f"_stop_asked_{job_id}"):
            st.caption("Stopping after the current batch; finished epochs are kept.")
        elif st.button("Stop" if job.state == jobs.RUNNING else "Cancel", key=f"stop_{where}_{job_id}",
                       icon=":material/stop_circle:",
                       help="Ends after the current batch and keeps the finished epochs."):
            queue.stop(job_id)
            st.session_state[f"_stop_asked_{job_id}"] = True
            st.caption("Stopping after the current batch; finished epochs are kept.")
    elif job.state in (jobs.DONE, jobs.STOPPED):
        run = _saved_run(job.run_id)
        if run is None:
            st.warning(f"{job.phase}.")
        else:
            numbers = (f"validation {evaluate.verdict(run.val_accuracy, run.val_count)}; "
                       f"test {evaluate.verdict(run.test_accuracy, run.test_count)}")
            if job.state == jobs.DONE:
                st.success(f"Finished {len(job.history)} epochs: {numbers}. Saved as run `{run.run_id}`.")
            else:
                st.warning(f"{job.phase}: {numbers}. Saved as run `{run.run_id}`.")
            for note in run.notes:
                st.caption(note)
    elif job.state == jobs.FAILED:
        st.error(job.error or "Training failed.")

    if job.history:
        curves = {spec.recipe: job.history}
        marks = fine_tune_marker(spec.recipe, job.history)
        left, right = st.columns(2)
        left.plotly_chart(legend_below(charts.learning_curves(curves, "accuracy", markers=marks)),
                          key=f"acc_{where}_{job_id}")
        right.plotly_chart(legend_below(charts.learning_curves(curves, "loss", markers=marks)),
                           key=f"loss_{where}_{job_id}")
    elif job.active:
        st.caption("The accuracy and loss curves appear when the first epoch ends.")

    if was_active and not job.active:
        st.rerun()  # the whole page: the new run belongs in the tables and selectors

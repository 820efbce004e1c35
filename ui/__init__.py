"""What the pages share: the page frame (menu, sidebar status, class password),
the dataset loader with its progress bar, the run pickers, and the live panel
of a training job.

UI only: every decision about data, models and jobs is made in catdog_core.
Training never runs here; pages submit jobs to the queue and read it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
from collections import OrderedDict

import streamlit as st

from catdog_core import augment, charts, config, dataset, evaluate, jobs, runs
from catdog_core.augment import AugmentSettings
from catdog_core.errors import CatdogError, DatasetUnavailable

SETTINGS_KEY = "augment_settings"
JOB_KEY = "job_id"
GROUP_KEY = "job_group"
SOURCE_KEY = "data_source"  # an uploaded zip's path (set by the Dataset page only), or None: the default
OWNER_KEY = "owner"
AUTH_KEY = "class_password_ok"
PRESENTER_KEY = "presenter"
DATA_HINT = (f"The app reads {config.EXPECTED_LAYOUT}. Point {config.ENV_DATA_DIR} at such a "
             "folder or zip and restart the app.")

PAGES = [  # (file, title, icon): the app's own menu, drawn by every page
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/dataset.py", "Dataset", ":material/photo_library:"),
    ("pages/augmentation.py", "Augmentation", ":material/flip:"),
    ("pages/training.py", "Training", ":material/model_training:"),
    ("pages/evaluate.py", "Evaluate", ":material/fact_check:"),
    ("pages/classify.py", "Classify", ":material/pets:"),
    ("pages/classes.py", "Your classes", ":material/category:"),
    ("pages/inside.py", "Inside the models", ":material/hub:"),
]


def _preload_live_video() -> None:
    """Load streamlit-webrtc before TensorFlow, if it is installed. Its SRTP library (pylibsrtp,
    through aiortc) kills the whole process with a segmentation fault when it is first loaded
    after TensorFlow (the two bring clashing native crypto symbols); loaded first, both work.
    Pages load TensorFlow only after importing this module, so doing it here is early enough."""
    if "tensorflow" not in sys.modules:
        try:
            import streamlit_webrtc  # noqa: F401
        except ImportError:
            pass


_preload_live_video()


def live_video_streamer():
    """streamlit-webrtc's webrtc_streamer, or None: not installed, or TensorFlow was loaded first
    (then loading it now would crash the server, see _preload_live_video)."""
    if "streamlit_webrtc" not in sys.modules:
        return None
    from streamlit_webrtc import webrtc_streamer

    return webrtc_streamer


def plain(text) -> str:
    """Text from users (class, file and run names) made safe inside st.markdown: every Markdown
    and HTML character is escaped, so a name like [x](http://...) or ![](...) shows as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=%])", r"\\\1", str(text)).replace("\n", " ")


# ---------------------------------------------------------------- the page frame


def _class_password() -> str | None:
    """CATDOG_CLASS_PASSWORD, else `class_password` in Streamlit's secrets; None: no password."""
    chosen = os.environ.get("CATDOG_CLASS_PASSWORD")
    if not chosen:
        try:
            chosen = st.secrets.get("class_password")
        except Exception:  # no secrets file: that is the usual case
            chosen = None
    return str(chosen) if chosen else None


def _password_gate() -> None:
    """With a class password set, nothing but this form shows until the session gives it."""
    password = _class_password()
    if password is None or st.session_state.get(AUTH_KEY):
        return
    st.title("catdog · cats vs dogs")
    st.markdown("This class's dashboard asks for the password your teacher gave you.")
    with st.form("class_password_form"):
        given = st.text_input("Class password", type="password", key="class_password_input")
        sent = st.form_submit_button("Enter", type="primary")
    if sent:
        if hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
            st.session_state[AUTH_KEY] = True
            st.rerun()
        time.sleep(1.0)  # a guess a second, per session
        st.error("That is not the class password.")
    st.stop()


_tf_lock = threading.Lock()


def _tensorflow_once() -> None:
    """Import TensorFlow and Keras in one thread at a time: the first requests after a server
    start otherwise import them in several threads at once and break each other's import."""
    with _tf_lock:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def page_setup() -> None:
    """Every page's first call: the class password, the app's own menu, the sidebar status."""
    _password_gate()
    st.session_state.setdefault(OWNER_KEY, f"session {secrets.token_hex(2)}")
    if st.session_state.get(PRESENTER_KEY):
        # Headings and everything inside them (Streamlit wraps their text), or the rule above shrinks them.
        st.html("<style>html, body, [class*='st-'] {font-size: 1.15rem;} h1, h1 * {font-size: 2.6rem !important;} "
                "h2, h2 * {font-size: 2.0rem !important;} h3, h3 * {font-size: 1.7rem !important;}</style>")
    with st.sidebar:
        for target, title, icon in PAGES:
            st.page_link(target, label=title, icon=icon)
        st.divider()
        _sidebar_status()
    _tensorflow_once()


def _back_to_default() -> None:
    st.session_state.pop(SOURCE_KEY, None)


def _sidebar_status() -> None:
    loaded = cached_data()
    own = data_source() is not None
    if loaded is not None:
        sizes = " · ".join(f"{len(loaded.split(s))} {s}" for s in dataset.SPLITS)
        what = f"your classes ({plain(', '.join(loaded.class_names))}) from " if own else ""
        st.markdown(f"**Data:** {what}{plain(loaded.source.description)}  \n{sizes}")
    elif own:
        st.markdown("**Data:** your own classes (the Dataset page loads them)")
    else:
        st.markdown("**Data:** not loaded yet (Home and Dataset load it)")
    if own:
        st.button("Back to cats and dogs", icon=":material/pets:", on_click=_back_to_default,
                  help="Every page goes back to the default dataset; your upload stays on disk.")
    listing = runs.list_runs()
    st.markdown(f"**Trained runs:** {len(listing.runs)}")
    queue = jobs.get_queue()
    active = queue.active()
    running = [j for j in active if j.state == jobs.RUNNING]
    for job in running:
        st.markdown(f"**Training now:** {plain(job.spec.recipe)}, {job.spec.epochs} epochs ({plain(job.owner)})")
    waiting = len(active) - len(running)
    if waiting:
        st.markdown(f"**Queued:** {waiting} job{'s' if waiting > 1 else ''}")
        jobs.ensure_workers()  # after a server restart, or when a worker went idle
    if active:
        st.page_link("pages/training.py", label="Watch it", icon=":material/monitoring:")
    # The widget's own state is dropped when the page changes; the choice lives in PRESENTER_KEY.
    st.toggle("Presenter mode", key="presenter_toggle", value=bool(st.session_state.get(PRESENTER_KEY)),
              on_change=_keep_presenter, help="Bigger type, images and charts for a projector.")


def _keep_presenter() -> None:
    st.session_state[PRESENTER_KEY] = bool(st.session_state.get("presenter_toggle"))


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


def presenter() -> bool:
    """Presenter mode (the sidebar toggle): bigger type, images and charts, kept for the session."""
    return bool(st.session_state.get(PRESENTER_KEY))


def data_available() -> bool:
    """Whether this session's dataset is on the machine (or at least its zip or download), without work."""
    if cached_data() is not None:
        return True
    try:
        dataset.find_source(data_source(), allow_download=False, unpack=False)
        return True
    except DatasetUnavailable as exc:
        return "not unpacked yet" in str(exc)
    except CatdogError:
        return False


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
    st.error(plain(str(problem)))
    if isinstance(problem, DatasetUnavailable) and link_home:
        st.page_link("pages/home.py", label="Get the dataset on the Home page", icon=":material/download:")
    elif not isinstance(problem, DatasetUnavailable):
        st.caption(DATA_HINT)


def file_uploader(label: str, key: str, multiple: bool = False):
    """st.file_uploader for untrusted files, without Streamlit's extension filter.

    With type=..., a request whose file name lacks an allowed extension (a crafted
    name such as "..") raises inside Streamlit and shows a traceback. catdog_core
    checks every file's content instead (images.decode, uploads.import_zip),
    which also catches a wrong extension, and answers in one sentence.
    """
    return st.file_uploader(label, accept_multiple_files=multiple, key=key)


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


VALIDATION_NOTE = ("Why can validation beat training accuracy? Training accuracy is measured while dropout "
                   "switches off a fifth of the features and augmentation changes every photo, and it averages "
                   "over the whole epoch while the model was still learning; validation is measured after the "
                   "epoch, on unchanged photos, with dropout off.")
NEW_RUNS_KEY = "_new_runs"  # runs this session's jobs saved, newest last


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


# ---------------------------------------------------------------- augmentation settings


def current_settings() -> AugmentSettings:
    """The settings chosen on the Augmentation page; the post's until then."""
    return st.session_state.get(SETTINGS_KEY) or AugmentSettings()


# ---------------------------------------------------------------- training jobs


def owner() -> str:
    return st.session_state.setdefault(OWNER_KEY, f"session {secrets.token_hex(2)}")


def session_job() -> jobs.JobState | None:
    """The job this session follows: its own latest, else the one running for anyone."""
    queue = jobs.get_queue()
    job_id = st.session_state.get(JOB_KEY)
    group = st.session_state.get(GROUP_KEY)
    if group:
        mine = queue.group(group)
        running = next((j for j in mine if j.state == jobs.RUNNING), None)
        if running is not None:
            return running  # reproducing the post: follow the model being trained now
    job = queue.get(job_id) if job_id is not None else None
    return job or queue.current()


def submit(spec: jobs.JobSpec) -> None:
    """Queue a job for this session and redraw the page (sidebar included) around it."""
    st.session_state[JOB_KEY] = jobs.submit(spec, owner=owner())
    st.session_state.pop(GROUP_KEY, None)
    st.rerun()


def submit_group(specs: list[jobs.JobSpec], label: str) -> None:
    group, ids = jobs.submit_group(specs, owner=owner(), label=label)
    st.session_state[GROUP_KEY] = group
    st.session_state[JOB_KEY] = ids[0]
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


_CURVES: OrderedDict = OrderedDict()  # (content of the history, metric, markers, size) -> figure
_CURVES_LOCK = threading.Lock()


def _job_curves(curves: dict, metric: str, marks: dict):
    """A job's curve as a figure, built once per finished epoch: the panel redraws every second in
    every tab that follows the job, and building a plotly figure is slow Python that holds the GIL."""
    large = presenter()
    key = (hashlib.sha1(json.dumps(curves, sort_keys=True, default=str).encode()).hexdigest(), metric,
           tuple(sorted(marks.items())), large)
    with _CURVES_LOCK:
        if key in _CURVES:
            _CURVES.move_to_end(key)
            return _CURVES[key]
    fig = legend_below(charts.learning_curves(curves, metric, markers=marks, large=large))
    with _CURVES_LOCK:
        _CURVES[key] = fig
        while len(_CURVES) > 32:
            _CURVES.popitem(last=False)
    return fig


# Every script run, a fragment's too, ends in Streamlit calling keras.backend.clear_session(), which
# collects garbage and clears TensorFlow's kernel cache: about 0.2-0.5 s holding the GIL. A panel
# redrawn every second in several tabs starved the tab that was classifying a photo, so panels poll
# every two seconds and the queue view every three.
PANEL_SECONDS = 2.0
QUEUE_SECONDS = 3.0


def job_panel(job_id: int, where: str) -> None:
    """The live view of one job; polls the queue every PANEL_SECONDS while it is queued or running."""
    job = jobs.get_queue().get(job_id)
    if job is None:
        return
    every = PANEL_SECONDS if job.active else None
    st.fragment(_job_view, run_every=every)(job_id, where)


def _saved_run(run_id: str | None):
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
    total = job.epochs_total or spec.epochs + spec.fine_tune_epochs
    uses_augmentation = spec.recipe != "baseline"
    st.markdown(f"**Job {job.job_id}: {plain(job.title)}** · recipe `{spec.recipe}` · "
                f"{augment.describe(spec.settings) if uses_augmentation else 'no augmentation'}")

    if job.state == jobs.QUEUED:
        st.info(f"Waiting in the queue at position {job.queue_position}: jobs train one after another.")
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
        if job.stop_requested:
            st.caption("Stopping after the current batch; finished epochs are kept.")
        elif st.button("Stop" if job.state == jobs.RUNNING else "Cancel", key=f"stop_{where}_{job_id}",
                       icon=":material/stop_circle:",
                       help="Ends after the current batch and keeps the finished epochs."):
            queue.stop(job_id)
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
                st.caption(plain(note))
    elif job.state == jobs.FAILED:
        st.error(plain(job.error or "Training failed."))

    if job.history:
        curves = {spec.recipe: job.history}
        marks = fine_tune_marker(spec.recipe, job.history)
        left, right = st.columns(2)
        left.plotly_chart(_job_curves(curves, "accuracy", marks), key=f"acc_{where}_{job_id}")
        right.plotly_chart(_job_curves(curves, "loss", marks), key=f"loss_{where}_{job_id}")
        st.caption(VALIDATION_NOTE)
    elif job.active:
        st.caption("The accuracy and loss curves appear when the first epoch ends.")

    if was_active and not job.active:
        if job.run_id and job.owner == owner():
            st.session_state.setdefault(NEW_RUNS_KEY, []).append(job.run_id)  # pickers select it
        st.rerun()  # the whole page: the new run belongs in the tables and selectors


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
    if not active:
        st.rerun()  # the whole page: the queue view goes, the new runs come into the tables
    for job in active:
        cols = st.columns([3, 2, 2, 1.4], vertical_alignment="center")
        mine = " (yours)" if job.owner == owner() else ""
        cols[0].markdown(f"**{job.job_id}** · {plain(job.title)}")
        cols[1].markdown(f"{plain(job.owner or 'unknown')}{mine}")
        if job.state == jobs.RUNNING:
            estimate = job.eta()
            left = duration_text(estimate.seconds) if estimate is not None else "timing…"
            cols[2].markdown(f"training, {left} left" + ("" if estimate is None or estimate.whole else " (frozen)"))
        else:
            cols[2].markdown(f"queued, position {job.queue_position}")
        if job.stop_requested:
            cols[3].caption("stopping")
        else:  # callbacks, not st.rerun: a click may come in a fragment run or in a whole-page run
            cols[3].button("Stop", key=f"queue_stop_{job.job_id}", icon=":material/stop_circle:",
                           on_click=queue.stop, args=(job.job_id,))
    if st.session_state.get("_confirm_stop_all"):
        st.warning(f"Stop all {len(active)} jobs? Running ones keep their finished epochs; queued ones are cancelled.")
        yes, no = st.columns(2)
        yes.button("Yes, stop them all", type="primary", key="stop_all_yes", on_click=_stop_all, args=(True,))
        no.button("No, keep them", key="stop_all_no", on_click=_stop_all, args=(False,))
    elif len(active) > 1:
        st.button("Stop all…", key="stop_all", icon=":material/cancel:",
                  on_click=_ask_stop_all)


def _ask_stop_all() -> None:
    st.session_state["_confirm_stop_all"] = True


def _stop_all(confirmed: bool) -> None:
    if confirmed:
        jobs.get_queue().stop_all()
    st.session_state["_confirm_stop_all"] = False

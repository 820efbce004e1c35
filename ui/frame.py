"""The page frame every page draws first: the class password, the app's own menu and the
sidebar status (data, runs, the job training now, presenter mode)."""

from __future__ import annotations

import atexit
import hmac
import os
import sys
import threading
import time
from pathlib import Path

import streamlit as st

from catdog_core import board, config, dataset, fileio, gathering, jobs, runs

from . import classroom
from .data import cached_data
from .jobs import PANEL_SECONDS, duration_text, shown_owner
from .state import (AUTH_KEY, PRESENTER_KEY, ROLE_KEY, SOURCE_KEY, STUDENT, TEACHER, UNREADABLE_NOTE, data_source,
                    owner, state_readable)
from .text import plain

QUIET_S = 2.0  # seconds without a page run after which the server gives its freed heap back (as the lanes do)
_heap = fileio.QuietTrim(QUIET_S)

PAGES = [  # (file, title, icon): the app's own menu, drawn by every page
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/dataset.py", "Dataset", ":material/photo_library:"),
    ("pages/augmentation.py", "Augmentation", ":material/flip:"),
    ("pages/training.py", "Training", ":material/model_training:"),
    ("pages/evaluate.py", "Evaluate", ":material/fact_check:"),
    ("pages/classify.py", "Classify", ":material/pets:"),
    ("pages/classes.py", "Your classes", ":material/category:"),
    ("pages/inside.py", "Inside the models", ":material/hub:"),
    ("pages/whatif.py", "What if", ":material/tune:"),
    ("pages/board.py", "Class board", ":material/leaderboard:"),
    ("pages/suspects.py", "Label check", ":material/rule:"),
    ("pages/join.py", "Join", ":material/qr_code_2:"),
]


MENU_KEY = "_menu_pages"


def menu_pages() -> list:
    """This session's st.Page of each menu entry (Home the default), made in its first run only.
    Made anew in every run, twelve st.Page resolved their files on the disk, and every page link of
    a path resolved it again: a seventh of a class's script time in the server (bench_class). Not
    shared between sessions: st.navigation marks the page it returns as runnable, once, on the
    object itself."""
    made = st.session_state.get(MENU_KEY)
    if made is None:
        made = st.session_state[MENU_KEY] = [st.Page(target, title=title, icon=icon, default=i == 0)
                                             for i, (target, title, icon) in enumerate(PAGES)]
    return made


def _secret_setting(chosen: str | None, secret: str) -> str | None:
    """The environment's setting, else that key of Streamlit's secrets; None when neither is set."""
    if not chosen:
        try:
            chosen = st.secrets.get(secret)
        except Exception:  # no secrets file: that is the usual case
            chosen = None
    return str(chosen) if chosen else None


def class_password() -> str | None:
    return _secret_setting(config.settings().class_password, "class_password")


def _teacher_password() -> str | None:
    """The teacher's own password in a class; None: no one in the class is the teacher."""
    return _secret_setting(config.settings().teacher_password, "teacher_password")


def _matches(given: str, password: str | None) -> bool:
    return password is not None and hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8"))


def _password_gate() -> None:
    """With a class password set, nothing but this form shows until the session gives it (the
    teacher password also opens it, as the teacher). Without one, the one user is the teacher."""
    password = class_password()
    if password is None:
        st.session_state[ROLE_KEY] = TEACHER
        return
    if st.session_state.get(AUTH_KEY):
        return
    st.title("catdog · cats vs dogs")
    st.markdown("This class's dashboard asks for the password your teacher gave you.")
    with st.form("class_password_form"):
        given = st.text_input("Class password", type="password", key="class_password_input")
        sent = st.form_submit_button("Enter", type="primary")
    if sent:
        teacher = _matches(given, _teacher_password())
        if teacher or _matches(given, password):
            st.session_state[ROLE_KEY] = TEACHER if teacher else STUDENT
            st.session_state[AUTH_KEY] = True
            st.rerun()
        time.sleep(1.0)  # a guess a second, per session
        st.error("That is not the class password.")
    st.stop()


@st.cache_resource(show_spinner=False)
def _warm_start(home: str) -> bool:
    """Once per server and home: start the training workers, the first of which decodes the default
    dataset and caches MobileNetV2's features before anyone asks, so the first Quick transfer only
    trains a head (every other worker starts TensorFlow and warms up on what the first one left)."""
    if not jobs.warming_wanted() or jobs.backend() != "local":
        return False
    try:
        return jobs.ensure_workers(warm=True) > 0
    except OSError:
        return False  # a read-only home: the first job starts its worker as before


@st.cache_resource(show_spinner=False)
def _sweep_gathered(home: str) -> bool:
    """Once per server and home: photos gathered on Your classes that no session can reach any more go."""
    gathering.sweep(Path(home))
    return True


@st.cache_resource(show_spinner=False)
def _note_at_exit(home: str) -> bool:
    """Once per server and home: when `streamlit run` stops, its terminal says that the training workers
    live on (jobs outlive the server) and how to stop them."""
    atexit.register(_say_left_running, Path(home))
    return True


def _say_left_running(home: Path) -> None:
    note = jobs.left_running_note(home)
    if note:
        print(note, file=sys.stderr, flush=True)


@st.fragment(run_every=1.5)
def _warm_progress() -> None:
    status = jobs.warm_status()
    if status is None:
        return
    total, done = int(status.get("total") or 0), int(status.get("done") or 0)
    text = f"Getting ready for Quick transfer: {plain(str(status.get('phase', '')))}"
    st.progress(min(1.0, done / total) if total else 0.0, text=text + (f" ({done}/{total})" if total else ""))


def page_setup() -> None:
    """Every page's first call: the class password (the pass, under `catdog classroom`), the app's
    own menu, the sidebar status. A session a forged message made unreadable ends here."""
    _heap.busy()
    if not state_readable():
        st.markdown(UNREADABLE_NOTE)
        st.stop()
    if classroom.served():
        classroom.pass_gate()
    else:
        _password_gate()
    _warm_start(str(config.catdog_home()))
    _note_at_exit(str(config.catdog_home()))
    _sweep_gathered(str(config.catdog_home()))
    owner()
    if st.session_state.get(PRESENTER_KEY):
        # Headings and everything inside them (Streamlit wraps their text), or the rule above shrinks them.
        st.html("<style>html, body, [class*='st-'] {font-size: 1.15rem;} h1, h1 * {font-size: 2.6rem !important;} "
                "h2, h2 * {font-size: 2.0rem !important;} h3, h3 * {font-size: 1.7rem !important;} "
                # A metric's value is its point: the rule above shrank it to body size.
                "[data-testid='stMetricValue'], [data-testid='stMetricValue'] * {font-size: 2.9rem !important;}"
                "</style>")
    with st.sidebar:
        for page in menu_pages():
            st.page_link(page, label=page.title, icon=page.icon)
        st.divider()
        _sidebar_status()


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
    if jobs.warm_status() is not None:
        _warm_progress()
    listing = runs.list_runs()
    st.markdown(f"**Trained runs:** {len(listing.runs)}")
    active = _active_jobs()
    # Redrawn on the job panel's beat while anything trains: a line drawn once per page run said
    # "Queued" long after the job had started.
    st.fragment(_sidebar_jobs, run_every=PANEL_SECONDS if active else None)()
    # The widget's own state is dropped when the page changes; the choice lives in PRESENTER_KEY.
    st.toggle("Presenter mode", key="presenter_toggle", value=bool(st.session_state.get(PRESENTER_KEY)),
              on_change=_keep_presenter, help="Bigger type, images and charts for a projector.")


_active_memo: dict = {}  # {queue home: (when, the active jobs)}, for every session of this server
_active_lock = threading.Lock()
ACTIVE_SECONDS = 1.0


def _written(path: Path) -> tuple:
    """When the queue's files last changed: any write (a job queued, started, a batch reported) moves it."""
    stamps = []
    for name in (path, path.with_name(path.name + "-wal")):
        try:
            found = os.stat(name)
            stamps.append((found.st_mtime_ns, found.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def _active_jobs() -> list:
    """The queue's active jobs, shared by every session of this server until the queue is written or
    a second passes: the sidebar of each page run of thirty students read them from SQLite (with
    their histories) every time."""
    queue = jobs.get_queue()
    key, written = str(queue.home), _written(queue.path)
    now = time.monotonic()
    with _active_lock:
        held = _active_memo.get(key)
        if held is not None and held[1] == written and now - held[0] < ACTIVE_SECONDS:
            return held[2]
    found = queue.active()
    with _active_lock:
        _active_memo[key] = (now, written, found)
        while len(_active_memo) > 8:
            _active_memo.pop(next(iter(_active_memo)))
    return found


def _sidebar_jobs() -> None:
    active = _active_jobs()
    running = [j for j in active if j.state == jobs.RUNNING]
    known = board.names() if running else {}
    for job in running:
        estimate = job.eta()
        left = f" · {duration_text(estimate.seconds)} left" if estimate is not None and estimate.whole else ""
        who = plain(shown_owner(job.owner, known))
        epochs = job.epochs_total
        what = (f"{plain(job.spec.recipe)}, {epochs} epoch{'s' if epochs != 1 else ''}" if job.spec.kind == "train"
                else plain(job.spec.label or job.spec.kind))  # a learning curve, an augmentation check
        st.markdown(f"**Training now:** {what} ({who}){left}")
    waiting = len(active) - len(running)
    if waiting:
        st.markdown(f"**Waiting in the queue:** {waiting} job{'s' if waiting > 1 else ''}")
        jobs.ensure_workers()  # after a server restart, or when a worker went idle
    if active:
        st.page_link("pages/training.py", label="Watch it", icon=":material/monitoring:")


def _keep_presenter() -> None:
    st.session_state[PRESENTER_KEY] = bool(st.session_state.get("presenter_toggle"))



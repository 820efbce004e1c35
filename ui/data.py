"""The session's dataset: loaded through the model service with a progress bar, then read here
from the shared disk cache; its problems shown in one sentence; uploads taken as bytes."""

from __future__ import annotations

import streamlit as st

from catdog_core import config, dataset, images, sources
from catdog_core.errors import CatdogError, DatasetUnavailable, NotUnpacked

from .model import service
from .state import SOURCE_KEY, data_source
from .text import plain

DATA_HINT = (f"The app reads {config.EXPECTED_LAYOUT}. Point {config.ENV_DATA_DIR} at such a "
             "folder or zip and restart the app.")


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
        if total and message == sources.DOWNLOADING:
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


def cached_data():
    """This session's dataset if this server has opened it already and no file changed, without work."""
    return dataset.cached_dataset(data_source())


def try_load_data(allow_download: bool = False):
    """(dataset, None) or (None, the CatdogError that stopped it); a progress bar on first load."""
    held = cached_data()
    if held is not None:
        return held, None
    bar = ProgressBar()
    try:
        with st.spinner("Loading the dataset…"):  # covers the model service's start before the first report
            loaded = service.load_dataset(data_source(), progress=bar, allow_download=allow_download)
    except CatdogError as exc:
        return None, exc
    finally:
        bar.clear()
    if st.session_state.get("_opened_dataset") != loaded.key:
        st.session_state["_opened_dataset"] = loaded.key
        st.rerun()  # newly opened in this server: rerun once so the sidebar shows it too
    return loaded, None


def use_data(source: str) -> None:
    """Switch this session to another dataset (an uploaded zip's path), opened before the page is
    redrawn so that the sidebar and every page show it at once."""
    st.session_state[SOURCE_KEY] = str(source)
    try_load_data()
    st.rerun()


def load_data():
    """The dataset, or None after showing why it is missing and where to fix it."""
    loaded, problem = try_load_data()
    if problem is not None:
        show_data_problem(problem)
    return loaded


def data_available() -> bool:
    """Whether this session's dataset is on the machine (or at least its zip or download), without work."""
    if cached_data() is not None:
        return True
    try:
        dataset.find_source(data_source(), allow_download=False, unpack=False)
        return True
    except NotUnpacked:
        return True
    except CatdogError:
        return False


def show_data_problem(problem: CatdogError, link_home: bool = True) -> None:
    st.error(plain(str(problem)))
    if isinstance(problem, DatasetUnavailable) and link_home:
        st.page_link("pages/home.py", label="Get the dataset on the Home page", icon=":material/download:")
    elif not isinstance(problem, DatasetUnavailable):
        st.caption(DATA_HINT)


def file_uploader(label: str, key: str, multiple: bool = False, limit: int = images.MAX_UPLOAD_BYTES):
    """st.file_uploader for untrusted files, without Streamlit's extension filter, saying the limit
    catdog_core applies to each file (`limit` bytes: a photo's by default; a zip's for zips), not the
    server's upload ceiling (.streamlit/config.toml), which is the largest of them.

    With type=..., a request whose file name lacks an allowed extension (a crafted
    name such as "..") raises inside Streamlit and shows a traceback. catdog_core
    checks every file's content instead (images.decode, uploads.import_zip),
    which also catches a wrong extension, and answers in one sentence.
    """
    return st.file_uploader(label, accept_multiple_files=multiple, key=key, max_upload_size=limit // 2**20)


def photo_drop(placeholder: str, key: str, limit: int = images.MAX_UPLOAD_BYTES) -> tuple[list, str]:
    """Photos handed over once: st.chat_input with files, whose files Streamlit drops from the server's
    memory as soon as a run reads them. st.file_uploader keeps every file it ever held until the
    session ends, new key or not: 30 phone photos on Your classes were +366 MB of the web server.

    Returns ([(name, bytes)], typed text) on the run after a submit, else ([], ""). Like file_uploader,
    no extension filter: catdog_core checks each file's content and says why it refuses one.
    """
    given = st.chat_input(placeholder, key=key, accept_file="multiple", max_upload_size=limit // 2**20)
    if not given:
        return [], ""
    return [(f.name, f.getvalue()) for f in given.files], str(given.text or "")

"""catdog: a teaching dashboard that follows TensorFlow's cats-vs-dogs transfer learning post.

    streamlit run app.py

This file only sets up navigation and the sidebar status; each page lives in pages/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the log

import streamlit as st  # noqa: E402

from catdog_core import dataset, jobs, runs  # noqa: E402
from pages import _ui  # noqa: E402,F401  (also keeps Keras' state between runs, see there)

st.set_page_config(page_title="catdog · cats vs dogs", page_icon="🐾", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/photo_library:"),
    st.Page("pages/augmentation.py", title="Augmentation", icon=":material/flip:"),
    st.Page("pages/training.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("pages/classify.py", title="Classify", icon=":material/pets:"),
]
page = st.navigation(PAGES)

def _back_to_default() -> None:
    st.session_state.pop(_ui.SOURCE_KEY, None)


with st.sidebar:
    with st.spinner("Looking for the dataset…"):  # shown only if it takes over half a second
        loaded = _ui.cached_data()
    own = _ui.data_source() is not None
    if loaded is not None:
        sizes = " · ".join(f"{len(loaded.split(s))} {s}" for s in dataset.SPLITS)
        what = f"your classes ({', '.join(loaded.class_names)}) from " if own else ""
        st.markdown(f"**Data:** {what}{loaded.source.description}  \n{sizes}")
    elif own:
        st.markdown("**Data:** your own classes (the Dataset page loads them)")
    else:
        st.markdown("**Data:** not loaded yet (Home and Dataset load it)")
    if own:
        st.button("Back to cats and dogs", icon=":material/pets:", on_click=_back_to_default,
                  help="Every page goes back to the default dataset; your upload stays on disk.")
    listing = runs.list_runs()
    st.markdown(f"**Trained runs:** {len(listing.runs)}")
    running = jobs.get_queue().current()
    if running is not None:
        st.markdown(f"**Training now:** {running.spec.recipe}, {running.spec.epochs} epochs")
        st.page_link("pages/training.py", label="Watch it", icon=":material/monitoring:")

page.run()

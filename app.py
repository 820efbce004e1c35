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
    st.Page("pages/classify.py", title="Classify", icon=":material/pets:"),
]
page = st.navigation(PAGES)

with st.sidebar:
    with st.spinner("Looking for the dataset…"):  # shown only if it takes over half a second
        loaded = dataset.cached_dataset()
    if loaded is not None:
        sizes = " · ".join(f"{len(loaded.split(s))} {s}" for s in dataset.SPLITS)
        st.markdown(f"**Data:** {loaded.source.description}  \n{sizes}")
    else:
        st.markdown("**Data:** not loaded yet (Home and Dataset load it)")
    listing = runs.list_runs()
    st.markdown(f"**Trained runs:** {len(listing.runs)}")
    running = jobs.get_queue().current()
    if running is not None:
        st.markdown(f"**Training now:** {running.spec.recipe}, {running.spec.epochs} epochs")
        st.page_link("pages/training.py", label="Watch it", icon=":material/monitoring:")

page.run()

"""catdog: a teaching dashboard that follows TensorFlow's cats-vs-dogs transfer learning post.

    streamlit run app.py

This file only sets up navigation; each page lives in pages/ and draws the app's
own menu and the sidebar status first (ui.page_setup), so a bookmarked page
opened before anyone visited the home page looks the same as one reached from it.
"""

import streamlit as st

st.set_page_config(page_title="catdog · cats vs dogs", page_icon="🐾", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/photo_library:"),
    st.Page("pages/augmentation.py", title="Augmentation", icon=":material/flip:"),
    st.Page("pages/training.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("pages/classify.py", title="Classify", icon=":material/pets:"),
    st.Page("pages/classes.py", title="Your classes", icon=":material/category:"),
    st.Page("pages/inside.py", title="Inside the models", icon=":material/hub:"),
    st.Page("pages/whatif.py", title="What if", icon=":material/tune:"),
    st.Page("pages/board.py", title="Class board", icon=":material/leaderboard:"),
    st.Page("pages/suspects.py", title="Label check", icon=":material/rule:"),
    st.Page("pages/join.py", title="Join", icon=":material/qr_code_2:"),
]
st.navigation(PAGES, position="hidden").run()  # the menu itself is drawn by ui.page_setup

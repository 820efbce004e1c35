"""catdog: a teaching dashboard that follows TensorFlow's cats-vs-dogs transfer learning post.

    streamlit run app.py

This file only sets up navigation over the menu (ui.frame.PAGES); each page lives
in pages/ and draws the app's own menu and the sidebar status first
(ui.page_setup), so a bookmarked page opened before anyone visited the home page
looks the same as one reached from it.
"""

import streamlit as st

import ui

st.set_page_config(page_title="catdog · cats vs dogs", page_icon="🐾", layout="wide")

st.navigation(ui.menu_pages(), position="hidden").run()  # the menu itself is drawn by ui.page_setup

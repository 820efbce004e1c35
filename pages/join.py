"""Join: what the projector shows while students come in, the QR code of the class's https
address, the address, the class password, and what the certificate warning is. Never the
teacher password."""

import streamlit as st

from catdog_core import classroom
import ui

ui.page_setup()

st.title("Join the class")
info = classroom.server_info()
if info is None or not info.urls:
    st.info("This app is not being served to a class now. Start it with `catdog classroom` (in a terminal: "
            "`python -m catdog_core classroom`): this page then shows the QR code to scan, the address to "
            "type and the class password.")
    st.stop()

url, others = info.urls[0], info.urls[1:]
code, words = st.columns([2, 3], gap="large", vertical_alignment="center")
code.image(classroom.qr_png(url), caption="Scan it with a phone's camera", width="stretch")
with words:
    st.markdown("**Open**")
    st.markdown(f"## {url}")  # the class's own address (server_info keeps only https:// ones): a link
    if others:
        st.caption("or " + " · ".join(others))
    password = ui.class_password()
    if password:
        st.markdown("**Class password**")
        st.markdown(f"## `{password}`" if "`" not in password else f"## {ui.plain(password)}")
st.markdown(ui.plain(classroom.CERTIFICATE_WARNING))
if info.fingerprint:
    st.caption(f"The certificate's fingerprint (in the browser's details) starts with {info.fingerprint[:23]}.")

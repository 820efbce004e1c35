"""The web tier's own helpers, on their own (AppTest of a tiny script each)."""

from streamlit.testing.v1 import AppTest


def _refusals_script():
    import streamlit as st

    import ui
    from catdog_core.errors import InvalidSettings

    with ui.refusal("photo.jpg: ") as said:
        raise InvalidSettings("not a photo")
    st.write(f"went on after {type(said.error).__name__}")
    with ui.refusal() as quiet:
        st.write("nothing refused")
    st.write(f"quiet error: {quiet.error}")
    try:
        with ui.refusal():
            raise ValueError("a bug, not a refusal")
    except ValueError:
        st.write("a bug still raises")
    with ui.refusal(show=st.caption):
        raise InvalidSettings("a quiet note")
    with ui.refusal(stop=True):
        raise InvalidSettings("stops here")
    st.write("never drawn")


def test_a_refusal_is_its_sentence_and_the_page_goes_on_or_stops_as_asked():
    at = AppTest.from_function(_refusals_script).run(timeout=60)
    assert not at.exception
    assert [e.value for e in at.error] == ["photo\\.jpg\\: not a photo", "stops here"]
    shown = [m.value for m in at.markdown]
    assert "went on after InvalidSettings" in shown and "nothing refused" in shown
    assert "quiet error: None" in shown and "a bug still raises" in shown
    assert "never drawn" not in shown
    assert [c.value for c in at.caption] == ["a quiet note"]

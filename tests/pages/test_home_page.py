"""The Home page through Streamlit's AppTest, on the small synthetic dataset (as every file of
tests/pages: app.py first, then AppTest.switch_page; each test waits for its jobs)."""

from __future__ import annotations

from support.pages import data  # noqa: F401  (fixtures)
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import button, open_page, texts


def test_home_shows_steps_data_and_runs(data):
    at = open_page()
    assert at.title[0].value.startswith("Cats vs dogs")
    assert len(at.get("page_link")) >= 5
    body = " ".join(texts(at.markdown))
    assert "local folder" in body and "cats, dogs" in body
    assert "No run has been trained yet." in body
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "48 train" in sidebar and "15 validation" in sidebar and "5 test" in sidebar
    assert "Trained runs:** 0" in sidebar
    assert not at.error


def test_home_without_data_offers_download_and_explains_failure():
    # The download runs in the model service, where the tests' network guard refuses it for real.
    at = open_page()
    assert "not on this machine yet" in " ".join(texts(at.info))
    button(at, "Download the dataset").click().run()
    assert not at.exception
    assert any("dataset is not available" in e and "CATDOG_DATA_DIR" in e for e in texts(at.error))
    # The other pages say the same instead of failing.
    at.switch_page("pages/dataset.py").run()
    assert not at.exception
    assert any("CATDOG_DATA_DIR" in e for e in texts(at.error))

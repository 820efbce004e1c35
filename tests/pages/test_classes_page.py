"""Your classes through AppTest: a zip of one's own classes, then back to cats and dogs."""

from __future__ import annotations

from catdog_core import jobs
from support.pages import data  # noqa: F401  (fixtures)
from support.pictures import zip_of_classes
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import button, gallery_classes, open_page, session_job_id, texts


def test_own_classes_upload_then_back_to_cats_and_dogs(data):
    at = open_page("dataset")
    at.file_uploader(key="own_classes_zip").set_value(("bad.zip", b"not a zip at all", "application/zip")).run()
    button(at, "Use these classes").click().run()
    assert not at.exception
    assert any("not a zip archive" in e for e in texts(at.error))
    assert "data_source" not in at.session_state

    at.file_uploader(key="own_classes_zip").set_value(("fruit", b"PK but no zip", "application/zip")).run()
    assert not at.exception, at.exception  # no extension: refused by content, not by Streamlit
    button(at, "Use these classes").click().run()
    assert not at.exception and any("not a zip archive" in e for e in texts(at.error))

    at.file_uploader(key="own_classes_zip").set_value(("fruit.zip", zip_of_classes(n=10), "application/zip")).run()
    button(at, "Use these classes").click().run()
    assert not at.exception and not at.error
    source = at.session_state["data_source"]
    assert gallery_classes(at) == ["apples"] * 3 + ["pears"] * 3 + ["plums"] * 3
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "your classes (apples, pears, plums)" in sidebar and "fruit" in sidebar

    at.switch_page("pages/training.py").run()  # jobs train on the chosen classes
    button(at, "Quick transfer").click().run()
    job = jobs.get_queue().get(session_job_id(at))
    jobs.get_queue().stop(job.job_id)
    assert job.spec.data == source

    button(at, "Back to cats and dogs").click().run()
    at.switch_page("pages/dataset.py").run()
    assert not at.exception
    assert "data_source" not in at.session_state
    assert gallery_classes(at) == ["cats"] * 3 + ["dogs"] * 3
    assert "your classes" not in " ".join(texts(at.sidebar.markdown))

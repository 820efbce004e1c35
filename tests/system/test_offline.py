"""The app with no network (conftest's socket guard) and no local copies, then with local copies.

Nothing network-related is faked here: the real dataset download and the real
Keras ImageNet-weights download run and fail because no test may leave this
machine. What is checked is that every page still renders, says what is missing
and how to provide it, fails fast, leaves no partial download behind, and that
with local copies (CATDOG_DATA_DIR, CATDOG_BASE_WEIGHTS) everything works offline.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from catdog_core import config, dataset, jobs, runs
from conftest import button, open_page, photo_bytes, session_job_id, start_training, texts, wait_for
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)

HOW = ("CATDOG_DATA_DIR", "train/ and validation/")


def everything(at) -> str:
    """All the text a user can read on the page, sidebar included."""
    parts = []
    for kind in ("title", "markdown", "caption", "info", "warning", "error", "success"):
        parts += texts(getattr(at, kind))
    parts += [str(b.label) for b in at.button]
    return "\n".join(parts)


def app_pages() -> list[str]:
    """The page files app.py's st.navigation lists (the menu, ui.frame.PAGES), so a new page is not
    left out here."""
    from ui.frame import PAGES as MENU

    return [Path(target).stem for target, _title, _icon in MENU]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No data, an empty KERAS_HOME, no weights setting (so Keras would download 'imagenet')."""
    monkeypatch.delenv("CATDOG_DATA_DIR", raising=False)
    monkeypatch.delenv("CATDOG_BASE_WEIGHTS", raising=False)
    keras_home = Path(config.keras_home())
    assert not keras_home.exists() or not any(keras_home.rglob("*"))
    dataset.clear_cache()
    return keras_home


PAGES = app_pages()
NEEDS_DATA = ["dataset", "augmentation", "inside", "suspects"]  # these load the dataset to show anything
# What each other page says with no data, no weights and no run: what is missing, and what to do.
SAYS = {
    "whatif": "There is no trained model yet: the Training page's Quick transfer makes one",
    "board": "No run on this data yet. Train one on the Training page",
    "classes": "No class yet: name one on the left.",  # your own classes need no dataset
    "join": "This app is not being served to a class now. Start it with `catdog classroom`",
}
KNOWN = ["home", "training", "evaluate", "classify", *NEEDS_DATA, *SAYS]


def test_navigation_lists_the_pages_checked_here():
    assert sorted(PAGES) == sorted(KNOWN), "a page was added or removed: say below what it shows offline"


def _open(page: str):
    at = open_page(None if page == "home" else page)
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_offline_and_says_what_is_missing(offline, page):
    at = _open(page)
    body = everything(at)
    sidebar = "\n".join(texts(at.sidebar.markdown))
    assert "not loaded yet" in sidebar and "Trained runs:** 0" in sidebar
    if page == "home":
        # Home offers the download; how to use a local copy comes with its failure (next test).
        assert any("not on this machine yet" in i and config.DATA_URL in i for i in texts(at.info))
        assert button(at, "Download the dataset")
    elif page in NEEDS_DATA:
        assert len(at.error) == 1
        message = texts(at.error)[0]
        assert "not available" in message and all(h in message for h in HOW)
        assert "CATDOG_BASE_WEIGHTS" in message  # what the transfer recipe needs offline, too
        assert "\n" not in message and "Traceback" not in message
        assert at.get("page_link")  # "Get the dataset on the Home page"
    elif page == "training":
        assert not at.error and button(at, "Start") and button(at, "Quick transfer")
        assert "Keras summary" in [e.label for e in at.expander]
    elif page == "classify":  # no model, and no data to train one: no button that cannot work
        assert any("no trained model yet, and no dataset" in i for i in texts(at.info)), texts(at.info)
        assert not [b for b in at.button if b.label == "Train a quick model now"]
    elif page == "evaluate":
        assert any("no trained run" in i for i in texts(at.info)) and at.get("page_link")
    else:
        assert not at.error and any(i.startswith(SAYS[page]) for i in texts(at.info)), texts(at.info)
    assert "Traceback" not in body


def test_evaluate_with_a_run_but_no_data_says_how(offline, trained_transfer):
    data, result = trained_transfer
    runs.save_run(result, data.describe())
    at = _open("evaluate")
    assert len(at.error) == 1 and all(h in texts(at.error)[0] for h in HOW), texts(at.error)


def test_training_without_data_fails_as_a_job_that_says_how(offline):
    """Training and Classify do not load the data themselves: the job's failure explains it."""
    at = _open("training")
    job_id = start_training(at, "baseline", 1)
    wait_for(at, lambda at: at.error, timeout=60)
    job = jobs.get_queue().get(job_id)
    assert job.state == jobs.FAILED
    message = texts(at.error)[0]
    assert message == job.error and "CATDOG_DATA_DIR" in message and "\n" not in message


def test_home_download_fails_fast_and_leaves_nothing_behind(offline):
    at = _open("home")
    started = time.monotonic()
    button(at, "Download the dataset").click().run()
    seconds = time.monotonic() - started
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert len(errors) == 1, errors
    message = errors[0]
    assert "download failed" in message and config.DATA_URL in message
    assert all(h in message for h in HOW), message  # how to use a local copy
    assert "\n" not in message and "Traceback" not in message
    assert seconds < 15, f"the refused download took {seconds:.1f} s"
    print(f"\n[offline] Download button: failed in {seconds:.1f} s: {message}")
    datasets = offline / "datasets"
    left = sorted(p.name for p in datasets.rglob("*")) if datasets.exists() else []
    assert left == [], f"partial download left in {datasets}: {left}"
    # The other pages still say the same, and the app keeps working.
    at.switch_page("pages/dataset.py").run()
    assert not at.exception and any("CATDOG_DATA_DIR" in e for e in texts(at.error))


@pytest.mark.parametrize("weights", ["unset", "missing file"])
def test_transfer_without_weights_fails_naming_the_setting(offline, monkeypatch, synthetic_data, tmp_path, weights):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    if weights == "missing file":
        monkeypatch.setenv("CATDOG_BASE_WEIGHTS", str(tmp_path / "nowhere" / "mobilenet.h5"))
    at = _open("training")
    started = time.monotonic()
    button(at, "Quick transfer").click().run()
    assert not at.exception, at.exception
    job_id = session_job_id(at)
    wait_for(at, lambda at: jobs.get_queue().get(job_id).state in jobs.FINISHED and at.error, timeout=120)
    seconds = time.monotonic() - started
    job = jobs.get_queue().get(job_id)
    assert job.state == jobs.FAILED, (job.state, job.error)
    assert "CATDOG_BASE_WEIGHTS" in job.error and "\n" not in job.error and "Traceback" not in job.error
    assert texts(at.error) == [job.error]
    assert seconds < 90, f"the failed weights download took {seconds:.1f} s"
    assert runs.list_runs().runs == []  # nothing half-trained was saved
    models = offline / "models"
    left = sorted(p.name for p in models.rglob("*")) if models.exists() else []
    assert left == [], f"partial weights download left in {models}: {left}"
    print(f"\n[offline] transfer with weights {weights}: failed in {seconds:.1f} s: {job.error}")


def test_with_local_copies_everything_works_offline(monkeypatch, synthetic_data, shared_weights, trained_transfer):
    """CATDOG_DATA_DIR and CATDOG_BASE_WEIGHTS point at local copies: the network is never needed."""
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    monkeypatch.setenv("CATDOG_BASE_WEIGHTS", shared_weights)
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())

    at = open_page()
    for page in PAGES:
        if page != "home":
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, texts(at.error))
    assert "local folder" in "\n".join(texts(at.sidebar.markdown))

    at.switch_page("pages/classify.py").run()
    at.file_uploader(key="classify_files").set_value(("cat.jpg", photo_bytes(0, 9), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="classify_run").value == run.run_id
    assert any(m.startswith("### cats") for m in texts(at.markdown))

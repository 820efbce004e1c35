"""The Augmentation page through AppTest: the sliders' preview, uploads, and training with them."""

from __future__ import annotations

import pytest

from catdog_core import jobs
from catdog_core.augment import AugmentSettings
from support.pages import data  # noqa: F401  (fixtures)
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import button, grid_urls, open_page, photo_bytes, texts


def test_augmentation_slider_changes_preview_and_training_uses_it(data):
    at = open_page("augmentation")
    before = grid_urls(at)
    # The nine copies travel inside one figure (no media file a quick slider could leave broken).
    assert len(before) == 1 and before[0].startswith("data:image/jpeg;base64,")
    assert len(at.image) == 1  # the original only
    assert "0.2 = up to ±72°" in texts(at.caption)
    at.slider(key="aug_rotation").set_value(0.4).run()
    assert not at.exception
    after = grid_urls(at)
    assert len(after) == 1 and after != before
    assert "0.4 = up to ±144°" in texts(at.caption)
    assert any(m.startswith("In use: **flip both, rotate ±144°**") for m in texts(at.markdown))
    assert at.session_state["augment_settings"] == AugmentSettings(rotation=0.4)
    at.radio(key="aug_flip").set_value("none").run()
    assert at.session_state["augment_settings"].flip == "none"

    at.switch_page("pages/training.py").run()
    at.radio(key="recipe").set_value("augmented").run()
    assert "**Augmentation:** rotate ±144°" in texts(at.markdown)
    # Model 4 with augmentation: new variants in the first epochs, then drawn from (the shown code says so),
    # or new ones in every epoch, as the post, when the box is ticked.
    at.radio(key="recipe").set_value("transfer").run()
    assert any(f"The first {jobs.VARIANTS} epochs make a new variant" in c for c in texts(at.caption))
    assert any("draws from those after" in c.value for c in at.code)
    at.checkbox(key="fresh_variants").check().run()
    assert not at.exception and not any("draws from those after" in c.value for c in at.code)

    at.switch_page("pages/augmentation.py").run()  # the sliders come back as they were left
    assert at.slider(key="aug_rotation").value == pytest.approx(0.4)
    button(at, "Reset to the post's settings").click().run()
    assert at.session_state["augment_settings"] == AugmentSettings()
    assert grid_urls(at) == before


def test_augmentation_upload_bad_then_good(data):
    at = open_page("augmentation")
    at.radio(key="aug_source").set_value("my upload").run()
    at.file_uploader(key="aug_upload").set_value(("notes.png", b"just some text", "image/png")).run()
    assert not at.exception
    assert any(e.startswith("notes.png: ") for e in texts(at.error))
    at.file_uploader(key="aug_upload").set_value(("cat.jpg", photo_bytes(0, 7), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert len(grid_urls(at)) == 1


def test_augmentation_upload_with_a_crafted_name_gets_a_sentence(data):
    # Streamlit's own extension filter raised on such names; the page checks the content instead.
    at = open_page("augmentation")
    at.radio(key="aug_source").set_value("my upload").run()
    at.file_uploader(key="aug_upload").set_value(("..", b"just some text", "image/jpeg")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "not an image" in at.error[0].value
    at.file_uploader(key="aug_upload").set_value(("photo", photo_bytes(0, 7), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert len(grid_urls(at)) == 1

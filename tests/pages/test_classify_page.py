"""The Classify page through AppTest: a quick model trained from the page, uploads, Grad-CAM."""

from __future__ import annotations

from support.pages import data, saved_transfer_run  # noqa: F401  (fixtures)
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import as_read, button, open_page, photo_bytes, texts, wait_for


def test_classify_trains_quick_model_and_classifies_uploads(data):
    at = open_page("classify")
    assert any("no trained transfer-learning model" in i for i in texts(at.info))
    button(at, "Train a quick model now").click().run()
    assert not at.exception
    wait_for(at, lambda at: at.selectbox(key="classify_run").value if at.selectbox else None, pause=0.5)

    good = ("warm cat.jpg", photo_bytes(0, 7), "image/jpeg")
    bad = ("broken\u202egpj.exe.jpg", b"\xff\xd8\xff" + b"\x00" * 50, "image/jpeg")
    at.file_uploader(key="classify_files").set_value([good, bad]).run()
    assert not at.exception
    assert len(at.error) == 1 and "damaged" in at.error[0].value
    names = texts(at.markdown)
    assert "**brokengpj.exe.jpg**" in names  # the bidi override is stripped from the shown name
    assert any(m.startswith("### cats") for m in names)
    assert [as_read(c) for c in at.image[0].captions] == ["warm cat.jpg"]
    assert len([c for c in at.get("plotly_chart") if "probabilities_" in (c.key or "")]) == 1
    assert any(m.startswith("Finished 50 epochs") for m in texts(at.success))  # 10 asked, small data

    at.radio(key="classify_camera_mode").set_value("snapshot").run()
    at.camera_input(key="classify_photo").set_value(("shot.jpg", photo_bytes(1, 3), "image/jpeg")).run()
    assert not at.exception
    assert any(m.startswith("### dogs") for m in texts(at.markdown))

def test_classify_shows_grad_cam_overlay(data, trained_transfer):
    saved_transfer_run(trained_transfer)
    at = open_page("classify")
    assert at.toggle(key="classify_gradcam").value is True
    files = [("a.jpg", photo_bytes(0, 7), "image/jpeg"), ("b.jpg", photo_bytes(1, 4), "image/jpeg")]
    at.file_uploader(key="classify_files").set_value(files).run()
    assert not at.exception and not at.error
    assert len(at.image) == 4  # the photo and its heatmap, per file
    assert [as_read(c) for image in at.image for c in image.captions][:2] == ["a.jpg", "where it looked for cats"]
    # Grad-CAM by default (instant); occlusion one click away: what the colours mean, and what
    # covering did to this photo.
    assert at.radio(key="classify_view").value == "gradcam"
    assert any("5x5 cells" in c for c in texts(at.caption))
    at.radio(key="classify_view").set_value("occlusion").run()
    assert len(at.image) == 4
    assert any("lowered the model's score" in c and "log-odds" in c for c in texts(at.caption))
    assert sum(c.startswith("Covering its reddest square took cats from") for c in texts(at.caption)) == 1
    at.toggle(key="classify_gradcam").set_value(False).run()
    assert len(at.image) == 2

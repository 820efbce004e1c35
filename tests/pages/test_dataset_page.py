"""The Dataset page through AppTest: the two-row gallery and the label balance."""

from __future__ import annotations

from support.pages import data  # noqa: F401  (fixtures)
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import button, gallery_classes, make_dataset, open_page, texts


def test_dataset_gallery_has_one_row_per_class_and_balance(data):
    at = open_page("dataset")
    assert gallery_classes(at) == ["cats"] * 3 + ["dogs"] * 3
    assert all(c.endswith(".jpg") for image in at.image for c in image.captions)  # the file, not the class again
    assert "**cats** · 24 training images" in texts(at.markdown)
    first = [url for image in at.image for url in image.value]
    assert "**50%**" in " ".join(texts(at.markdown))
    assert any("as many images of cats and dogs" in m for m in texts(at.markdown))  # a tie, said as one
    assert any("test split stays put" in i for i in texts(at.info))
    assert at.get("plotly_chart")
    button(at, "Show other examples").click().run()
    assert not at.exception
    assert [url for image in at.image for url in image.value] != first


def test_dataset_gallery_three_classes(tmp_path, monkeypatch):
    root = make_dataset(tmp_path / "abc", classes=("a", "b", "c"), n_train=6, n_val=5)
    monkeypatch.setenv("CATDOG_DATA_DIR", str(root))
    at = open_page("dataset")
    assert gallery_classes(at) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    headers = [m for m in texts(at.markdown) if m.startswith("**") and " training images" in m]
    assert [h.split(" · ")[0] for h in headers] == ["**a**", "**b**", "**c**"], headers

"""What-if (issue 22, point 3): a photo changed by hand, and the probabilities that move with it."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_core import runs
from catdog_core.lessons import whatif
from conftest import open_page, texts


def test_changes_are_drawn_as_asked_and_bounded():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    assert np.array_equal(whatif.apply(photo, whatif.Change()), photo) and whatif.Change().is_identity
    # A patch covers its place on the 5x5 board and nothing else.
    covered = whatif.apply(photo, whatif.Change(patch=(0, 4), patch_size=0.2))
    top, left, bottom, right = whatif.patch_box(60, 80, (0, 4), 0.2)
    assert (top, left, bottom, right) == (0, 64, 12, 80)
    assert (covered[top:bottom, left:right] == whatif.GREY).all()
    outside = np.ones((60, 80), bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(covered[outside], photo[outside])
    # Brighter is brighter (clipped at 255); more contrast spreads the values; a half turn mirrors both ways.
    assert whatif.apply(photo, whatif.Change(brightness=0.2)).mean() > photo.mean()
    assert whatif.apply(photo, whatif.Change(contrast=2.0)).std() > photo.std()
    flat = np.zeros((40, 40, 3), np.uint8)
    flat[:, :20] = 255  # white left half
    turned = whatif.apply(flat, whatif.Change(rotation=180.0))
    assert turned[:, 25:].mean() > 200 and turned[:, :15].mean() < 50
    zoomed = whatif.apply(flat, whatif.Change(zoom=2.0))
    assert zoomed.shape == flat.shape and zoomed[:, :5].mean() > 200  # the centre enlarged: the edge is white
    # No black corners after a turn: the photo's edges fill them.
    grey = np.full((40, 40, 3), 200, np.uint8)
    assert whatif.apply(grey, whatif.Change(rotation=45.0)).min() >= 195
    for bad in (dict(rotation=181.0), dict(zoom=0.5), dict(brightness=float("nan")), dict(contrast=-1.0),
                dict(patch=(5, 0)), dict(patch=(1.5, 2)), dict(patch_size=0.9)):
        with pytest.raises(whatif.InvalidChange):
            whatif.Change(**bad)
    with pytest.raises(whatif.InvalidChange):
        whatif.apply(np.zeros((2000, 10, 3), np.uint8), whatif.Change(zoom=2.0))
    assert whatif.Change(rotation=30.0, patch=(1, 2)).describe() == "turned +30°, grey patch at row 2, column 3"


def test_the_page_moves_the_probabilities_with_a_slider(monkeypatch, synthetic_data, trained_transfer):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    at = open_page("whatif")
    assert not at.exception and at.selectbox(key="whatif_run").value == run.run_id
    assert at.metric, (texts(at.info), texts(at.error), texts(at.warning), texts(at.caption))
    first = at.metric[0]
    assert first.label in ("cats", "dogs") and first.value.endswith("%")
    # The grey patch over the middle, as large as it goes, then the brightness pushed to the top.
    at.toggle(key="wi_patch_on").set_value(True).run()
    at.slider(key="wi_patch_size").set_value(0.6).run()
    at.slider(key="wi_brightness").set_value(1.0).run()
    assert not at.exception
    after = at.metric[0]
    assert (after.label, after.value) != (first.label, first.value)  # the probabilities moved
    assert "from the photo as it is" in str(after.delta)
    # Back to the photo as it is: the first answer again, from memory.
    [b for b in at.button if b.label == "Back to the photo as it is"][0].click().run()
    assert (at.metric[0].label, at.metric[0].value) == (first.label, first.value) and not at.metric[0].delta

"""shortcut: a stamp planted on one class's training photos. Where the classes look alike the square is
the only clue, so the quick head must latch onto it; the control without a stamp must not. The
Label check page's section end to end."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from catdog_core import dataset, jobs
from catdog_core.lessons import shortcut
from catdog_core.errors import InvalidSettings
from conftest import button, draw_image, open_page, texts, wait_for


@pytest.fixture(scope="module")
def alike(tmp_path_factory):
    """Two 'classes' drawn the same way (either drawing, at random): nothing tells them apart."""
    root = tmp_path_factory.mktemp("alike") / "alike"
    rng = np.random.default_rng(3)
    for part, n in (("train", 40), ("validation", 30)):
        for name in ("cats", "dogs"):
            (root / part / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(draw_image(int(rng.integers(0, 2)), rng)).save(root / part / name / f"{name}.{i}.jpg",
                                                                             quality=90)
    return root


def test_the_stamp_goes_in_its_corner_and_bad_stamps_are_refused():
    photos = np.zeros((2, 160, 160, 3), np.uint8)
    out = shortcut.stamped(photos, shortcut.Stamp("cats", 1.0, 10, "top left", "green"))
    assert (out[:, 4:14, 4:14] == shortcut.COLOURS["green"]).all() and out[:, 20:].max() == 0
    assert photos.max() == 0  # a copy
    out = shortcut.stamped(photos, shortcut.Stamp("cats", 1.0, 8, "bottom right", "red"))
    assert (out[:, 148:156, 148:156] == shortcut.COLOURS["red"]).all() and out[:, :140].max() == 0
    for bad, said in ((dict(target="birds"), "one of cats, dogs"), (dict(share=1.5), "between 0 and 100"),
                      (dict(size=200), "pixels a side"), (dict(corner="middle"), "corner"),
                      (dict(colour="plaid"), "colour")):
        with pytest.raises(InvalidSettings, match=said):
            shortcut.Stamp(**{"target": "cats", **bad}).check(("cats", "dogs"))
    # A job's stamp from JSON: its shape is checked before it is queued, its values where it runs.
    spec = jobs.JobSpec.from_dict(jobs.shortcut_spec(shortcut.Stamp("birds", 0.5, 8)).to_dict())
    assert spec.kind == jobs.SHORTCUT_KIND and dict(spec.stamp)["share"] == 0.5
    for bad in ({"target": "cats", "x": 1}, {"share": 1.0}, {"target": ["cats"]}, {"target": "cats" * 100}):
        with pytest.raises(InvalidSettings):
            jobs.JobSpec.from_dict({**spec.to_dict(), "stamp": bad})


def test_where_the_square_is_the_only_clue_the_model_learns_it(alike, shared_weights):
    data = dataset.load_dataset(alike)
    result = shortcut.run_shortcut(data, shortcut.Stamp("cats", 1.0, 16))
    cats = int((data.validation.labels == 0).sum())  # the test split is carved out of validation
    assert result.stamped_photos == 40 and result.counts == {"clean": len(data.validation),
                                                             "others_stamped": len(data.validation) - cats,
                                                             "target_clean": cats}
    assert result.others_stamped <= 0.25 and result.fall >= 0.25, result  # stamped dogs are "cats"
    assert result.target_clean <= 0.25  # and cats without their square are "dogs"
    assert result.without["others_stamped"] >= 0.25  # the control learned no square
    assert result.example["true"] == "dogs" and result.example["with_stamp"] == "cats"
    assert result.sentence().startswith("The model learned the square")
    started = result.seconds
    again = shortcut.run_shortcut(data, shortcut.Stamp("cats", 1.0, 16))  # stamped features kept by content
    assert again.others_stamped == result.others_stamped and again.seconds < started


def test_label_check_plants_a_shortcut(monkeypatch, alike, shared_weights):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(alike))
    at = open_page("suspects")
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Wrong labels", "Plant a shortcut"]
    button(at, "Plant it and train the quick model").click().run(timeout=300)
    assert not at.exception
    job = jobs.get_queue().get(next(iter(at.session_state["_shortcut_jobs"].values())))
    assert job.spec.kind == jobs.SHORTCUT_KIND and dict(job.spec.stamp)["size"] == 16  # a job of the queue
    wait_for(at, lambda a: any(m.label == "Clean validation photos" for m in a.metric), timeout=300)
    labels = [m.label for m in at.metric]
    assert "Clean validation photos" in labels and "dogs, stamped" in labels and "cats, no stamp" in labels
    assert any(t.startswith("**The model learned the square") for t in texts(at.markdown)), texts(at.markdown)
    at.slider(key="shortcut_size").set_value(24).run()
    assert not at.exception and any(b.label == "Plant it and train the quick model" for b in at.button)

"""The Evaluate page through AppTest: accuracy, confusion and mistakes of a saved run."""

from __future__ import annotations

import json

from support.pages import data, saved_transfer_run  # noqa: F401  (fixtures)
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from conftest import open_page, texts


def test_evaluate_shows_accuracy_confusion_and_mistakes(data, trained_transfer, monkeypatch):
    run = saved_transfer_run(trained_transfer)
    at = open_page("evaluate")
    assert at.selectbox(key="evaluate_run").value == run.run_id
    # 5 drawn test photos, under the 30 below which a percentage says little: a count of the right answers.
    assert at.metric[0].label == "Test accuracy" and at.metric[0].value.endswith(" of 5 right")
    assert [m.label for m in at.metric[1:]] == ["cats recognised", "dogs recognised"]
    charts_ = {c.key: c for c in at.get("plotly_chart")}
    assert set(charts_) == {"evaluate_confusion", "evaluate_reliability"}  # reliability: calibration.py
    assert json.loads(charts_["evaluate_confusion"].proto.spec)["data"][0]["type"] == "heatmap"
    assert "What it got wrong" in texts(at.subheader)
    from catdog_core.service import get_service

    expected = get_service().evaluate(run.run_id, str(data))  # what the page was answered
    if expected.mistakes:
        assert not at.success and len(at.image) == min(len(expected.mistakes), 12)
    else:
        assert [s.value for s in at.success] == [f"No mistakes: all {expected.count} test images were classified correctly."]

    # Mistakes: a gallery worst first, with true and predicted labels and probabilities. The model
    # service's answer gets two mistakes added on the way to the page.
    from dataclasses import replace
    from catdog_core import evaluate
    from catdog_core.service import ModelService

    def with_mistakes(real):
        def answer(*args, **kwargs):
            result = real(*args, **kwargs)
            if result is None:
                return None
            wrong = [evaluate.Mistake(i, f"f{i}.jpg", "cats", "dogs", 3.0 - i, {"cats": 0.1, "dogs": 0.9})
                     for i in range(2)]
            return replace(result, mistakes=wrong)
        return answer

    # The page reads the evaluation the run's job kept on disk, and asks the service when there is none.
    monkeypatch.setattr(ModelService, "evaluate", with_mistakes(ModelService.evaluate))
    monkeypatch.setattr(evaluate, "remembered", with_mistakes(evaluate.remembered))
    at = open_page("evaluate")  # a new session: its page asks the service again
    assert [c for image in at.image for c in image.captions] == ["true: cats · said: dogs"] * 2
    assert any(c.startswith("dogs 90% · cats 10%") for c in texts(at.caption))
    assert not at.exception and not at.error

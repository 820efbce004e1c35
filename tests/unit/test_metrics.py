"""metrics: how an accuracy is read out to a student."""

from __future__ import annotations

from catdog_core import metrics


def test_a_split_under_the_small_split_rule_gives_no_percentage():
    """16 photos of Your classes split 11/4/1: the one test photo read "test 0.0 % on 1 image"."""
    for accuracy, count in ((0.0, 1), (1.0, 1), (0.75, 4), (0.5, metrics.SMALL_SPLIT - 1)):
        said = metrics.verdict(accuracy, count)
        assert said.startswith("too few to judge") and "%" not in said, said
        assert f"only {count} image" in said
    assert metrics.verdict(0.0, 1) == "too few to judge (only 1 image)"
    assert metrics.verdict(0.9, 200) == "90.0% (95 % interval 85%-93%, 200 images)"
    assert metrics.verdict(None, 4) == "not measured"

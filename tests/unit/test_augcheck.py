"""Does augmentation help? Answers known in advance on drawn data, the verdict's rule, the job
that carries it, the command line, and the Augmentation page."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catdog_core.lessons import augcheck
from catdog_core import dataset, jobs
from catdog_core.augment import AugmentSettings
from catdog_core.errors import InvalidSettings
from conftest import button, open_page, subprocess_env, wait_for


def _stripes(rng, size: int, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    period = rng.uniform(10, 16)
    wave = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period + rng.uniform(0, 6.3))
    base = rng.uniform(60, 200, 3)
    image = base + 55 * wave[..., None] + rng.normal(0, 8, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _dots(rng, size: int) -> np.ndarray:
    image = np.full((size, size, 3), rng.uniform(60, 200, 3), np.float32)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(14):
        cx, cy, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(3, 7)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def _folder(root: Path, draw, n_train=40, n_val=30) -> Path:
    from PIL import Image

    rng = np.random.default_rng(3)
    for part, n in (("train", n_train), ("validation", n_val)):
        for label, name in enumerate(("cats", "dogs")):
            (root / part / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(draw(label, rng)).save(root / part / name / f"{name}.{i}.png")
    return root


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """Cats: stripes leaning one way; dogs: the same stripes mirrored. A horizontal flip makes
    every cat a dog."""
    def draw(label, rng):
        image = _stripes(rng, 96, np.pi / 4 + rng.uniform(-0.2, 0.2))
        return image[:, ::-1] if label else image
    return _folder(tmp_path_factory.mktemp("mirrored") / "data", draw)


@pytest.fixture(scope="module")
def turned(tmp_path_factory):
    """Stripes against dots, each drawn at a random angle already: rotating them teaches nothing new."""
    return _folder(tmp_path_factory.mktemp("turned") / "data",
                   lambda label, rng: _stripes(rng, 96, rng.uniform(0, np.pi)) if label == 0 else _dots(rng, 96))


def test_a_horizontal_flip_hurts_when_one_class_is_the_other_mirrored(mirrored, shared_weights):
    data = dataset.load_dataset(mirrored)
    result = augcheck.check(data, AugmentSettings(flip="horizontal", rotation=0.0), variants=2)
    assert result.without_mean > 0.85, result  # the lean tells them apart
    assert result.difference < -0.2 and result.verdict.startswith("Hurts by "), result.verdict
    assert result.seeds == 3 and result.variants == 2 and result.photos == 80 and not result.cached


def test_rotation_does_not_hurt_photos_that_are_rotated_already(turned, shared_weights):
    data = dataset.load_dataset(turned)
    result = augcheck.check(data, AugmentSettings(flip="none", rotation=0.2), variants=2)
    assert not result.verdict.startswith("Hurts"), result.verdict
    again = augcheck.check(data, AugmentSettings(flip="none", rotation=0.2), variants=2)
    assert again.cached and again.with_accuracies == result.with_accuracies
    assert augcheck.known(data.key, AugmentSettings(flip="none", rotation=0.2), variants=2) == again
    # Other settings are not known: a seed no other test checks on this data (the command-line test
    # sweeps rotation 0.1 and 0.3 on it, in the cache the test processes share).
    assert augcheck.known(data.key, AugmentSettings(flip="none", rotation=0.2, seed=7), variants=2) is None


def test_the_verdict_weighs_the_difference_against_the_seeds_spread():
    def result(with_, without, count=1000):
        return augcheck.CheckResult({}, tuple(with_), tuple(without), 2000, 4, count, 1.0)

    same = result([0.968, 0.970, 0.966], [0.967, 0.964, 0.970])
    assert same.verdict.startswith("No measurable difference: 96.8 ± 0.2 % with, 96.7 ± 0.3 % without")
    helps = result([0.977, 0.975, 0.979], [0.967, 0.968, 0.966])
    assert helps.verdict.startswith("Helps by 1.0 ± 0.3 points")
    noisy = result([0.99, 0.95, 0.97], [0.96, 0.95, 0.97])  # a point up, inside a two-point spread
    assert noisy.verdict.startswith("No measurable")
    # With no spread at all, a difference still has to be more than one validation photo.
    assert result([0.5] * 3, [0.5 + 0.5 / 100] * 3, count=100).verdict.startswith("No measurable")
    assert result([0.5] * 3, [0.52] * 3, count=100).verdict.startswith("Hurts by 2.0")
    assert augcheck.CheckResult.from_dict(json.loads(json.dumps(helps.to_dict()))) == helps


def test_the_job_and_its_limits():
    spec = jobs.augcheck_spec(AugmentSettings(), "/data", "rotation", [0.0, 0.1, 0.3])
    back = jobs.JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and back.kind == jobs.AUGCHECK_KIND and back.sweep_values == (0.0, 0.1, 0.3)
    assert "sweep_values" not in jobs.quick_spec().to_dict()  # a training job's spec keeps its form
    from catdog_core.jobs.queue import _epochs
    assert _epochs(spec) == 30  # ten head epochs for each value: what a student's budget counts
    for setting, values in (("rotation", [0.1]), ("rotation", [0.1, 0.1]), ("rotation", [0.1, 2.0]),
                            ("seed", [1, 2]), ("flip", ["sideways", "none"]), ("zoom", list(range(7)))):
        with pytest.raises(InvalidSettings):
            jobs.augcheck_spec(AugmentSettings(), None, setting, values)
    with pytest.raises(InvalidSettings):
        jobs.JobSpec.from_dict({**spec.to_dict(), "sweep_values": ["x", {}]})
    with pytest.raises(InvalidSettings):
        augcheck.check_settings(variants=0, seeds=3)
    with pytest.raises(InvalidSettings):
        augcheck.check_settings(variants=4, seeds=1)


def test_the_command_line_sweeps_and_ends_with_json(turned, shared_weights, tmp_path):
    done = subprocess.run([sys.executable, "-m", "catdog_core", "augment-check", "--data", str(turned),
                           "--flip", "none", "--sweep", "rotation", "--values", "0.1", "0.3", "--variants", "2",
                           "--json"], capture_output=True, text=True, timeout=600, env=subprocess_env())
    assert done.returncode == 0, done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"with_mean", "with_spread", "without_mean", "without_spread", "verdict", "seconds"} <= set(last)
    assert [row["value"] for row in last["sweep"]] == [0.1, 0.3]
    assert "rotation 0.1" in done.stderr and "rotation 0.3" in done.stderr  # the table, above the JSON
    bad = subprocess.run([sys.executable, "-m", "catdog_core", "augment-check", "--data", str(turned),
                          "--sweep", "rotation", "--values", "0.1", "lots"], capture_output=True, text=True,
                         timeout=120, env=subprocess_env())
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --values takes numbers"), bad.stderr


def test_the_page_asks_the_queue_then_shows_the_answer_again_at_once(turned, shared_weights, monkeypatch):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(turned))
    at = open_page("augmentation")
    at.radio(key="aug_flip").set_value("none").run()
    at.slider(key="aug_rotation").set_value(0.2).run()
    button(at, "Does it help?").click().run()
    wait_for(at, lambda a: any(m.label == "Validation accuracy with" for m in a.metric), timeout=300)
    labels = [m.label for m in at.metric]
    assert labels[-2:] == ["Validation accuracy with", "Without"]
    verdict = [m.value for m in at.markdown if m.value.startswith(("**No measurable", "**Helps", "**Hurts"))]
    assert len(verdict) == 1, [m.value for m in at.markdown]
    # A second student asking the same: from the disk, no job, no button.
    again = open_page("augmentation")
    again.radio(key="aug_flip").set_value("none").run()
    again.slider(key="aug_rotation").set_value(0.2).run()
    assert verdict[0] in [m.value for m in again.markdown]
    assert not [b for b in again.button if b.label == "Does it help?"]
    assert any("kept from an earlier check" in c.value for c in again.caption)
    # The sweep: one point per value, drawn with error bars.
    again.multiselect(key="aug_sweep_values_rotation").set_value([0.0, 0.2]).run()
    button(again, "Sweep").click().run()
    wait_for(again, lambda a: any(c.value.startswith("Best here") for c in a.caption), timeout=300)
    chart = json.loads(again.get("plotly_chart")[-1].proto.spec)
    points = [t for t in chart["data"] if t.get("error_y")]
    assert len(points) == 1 and points[0]["x"] == [0.0, 0.2] and len(points[0]["error_y"]["array"]) == 2


def test_the_overfitting_gap_trains_model_1_and_model_2_side_by_side(synthetic_data, shared_weights, monkeypatch):
    import ui.augcheck

    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    monkeypatch.setattr(ui.augcheck, "GAP_EPOCHS", 3)  # CI's minutes: 3 epochs of 2 steps, not 5 of 10
    monkeypatch.setattr(ui.augcheck, "GAP_MIN_STEPS", 6)  # (the small-data rule)
    at = open_page("augmentation")
    button(at, "Train model 1 and model 2 (3 epochs each)").click().run()
    seen = []  # the chart's points per curve, as the page polls

    def finished(page) -> bool:
        charts_ = [json.loads(c.proto.spec) for c in page.get("plotly_chart")]
        gap = [c for c in charts_ if "Training (dashed)" in json.dumps(c.get("layout", {}))]
        if gap:
            seen.append(sum(len(t.get("x") or []) for t in gap[0]["data"]))
        return any(m.value.startswith("**After the last epoch") for m in page.markdown)

    wait_for(at, finished, timeout=600, pause=1.0)
    assert len(seen) >= 2 and seen[0] < seen[-1], seen  # drawn while the jobs ran, and it grew
    captions = [c.value for c in at.caption if "training minus validation accuracy by epoch" in c.value]
    assert [c.split(":")[0] for c in captions] == ["Model 1 (no augmentation)", "Model 2 (augmented)"]
    recipes = sorted(j.spec.recipe for j in jobs.get_queue().jobs() if "overfitting gap" in j.spec.label)
    assert recipes == ["augmented", "baseline"]


@pytest.mark.browser
def test_a_student_moves_rotation_and_asks_in_chromium(turned, shared_weights, tmp_path):
    """In Chromium: rotation moved with the keyboard, "Does it help?" pressed, the verdict read."""
    from support.browser import CHROMIUM, CHROMIUM_ARGS, shoot, wait_idle
    from support.servers import streamlit_server

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    with streamlit_server(tmp_path, CATDOG_DATA_DIR=str(turned), CATDOG_BASE_WEIGHTS=shared_weights,
                          CATDOG_HOME=str(tmp_path / "home")) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{url}/augmentation")
            page.get_by_role("button", name="Does it help?").wait_for(timeout=120_000)
            wait_idle(page)
            page.get_by_text("none", exact=True).first.click()  # the flip off: rotation alone
            wait_idle(page)
            slider = page.get_by_role("slider").first  # "Rotation factor", the first slider
            slider.focus()
            for _ in range(5):
                page.keyboard.press("ArrowRight")  # 0.2 -> 0.25
            wait_idle(page)
            playwright.expect(page.get_by_text("0.25 = up to ±90°")).to_be_visible()
            page.get_by_role("button", name="Does it help?").click()
            verdict = page.get_by_text(re.compile(r"^(No measurable difference|Helps by|Hurts by)"))
            playwright.expect(verdict).to_be_visible(timeout=300_000)
            playwright.expect(page.get_by_text("Validation accuracy with")).to_be_visible()
            playwright.expect(page.get_by_text(re.compile(r"80 training photos × 4 augmented copies.*measured in"))).to_be_visible()
            assert page.get_by_test_id("stException").count() == 0
            wait_idle(page)
            shoot(page, "augment-check-test")
        finally:
            browser.close()

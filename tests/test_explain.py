"""explain: Grad-CAM heatmaps of the transfer model and their overlays."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from catdog_core import explain, models, predict, runs
from catdog_core.errors import CatdogError

from conftest import REPO, draw_image, subprocess_env


@pytest.fixture(scope="module")
def trained(trained_transfer):
    """A transfer model trained on the synthetic data: class 0 'cats' has the bright disc."""
    return trained_transfer


def disc_in_corner(corner: str, rng, size: int = 160) -> np.ndarray:
    """Class 0's bright disc in one corner of a neutral grey picture (a layout training never showed)."""
    yy, xx = np.mgrid[:size, :size]
    image = np.full((size, size, 3), 110.0)
    cx, cy = (35, 35) if corner == "top-left" else (125, 125)
    image[(xx - cx) ** 2 + (yy - cy) ** 2 < 26 ** 2] = (250, 230, 120)
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_heatmap_shape_range_and_detail(trained):
    data, result = trained
    heat = explain.grad_cam(result.model, data.validation.images[0])
    assert heat.shape == (160, 160) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert heat.std() > 0.05  # it points somewhere, not a flat field


def test_default_class_is_the_predicted_one(trained):
    data, result = trained
    image = data.validation.images[-1]
    predicted = data.class_names.index(predict.classify(result.model, image, data.class_names).label)
    np.testing.assert_allclose(explain.grad_cam(result.model, image),
                               explain.grad_cam(result.model, image, predicted), atol=1e-6)
    other = explain.grad_cam(result.model, image, 1 - predicted)
    assert not np.allclose(other, explain.grad_cam(result.model, image), atol=1e-3)


def test_heatmap_finds_the_disc_in_its_corner(trained):
    # Explaining "cats" (the disc class) on grey pictures: the heat must sit on the disc's quadrant.
    _, result = trained
    rng = np.random.default_rng(5)
    for _ in range(3):
        for corner, near, far in (("top-left", np.s_[:80, :80], np.s_[80:, 80:]),
                                  ("bottom-right", np.s_[80:, 80:], np.s_[:80, :80])):
            heat = explain.grad_cam(result.model, disc_in_corner(corner, rng), class_index=0)
            assert heat[near].mean() > 2 * heat[far].mean(), corner


def test_other_image_sizes_are_squashed_like_the_model_input(trained):
    _, result = trained
    wide = draw_image(0, np.random.default_rng(1), size=200)[:120]  # 120 x 200
    assert explain.grad_cam(result.model, wide).shape == (160, 160)
    with pytest.raises(CatdogError, match="Class number 2 does not exist"):
        explain.grad_cam(result.model, wide, class_index=2)


def test_overlay_keeps_shape_and_dtype_and_blends():
    image = draw_image(1, np.random.default_rng(2), size=90)[:, :70]  # 90 x 70, not the heatmap's size
    heat = np.zeros((160, 160), np.float32)
    heat[:80] = 1.0
    out = explain.overlay(image, heat)
    assert out.shape == image.shape and out.dtype == np.uint8
    cold, hot = explain.colorize(np.array([0.0, 1.0]))
    # Far from the edge of the hot half, each pixel is 55 % image and 45 % colour.
    np.testing.assert_allclose(out[70:], 0.55 * image[70:] + 0.45 * cold, atol=1)
    np.testing.assert_allclose(out[:20], 0.55 * image[:20] + 0.45 * hot, atol=1)
    assert explain.overlay(image[:, :, 0], heat).shape == (90, 70, 3)  # greyscale comes back as RGB


def test_colour_ramp_runs_blue_to_yellow_to_red():
    blue, yellow, red = explain.colorize(np.array([0.0, 0.5, 1.0])).astype(int)
    assert blue[2] > blue[0] and blue[2] > blue[1]
    assert yellow[0] > 200 and yellow[1] > 200 and yellow[2] < 100
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_small_cnn_is_refused_with_a_sentence():
    baseline = models.build("baseline", 2).model
    assert not explain.supports(baseline)
    with pytest.raises(CatdogError, match="Grad-CAM here explains the transfer model"):
        explain.grad_cam(baseline, np.zeros((160, 160, 3), np.uint8))


def test_cli_predict_explain_writes_one_png_per_image(trained, tmp_path, shared_weights):
    data, result = trained
    run = runs.save_run(result, data.describe())  # into this test's CATDOG_HOME
    rng = np.random.default_rng(4)
    names = []
    for kind, size in ((0, 200), (1, 120)):
        names.append(str(tmp_path / f"photo{kind}.jpg"))
        Image.fromarray(draw_image(kind, rng, size=size)).save(names[-1])
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "catdog_core", "predict", run.run_id, *names,
                           "--explain", str(tmp_path / "cams"), "--json"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == names
    for line, size in zip(lines, (200, 120)):
        assert line["explain"] == str(tmp_path / "cams" / f"{os.path.basename(line['file'])[:-4]}_gradcam.png")
        with Image.open(line["explain"]) as png:
            assert png.format == "PNG" and png.size == (size, size)  # painted over the photo as shown
    assert sorted(p.name for p in (tmp_path / "cams").iterdir()) == ["photo0_gradcam.png", "photo1_gradcam.png"]

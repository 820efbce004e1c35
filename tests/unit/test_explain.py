"""explain: Grad-CAM and occlusion heatmaps, their overlays, and the service task that paints them."""

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

from conftest import REPO, draw_image, jpeg_bytes, subprocess_env


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


def test_probes_of_a_model_take_its_one_input_without_a_keras_warning(tmp_path):
    """The small CNN's convolutions (Inside the models) and its last hidden layer (the embedding map),
    asked of a fresh model and of the same model saved and loaded: Keras warned at every call that the
    structure of the inputs did not match ['image'], into the model service's log."""
    import warnings

    import keras

    from catdog_core import embedding

    model = models.build("baseline", 2, pretrained=False).inference
    model.save(tmp_path / "baseline.keras")
    photo = draw_image(0, np.random.default_rng(0), 160)
    for candidate in (model, keras.models.load_model(tmp_path / "baseline.keras")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            maps = explain.activations(candidate, photo)
            hidden = embedding.hidden_features(candidate, photo[None])
        assert [m.layer for m in maps] == ["conv_1", "conv_2", "conv_3"] and hidden.shape[0] == 1
        assert not [w for w in caught if "structure" in str(w.message)], [str(w.message) for w in caught]


# ---------------------------------------------------------------- occlusion sensitivity


class _Shape:
    """Just what occlusion asks of a model when it is given its own forward pass."""

    input_shape = (None, 160, 160, 3)
    output_shape = (None, 2)


def test_occlusion_without_a_network_finds_the_evidence_and_is_not_fooled_by_saturation():
    # A made-up "model": class 0's logit is 30 x the brightness of a region at rows 100-140, columns
    # 20-60, so the photo is 99.99...% class 0 and a probability would hardly move when covered.
    def forward(batch):
        sizes.append(len(batch))
        evidence = batch[:, 100:140, 20:60].mean(axis=(1, 2, 3)) / 255
        return np.stack([30 * evidence, np.zeros(len(batch))], axis=1)

    sizes = []
    image = np.full((160, 160, 3), 255, np.uint8)
    found = explain.occlusion(_Shape(), image, grid=8, batch_size=20, forward=forward)
    assert sizes == [17, 17, 17, 14] and found.passes == 65 and found.batches == 4  # one shape but the last
    assert found.heatmap.shape == (160, 160) and found.heatmap.dtype == np.float32
    assert found.heatmap.max() == pytest.approx(1.0) and found.heatmap.min() == 0.0
    assert found.drops.shape == (8, 8) and found.class_index == 0
    centres = explain.occlusion_positions(160, 8, found.patch) + found.patch / 2
    row, col = np.unravel_index(np.argmax(found.drops), found.drops.shape)
    assert 100 <= centres[row] <= 140 and 20 <= centres[col] <= 60  # the warmest patch's centre is on it
    y, x = np.unravel_index(np.argmax(found.heatmap), found.heatmap.shape)
    assert 100 <= y < 140 and 20 <= x < 60
    assert found.heatmap[:60, 100:].max() == 0  # far from the region, covering changed nothing
    # Saturated: the probability barely moves, the log-odds drop (what the map shows) is large.
    assert found.probability > 0.9999 and found.lowest > 0.999
    assert found.drops.max() > 5
    with pytest.raises(CatdogError, match="2 to 16 positions"):
        explain.occlusion(_Shape(), image, grid=40, forward=forward)


def test_log_odds_keep_counting_where_probabilities_flatten():
    logits = np.array([[12.0, 0.0], [8.0, 0.0], [0.0, 0.0], [-3.0, 0.0]])
    np.testing.assert_allclose(explain.log_odds(logits, 0), [12, 8, 0, -3])
    np.testing.assert_allclose(explain.log_odds(logits, 1), [-12, -8, 0, 3])
    three = np.array([[2.0, 1.0, 1.0]])  # log(p / (1 - p)) with two other classes
    p = np.exp(2) / (np.exp(2) + 2 * np.e)
    np.testing.assert_allclose(explain.log_odds(three, 0), [np.log(p / (1 - p))])


def test_occlusion_finds_the_disc_in_its_corner(trained, shared_weights):
    """The real network, explaining 'cats' (the disc class) on grey pictures: the warmest patch is
    on the disc, through the model's own graph (top-left) and through the converted frozen base
    (bottom-right), each in two batches."""
    from catdog_core import features

    _, result = trained
    model = result.model
    if not features.is_converted(shared_weights):
        features.FeatureExtractor(models.build_features(shared_weights), shared_weights)  # converts once
    frozen = predict.frozen_base_forward(model, shared_weights)
    assert frozen is not None  # the same weights: it stands in for the model
    rng = np.random.default_rng(6)
    for corner, centre, engine in (("top-left", 35, lambda batch: predict.logits(model, batch)),
                                   ("bottom-right", 125, frozen)):
        sizes = []
        found = explain.occlusion(model, disc_in_corner(corner, rng), class_index=0, grid=6,
                                  forward=lambda batch: (sizes.append(len(batch)), engine(batch))[1])
        assert sizes == [19, 18]  # 6x6 covered copies and the photo, in two passes
        centres = explain.occlusion_positions(160, 6, found.patch) + found.patch / 2
        row, col = np.unravel_index(np.argmax(found.drops), found.drops.shape)
        assert abs(centres[row] - centre) <= 26 and abs(centres[col] - centre) <= 26, (corner, row, col)
        y, x = np.unravel_index(np.argmax(found.heatmap), found.heatmap.shape)
        assert abs(y - centre) <= 26 and abs(x - centre) <= 26, (corner, y, x)
    images = np.stack([draw_image(k, np.random.default_rng(k), size=160) for k in (0, 1)])
    np.testing.assert_allclose(frozen(images), predict.logits(model, images), atol=predict.PROBE_TOLERANCE)


def test_frozen_base_is_refused_for_a_model_with_other_base_weights(trained, shared_weights):
    """A fine-tuned base (here: its first kernel changed for a moment) gives other logits than the
    converted frozen base, so occlusion must run the model itself."""
    _, result = trained
    conv = result.model.get_layer(models.BASE_NAME).get_layer("Conv1")
    kept = conv.get_weights()
    same_file = os.path.join(os.path.dirname(shared_weights), ".", os.path.basename(shared_weights))
    try:
        conv.set_weights([kept[0] * 1.5])
        # The same weights file spelled another way: the same conversion, a check of its own.
        assert predict.frozen_base_forward(result.model, same_file) is None
    finally:
        conv.set_weights(kept)
    assert predict.frozen_base_forward(result.model, "/no/such/weights.h5") is None  # never converted


def test_a_photo_is_classified_through_the_converted_base_with_the_models_own_answer(trained, shared_weights, monkeypatch):
    """Classify answers through the TFLite base and the model's Dense in numpy (~3x faster for one
    photo) once the two probes agree; the label and probabilities are the model's own graph's."""
    from catdog_core import config, features

    _, result = trained
    model = result.model
    monkeypatch.setattr(config, "base_weights_setting", lambda: shared_weights)
    if not features.is_converted(shared_weights):
        features.FeatureExtractor(models.build_features(shared_weights), shared_weights)
    assert predict.frozen_base_forward(model) is not None
    runs_through = []
    real = features.cached_runner
    monkeypatch.setattr(features, "cached_runner", lambda path: runs_through.append(path) or real(path))
    predict._frozen.pop(model, None)  # checked again, through the counted runner
    photos = np.stack([disc_in_corner(c, np.random.default_rng(k)) for k, c in enumerate(("top-left", "bottom-right"))]
                      + [draw_image(k, np.random.default_rng(k), size=160) for k in (0, 1)])
    fast = predict.classify_batch(model, photos, result.class_names)
    assert runs_through  # the converted base answered
    monkeypatch.setattr(predict, "FAST_ENGINE", False)
    graph = predict.classify_batch(model, photos, result.class_names)
    for ours, theirs in zip(fast, graph):
        assert ours.label == theirs.label
        for name in result.class_names:
            assert abs(ours.probabilities[name] - theirs.probabilities[name]) < 1e-3


def test_the_service_task_paints_the_map_and_computes_occlusion_once(trained, monkeypatch):
    from catdog_core.service import tasks

    data, result = trained
    run = runs.save_run(result, data.describe())
    monkeypatch.setattr(runs, "load_model", lambda found: result.model)  # the model at hand, not a reload
    calls = []
    real = explain.occlusion
    monkeypatch.setattr(explain, "occlusion", lambda *a, **k: calls.append(1) or real(*a, **k))
    photo = jpeg_bytes(0, 3, size=200)
    first = tasks.explain_photo(run.run_id, photo, "occlusion")
    assert first.looked.shape == (200, 200, 3) and first.class_name in ("cats", "dogs")
    assert first.passes == 65 and first.grid == 8 and 0 <= first.lowest <= first.probability <= 1
    again = tasks.explain_photo(run.run_id, photo, "occlusion")
    assert len(calls) == 1 and np.array_equal(again.looked, first.looked)  # the page's rerun: kept
    assert tasks.explain_photo(run.run_id, photo, "gradcam").lowest is None
    with pytest.raises(CatdogError, match="Unknown view"):
        tasks.explain_photo(run.run_id, photo, "<b>saliency</b>")


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


def _heads_on_two_bases(shared_weights, rng):
    """The same head (random weights) on the process's shared base and on a base of its own loaded
    from the same file: the first takes the shared graph, the second the model's own traced graph."""
    shared = models.build("transfer", 2, weights=shared_weights, share_base=True).inference
    own = models.build("transfer", 2, weights=shared_weights).inference
    head = [rng.normal(0, 0.05, (1280, 2)).astype("float32"), rng.normal(0, 0.5, 2).astype("float32")]
    for model in (shared, own):
        model.get_layer("logits").set_weights(head)
    return shared, own


def test_a_head_on_the_shared_base_answers_and_explains_as_its_own_graph_would(shared_weights):
    rng = np.random.default_rng(11)
    shared, own = _heads_on_two_bases(shared_weights, rng)
    assert models.head_on_shared_base(shared) is not None and models.head_on_shared_base(own) is None
    photos = np.stack([draw_image(i % 2, rng, size=160) for i in range(5)])
    np.testing.assert_allclose(predict.logits(shared, photos), predict.logits(own, photos), atol=2e-4)
    np.testing.assert_allclose(predict.logits(shared, photos), np.asarray(own(photos.astype("float32"))),
                               atol=2e-4)
    for photo in photos[:3]:
        for chosen in (None, 0, 1):
            np.testing.assert_allclose(explain.grad_cam(shared, photo, chosen),
                                       explain.grad_cam(own, photo, chosen), atol=2e-4)


def test_a_dozen_heads_on_one_base_trace_it_once_and_none_keeps_its_model_alive(shared_weights):
    import gc
    import weakref

    rng = np.random.default_rng(12)
    heads = [_heads_on_two_bases(shared_weights, rng)[0] for _ in range(3)]
    for model in heads:
        predict.warm_up(model)
        explain.warm_up(model)
    base = models.head_on_shared_base(heads[0])[0]
    graph = predict._base_graphs.get(models.base_source(base))
    traced = graph.experimental_get_tracing_count()
    assert traced <= 2  # one image, and a batch for the second probe shape at most
    # Each head answers with its own weights through that one graph.
    photo = draw_image(0, rng, size=160)[None]
    answers = [predict.logits(model, photo) for model in heads]
    assert not np.allclose(answers[0], answers[1])
    assert graph.experimental_get_tracing_count() == traced
    # A model the caches no longer reach is freed: the compiled graphs hold their model weakly.
    own = models.build("transfer", 2, weights=shared_weights).inference
    predict.logits(own, photo)
    explain.grad_cam(own, photo[0])
    gone = weakref.ref(own)
    del own, heads
    gc.collect()
    assert gone() is None

"""Issue 14's teaching features: the standalone script, the embedding map, what the small CNN
sees, live webcam classification, and classes built in the browser."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from catdog_core import augment, codegen, dataset, embedding, explain, live, models, runs, training
from catdog_core.jobs import JobSpec
from conftest import REPO, button, jpeg_bytes, open_page, photo_bytes, subprocess_env, texts, wait_for
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)


@pytest.fixture(scope="module")
def small_cnn(synthetic_data):
    data = dataset.load_dataset(synthetic_data)
    return data, training.train(JobSpec("baseline", 2, augment.AugmentSettings(), min_steps=0), data)


def test_the_script_retrains_without_catdog(trained_transfer, shared_weights, synthetic_data, tmp_path):
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    out = tmp_path / "s.py"
    env = subprocess_env()
    made = subprocess.run([sys.executable, "-m", "catdog_core", "script", "latest", "--out", str(out)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    source = out.read_text()
    assert "catdog_core" not in source.replace("Written by catdog", "")
    assert "image_dataset_from_directory" in source and "MobileNetV2" in source and ".fit(" in source
    # Run it where catdog_core cannot be imported: isolated mode (-I) ignores PYTHONPATH, another folder.
    probe = subprocess.run([sys.executable, "-I", "-c", "import catdog_core"], cwd=tmp_path, capture_output=True)
    assert probe.returncode != 0
    done = subprocess.run([sys.executable, "-I", str(out), "--data", str(synthetic_data), "--epochs", "1",
                           "--weights", shared_weights], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if "validation accuracy" in line]
    assert lines[0].startswith("epoch 1: validation accuracy") and lines[-1].startswith("final validation accuracy")
    assert 0.0 <= float(lines[-1].split()[-1]) <= 1.0


def test_the_script_of_a_run_without_two_photos_leaves_them_out(trained_transfer, shared_weights, tmp_path):
    """A run retrained from the label check without two photos: its script trains without them too."""
    data, result = trained_transfer
    gone = (data.train.files[0], data.train.files[-1])  # one of each class
    run = runs.save_run(result, data.describe(), spec=JobSpec("transfer", 1, augment.NO_AUGMENTATION,
                                                              exclude=gone).to_dict())
    out = tmp_path / "s.py"
    out.write_text(codegen.for_run(run))
    done = subprocess.run([sys.executable, "-I", str(out), "--data", str(data.source.root), "--epochs", "1",
                           "--weights", shared_weights], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"training on {len(data.train) - 2} photos, 2 left out" in done.stdout, done.stdout
    assert "final validation accuracy" in done.stdout


@pytest.mark.parametrize("recipe", list(models.RECIPES))
def test_the_page_code_is_valid_python_for_every_recipe(recipe):
    settings = augment.AugmentSettings(zoom=0.1, contrast=0.2)
    spec = JobSpec(recipe, 5, settings, fine_tune_epochs=2 if recipe == "transfer" else 0)
    for code in (codegen.training(spec), codegen.script(spec), codegen.classify(), codegen.evaluate(),
                 codegen.learning_curve(), codegen.augmentation_page(settings),
                 codegen.augment_check(settings), codegen.augment_check(augment.NO_AUGMENTATION)):
        compile(code, "<generated>", "exec")
    assert "RandomZoom(0.1)" in codegen.training(JobSpec("augmented", 5, settings))
    assert ("RandomZoom" in codegen.training(spec)) == (recipe != "baseline")  # model 1 takes no augmentation
    plain = JobSpec(recipe, 10, augment.AugmentSettings(flip="none", rotation=0.0))  # nothing random
    assert "data_augmentation" not in codegen.script(plain) and compile(codegen.script(plain), "s", "exec")


def test_the_embedding_map_html(trained_transfer, small_cnn, tmp_path):
    data, result = trained_transfer
    runs.save_run(small_cnn[1], small_cnn[0].describe())  # a model 1 run: the right-hand map
    run = runs.save_run(result, data.describe())
    env = subprocess_env(CATDOG_DATA_DIR=str(data.source.root))
    out = tmp_path / "map.html"
    done = subprocess.run([sys.executable, "-m", "catdog_core", "map", run.run_id, "--out", str(out), "--json"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["images"] == len(data.validation) + len(data.test)
    html = out.read_text()
    assert "plotly" in html and "plotly_hover" in html and ("data:image/jpeg;base64," in html or "data:image\\u002fjpeg;base64," in html)  # plotly escapes /
    assert "small CNN" in html and "MobileNetV2" in html


def test_maps_separate_the_classes_and_mark_mistakes(trained_transfer):
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    (transfer,) = embedding.maps_for(run, data)[:1]
    assert transfer.points.shape == (len(data.validation) + len(data.test), 2)
    assert transfer.wrong is not None and transfer.wrong.dtype == bool
    # The synthetic classes are far apart in MobileNetV2's features: the class means differ on the map.
    means = [transfer.points[transfer.labels == k].mean(axis=0) for k in (0, 1)]
    spread = transfer.points.std(axis=0).mean()
    assert np.linalg.norm(means[0] - means[1]) > spread
    points, kept = embedding.pca_2d(np.random.default_rng(0).normal(size=(20, 500)))
    assert points.shape == (20, 2) and 0 < kept < 1  # the wide case (Gram matrix)


def test_a_datasets_frozen_base_map_is_made_once_for_all_its_runs(trained_transfer, monkeypatch):
    """Two frozen-base runs of one dataset: the second's map reuses MobileNetV2's projection (only its
    crosses are its own) and loads no model when its mistakes were kept."""
    from catdog_core import evaluate

    data, result = trained_transfer
    first, second = runs.save_run(result, data.describe()), runs.save_run(result, data.describe())
    for split in ("validation", "test"):  # what run_job keeps for a frozen-base run
        evaluate.remember(second, data.key, evaluate.from_logits(np.zeros((len(data.split(split)), 2)),
                                                                  data.split(split), second.class_names, split))
    mine = embedding.maps_for(first, data)[0]
    passes, loads = [], []
    monkeypatch.setattr(embedding, "transfer_features", lambda *a, **k: passes.append(1))
    monkeypatch.setattr(runs, "load_model", lambda *a, **k: loads.append(1))
    theirs = embedding.maps_for(second, data)[0]
    assert passes == [] and loads == [] and theirs.points is mine.points
    # Its own crosses: all-zero logits say class 0 for every photo, so each photo of class 1 is wrong.
    np.testing.assert_array_equal(theirs.wrong, theirs.labels == 1)


def test_what_the_small_cnn_sees(small_cnn, trained_transfer):
    data, result = small_cnn
    layers = explain.activations(result.model, data.validation.images[0])
    assert [a.filters for a in layers] == [32, 32, 64]
    assert [a.size for a in layers] == [(158, 158), (77, 77), (36, 36)]
    assert all(a.maps.shape == (*a.size, a.filters) and a.maps.min() >= 0 for a in layers)  # after ReLU
    grid = explain.channel_grid(layers[0].maps)
    assert grid.dtype == np.uint8 and grid.shape == (4 * 160 - 2, 8 * 160 - 2, 3)
    # Each tile on its own scale: a map that fires on a few pixels shows them white, not one dot among
    # black; a filter silent everywhere is the pale SILENT_TILE, not black.
    sparse = np.zeros((10, 10, 2), np.float32)
    sparse[:5, :, 0] = 1.0  # a weak response over half the map (black when scaled to the one hot pixel)
    sparse[9, 9, 0], sparse[6, 0, 0] = 1000.0, 0.25
    tiles = explain.channel_grid(sparse, columns=2)
    assert tiles[0, 0, 0] == tiles[9, 9, 0] == 255 and tiles[6, 0, 0] == 128 and tiles[7, 0, 0] == 0
    assert tuple(tiles[5, 17]) == explain.SILENT_TILE and explain.silent_filters(sparse) == 1
    flipped = explain.activations(result.model, data.validation.images[0][:, ::-1])
    assert not np.allclose(flipped[0].maps, layers[0].maps)  # augmentation changes what it sees
    with pytest.raises(Exception, match="no convolution layers"):
        explain.activations(trained_transfer[1].model, data.validation.images[0])


def test_live_frames_get_labels_at_five_a_second_or_more(trained_transfer):
    pytest.importorskip("av")
    import av
    import streamlit_webrtc  # noqa: F401  the page's dependency is installed and loadable

    from catdog_core.service import get_service

    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    service = get_service()
    classifier = live.LiveClassifier(lambda frame: service.classify_frame(run.run_id, frame))
    service.open_model(run.run_id)  # as the page does when it opens
    frames = [np.asarray(Image.open(io.BytesIO(jpeg_bytes(k % 2, k, size=240)))) for k in range(12)]
    labels, started = [], time.perf_counter()
    for k, frame in enumerate(frames * 3):
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        shown, prediction = classifier(video.to_ndarray(format="rgb24"))
        av.VideoFrame.from_ndarray(shown, format="rgb24")  # what goes back to the browser
        labels.append(prediction.label)
        assert shown.shape == frame.shape and not np.array_equal(shown[:10], frame[:10])  # the label band
    rate = len(labels) / (time.perf_counter() - started)
    print(f"\n[live] {rate:.1f} predictions a second through the model service on {os.cpu_count()} CPUs")
    assert rate >= 5
    assert labels[:12] == ["cats" if k % 2 == 0 else "dogs" for k in range(12)]


def test_classes_built_in_the_browser_train_and_classify(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    at = open_page("classes")
    rng = np.random.default_rng(8)
    for label, name in enumerate(("sunny", "stormy")):
        at.text_input(key="new_class").input(name)
        button(at, "Add the class").click().run()
        at.radio(key="class_target").set_value(name).run()
        files = [(f"{name}{i}.jpg", jpeg_bytes(label, rng, size=96), "image/jpeg") for i in range(9)]
        files.append(("notes.txt", b"not a photo", "text/plain"))
        drop = [c for c in at.chat_input if c.key == f"class_photos_{name}"][0]
        for file in files:
            drop.upload(*file)
        at.run()
        assert any("notes.txt" in e for e in texts(at.error))
        # Given means added (issue 33, item 7), no Add button; and the photos left the server's memory
        # (issue 32: st.file_uploader kept every photo for the session).
        assert not [b for b in at.button if b.key == "add_files"]
        assert f"**{name}** · 9 photos" in texts(at.markdown)
    # Words typed in the box are not photos: one sentence, nothing added.
    [c for c in at.chat_input if c.key == "class_photos_stormy"][0].set_value("a dog").run()
    assert any("Typed words add nothing" in i for i in texts(at.info))
    assert "**stormy** · 9 photos" in texts(at.markdown)
    assert not at.exception
    drop = [b for b in at.button if b.key == "drop_sunny_0"][0]
    drop.click().run()
    assert "**sunny** · 8 photos" in texts(at.markdown)
    button(at, "Save and use these classes").click().run()
    assert not at.exception and not at.error
    assert "your classes (stormy, sunny)" in " ".join(texts(at.sidebar.markdown))
    button(at, "Train the quick transfer model on them").click().run()
    wait_for(at, lambda at: at.success and any("Finished" in s for s in texts(at.success)), timeout=240, pause=0.5)
    at.switch_page("pages/classify.py").run()
    at.file_uploader(key="classify_files").set_value([("sky.jpg", jpeg_bytes(1, 77, size=96), "image/jpeg")]).run()
    assert not at.exception
    assert any(m.startswith("### stormy") for m in texts(at.markdown))


def test_inside_the_models_page(monkeypatch, synthetic_data, trained_transfer, small_cnn):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    data, result = trained_transfer
    runs.save_run(small_cnn[1], small_cnn[0].describe())
    runs.save_run(result, data.describe())
    at = open_page("inside")
    assert not at.exception and not at.error
    assert any(c.key == "embedding_map" for c in at.get("plotly_chart"))
    assert any("conv_1" in m and "32 filters" in m for m in texts(at.markdown))
    assert all("each scaled to its own range" in c for image in at.image[1:] for c in image.captions)
    # Presenter mode: the same map with bigger type (issue 19.3); the titles wrapped to fit it.
    layout = lambda: next(json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart") if c.key == "embedding_map")
    normal = layout()
    at.sidebar.toggle(key="presenter_toggle").set_value(True).run()
    large = layout()
    assert large["font"]["size"] > normal["font"]["size"] and large["margin"]["t"] > normal["margin"]["t"]
    assert large["annotations"][0]["font"]["size"] > normal["annotations"][0]["font"]["size"]
    at.toggle(key="cnn_augmented").set_value(True).run()
    assert not at.exception


def test_the_dataset_code_says_what_its_test_split_takes():
    """The shown code said "every 5th validation batch" above `take(batches // 5)`, the first fifth."""
    code = codegen.load_data()
    compile(code, "<generated>", "exec")
    comment = code[:code.index("test_ds = val_ds.take(batches // 5)")].rsplit("\n\n", 1)[-1]
    assert "first fifth of the validation batches" in comment and "every 5th" not in code, comment

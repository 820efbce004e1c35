"""dataset.fingerprints: a photo given to a model that is one of its dataset's own photos is named,
saved again or resized by a pixel; a new photo of the same classes is not. Through the dataset's
cache, the model service, the Classify page, and on the post's 3000 photos."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from catdog_core import dataset, images, runs
from catdog_core.dataset import fingerprints
from catdog_core.service import tasks
from conftest import open_page, texts


def again(data: bytes) -> list[bytes]:
    """The same photo as people pass it on: saved as JPEG at three qualities and as PNG, and resized
    by a pixel in either direction."""
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    out = []
    for quality in (95, 75, 50):
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=quality)
        out.append(buffer.getvalue())
    resized = [picture, picture.resize((picture.width - 1, picture.height)),
               picture.resize((picture.width + 1, picture.height + 1))]
    for i, each in enumerate(resized):
        buffer = io.BytesIO()
        each.save(buffer, "PNG" if i == 0 else "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def draw_varied(kind: int, rng: np.random.Generator, size: int = 160) -> np.ndarray:
    """A photo of the synthetic classes (conftest.draw_image: class 0 bright discs on warm colours,
    class 1 dark squares on cool ones), with two to five shapes on a graded background: draw_image's
    one shape on a flat colour makes photos that are nearly the same picture by construction."""
    yy, xx = np.mgrid[:size, :size]
    base = np.array((170, 90, 60) if kind == 0 else (60, 100, 170), np.float32) + rng.integers(-30, 30, 3)
    picture = base + rng.normal(0, 40, 3) * (xx[..., None] / size) + rng.normal(0, 40, 3) * (yy[..., None] / size)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy, r = *rng.integers(0, size, 2), int(rng.integers(size // 12, size // 4))
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r) if kind == 0 else ((abs(xx - cx) < r) & (abs(yy - cy) < r))
        picture[inside] = rng.integers(180, 255, 3) if kind == 0 else rng.integers(0, 70, 3)
    return np.clip(picture + rng.normal(0, 12, picture.shape), 0, 255).astype(np.uint8)


def new_photos(n: int = 100) -> list[bytes]:
    """n photos of the dataset's two classes that are not in it, drawn here."""
    rng = np.random.default_rng(20_000)
    out = []
    for i in range(n):
        buffer = io.BytesIO()
        Image.fromarray(draw_varied(i % 2, rng)).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def model_inputs(items: list[bytes]) -> np.ndarray:
    return np.stack([images.load_for_model(data)[1] for data in items])


def test_photos_of_the_dataset_passed_on_are_found_and_new_photos_are_not(synthetic_data):
    loaded = dataset.load_dataset(synthetic_data)
    total = sum(len(loaded.split(s)) for s in dataset.SPLITS)
    assert fingerprints.load(loaded.key, total) is not None  # kept beside the decoded photos, by content
    chosen = [(s, f) for s in dataset.SPLITS for f in loaded.split(s).files[:6]]
    same = []
    for split, file in chosen:
        found = dataset.seen_photos(loaded.key, model_inputs(again((synthetic_data / file).read_bytes())))
        assert [(s.split, s.file) for s in found if s is not None] == [(split, file)] * len(found), (file, found)
        same += [s.distance for s in found]
    prints = fingerprints.load(loaded.key, total)
    _, nearest = fingerprints.nearest(prints, fingerprints.fingerprints(model_inputs(new_photos())))
    assert dataset.seen_photos(loaded.key, model_inputs(new_photos())) == [None] * 100
    print(f"\n[fingerprints] drawn photos: the same one passed on, {len(same)}: max {max(same):.3f}; "
          f"100 new ones, nearest dataset photo: min {nearest.min():.3f}, median {np.median(nearest):.3f}")
    assert max(same) < fingerprints.TOLERANCE / 2 < fingerprints.TOLERANCE < nearest.min()


def test_the_model_service_names_a_dataset_photo_beside_its_answer(trained_transfer):
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    photo = data.source.root / data.train.files[3]
    resaved = again(photo.read_bytes())[2]  # JPEG at quality 50
    answer = tasks.classify(run.run_id, resaved, False)
    assert answer.seen is not None and (answer.seen.split, answer.seen.name) == ("train", photo.name)
    assert tasks.classify(run.run_id, new_photos(1)[0], False).seen is None
    validation = data.source.root / data.validation.files[0]
    assert tasks.classify(run.run_id, validation.read_bytes(), False).seen.split == "validation"
    # A run trained without that photo (Label check) has not seen it.
    without = runs.save_run(result, data.describe(), {"excluded": [data.train.files[3]]})
    assert tasks.classify(without.run_id, resaved, False).seen is None


def test_the_labelled_check_counts_the_photos_the_model_trained_on(trained_transfer):
    data, result = trained_transfer
    run = runs.save_run(result, data.describe())
    items = [(f"{data.class_names[data.train.labels[i]]}/{i}.jpg",
              again((data.source.root / data.train.files[i]).read_bytes())[1]) for i in range(3)]
    items += [(f"{'cats' if i % 2 == 0 else 'dogs'}/new{i}.jpg", photo) for i, photo in enumerate(new_photos(5))]
    checked = tasks.check_labelled(run.run_id, items, False)
    assert checked.total == 8 and len(checked.seen) == 3 and all(name.endswith(("0.jpg", "1.jpg", "2.jpg"))
                                                                 for name in checked.seen)
    new_right = sum(1 for name, _ in items[3:] if name)  # every new photo is a drawn one of its class
    assert 0 <= checked.right_unseen <= new_right and checked.right_unseen <= checked.right


def test_classify_says_when_a_photo_is_in_the_training_set(monkeypatch, synthetic_data, trained_transfer):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    data, result = trained_transfer
    runs.save_run(result, data.describe())
    photo = data.source.root / data.train.files[5]
    at = open_page("classify")
    at.file_uploader(key="classify_files").set_value(
        [(photo.name, again(photo.read_bytes())[3], "image/png"), ("new.jpg", new_photos(1)[0], "image/jpeg")]).run()
    assert not at.exception
    warned = texts(at.warning)
    assert warned == [f"This photo is in the training set ({photo.name}): the model has seen it, so its answer "
                      "says little about new photos."], warned
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr(f"mine/{data.class_names[data.train.labels[5]]}/{photo.name}", again(photo.read_bytes())[0])
        archive.writestr("mine/cats/new.jpg", new_photos(1)[0])
    at.file_uploader(key="check_files").set_value([("mine.zip", zipped.getvalue(), "application/zip")]).run()
    assert not at.exception
    assert any(w.startswith("1 photo of these 2 is in the training set") and "Without it: " in w
               for w in texts(at.warning)), texts(at.warning)


@pytest.mark.real
def test_on_the_posts_photos_the_same_photo_is_close_and_every_other_is_far(real_folder):
    """The distances the tolerance is set between (fingerprints.py): 100 photos passed on six ways,
    and the nearest other photo of the same class for each of the 3000."""
    loaded = dataset.load_dataset(real_folder)
    rows = [(s, f, int(label)) for s in dataset.SPLITS for f, label in zip(loaded.split(s).files, loaded.split(s).labels)]
    prints = fingerprints.load(loaded.key, len(rows)).astype(np.float32)
    rng = np.random.default_rng(1)
    same = []
    for i in rng.choice(len(rows), 100, replace=False):
        query = fingerprints.fingerprints(model_inputs(again((real_folder / rows[i][1]).read_bytes())))
        same += np.linalg.norm(query.astype(np.float32) - prints[i], axis=1).tolist()
    labels = np.array([r[2] for r in rows])
    nearest = []
    for i in range(len(rows)):
        d = np.linalg.norm(prints - prints[i], axis=1)
        d[i], d[labels != labels[i]] = np.inf, np.inf
        nearest.append((float(d.min()), rows[i][1], rows[int(d.argmin())][1]))
    twice = {"train/dogs/dog.74.jpg", "train/dogs/dog.180.jpg"}  # one picture twice in the dataset
    others = np.array([d for d, a, b in nearest if not {a, b} <= twice])
    print(f"\n[fingerprints] the post's photos: the same photo passed on ({len(same)}): max {max(same):.3f}, "
          f"p99 {np.percentile(same, 99):.3f}; the nearest other photo of its class ({len(others)}): min "
          f"{others.min():.3f}, p1 {np.percentile(others, 1):.3f}, median {np.median(others):.3f}")
    assert max(same) < 0.03 < 0.4 < others.min()
    assert min(d for d, a, b in nearest if {a, b} <= twice) < fingerprints.TOLERANCE  # found: it is the same

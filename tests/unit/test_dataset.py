"""Tests for catdog_core.dataset: finding, checking, decoding and splitting images.

Every dataset here is drawn on the fly (conftest.make_dataset); the one test on
the real archive is marked `real` and never touches the network either.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog_core import config, dataset, sources
from catdog_core import images as pixel_path
from catdog_core.errors import DatasetUnavailable, InvalidDataset

from conftest import draw_image, jpeg_bytes, make_dataset


def other_format_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(draw_image(0, np.random.default_rng(1))).save(buf, fmt)
    return buf.getvalue()


def load_in_thread(root, timeout: float = 60.0):
    """load_dataset with a deadline, so a hang fails the test instead of the whole run."""
    box: dict = {}

    def target():
        try:
            box["dataset"] = dataset.load_dataset(root)
        except Exception as exc:  # re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"load_dataset did not return within {timeout} s"
    if "error" in box:
        raise box["error"]
    return box["dataset"]


def all_files(ds) -> dict[str, set[str]]:
    return {s: set(ds.split(s).files) for s in dataset.SPLITS}


# ---------------------------------------------------------------- splits


def test_splits_are_disjoint_and_cover_every_image(synthetic_data):
    ds = dataset.load_dataset(synthetic_data)
    files = all_files(ds)
    assert not files["train"] & files["validation"]
    assert not files["train"] & files["test"]
    assert not files["validation"] & files["test"]
    on_disk = {str(p.relative_to(synthetic_data)) for p in synthetic_data.rglob("*.jpg")}
    assert files["train"] | files["validation"] | files["test"] == on_disk
    # Train comes only from train/, validation and test only from validation/.
    assert all(f.startswith("train/") for f in files["train"])
    assert all(f.startswith("validation/") for f in files["validation"] | files["test"])
    # Images and labels line up with the files.
    for s in dataset.SPLITS:
        part = ds.split(s)
        assert part.images.shape == (len(part.files), 160, 160, 3) and part.images.dtype == np.uint8
        for f, label in zip(part.files, part.labels):
            assert f.split("/")[1] == ds.class_names[label]


def test_test_split_is_stable_across_loads_and_chosen_by_each_files_own_hash(synthetic_data):
    first = dataset.load_dataset(synthetic_data)
    dataset.clear_cache()
    second = dataset.load_dataset(synthetic_data)
    assert second is not first  # really built again
    assert second.test.files == first.test.files
    assert second.validation.files == first.validation.files
    assert second.key == first.key
    np.testing.assert_array_equal(second.test.images, first.test.images)
    # A validation file is a test file exactly when its own hash says so.
    held_out = first.validation.files + first.test.files
    assert set(first.test.files) == {f for f in held_out if dataset.unit(config.SEED, f) < dataset.TEST_SHARE}
    other_seed = dataset.load_dataset(synthetic_data, seed=config.SEED + 1)
    assert set(other_seed.test.files) != set(first.test.files)
    assert other_seed.key != first.key
    counts = dataset.label_counts(first)
    assert counts["train"] == {"cats": 24, "dogs": 24}
    assert {c: counts["validation"][c] + counts["test"][c] for c in ("cats", "dogs")} == {"cats": 10, "dogs": 10}


def test_adding_or_removing_a_picture_never_moves_another(tmp_path):
    root = make_dataset(tmp_path / "grow", n_train=30, n_val=40)
    before = dataset.load_dataset(root)
    where = {f: s for s in dataset.SPLITS for f in before.split(s).files}
    (root / "validation" / "cats" / "new-cat.jpg").write_bytes(jpeg_bytes(0, 77))
    (root / "validation" / "dogs" / "dogs.3.jpg").unlink()
    after = dataset.load_dataset(root)
    assert after.key != before.key
    moved = {f for s in dataset.SPLITS for f in after.split(s).files if f in where and where[f] != s}
    assert not moved
    assert "validation/cats/new-cat.jpg" in after.validation.files + after.test.files
    assert "validation/dogs/dogs.3.jpg" not in after.validation.files + after.test.files


def test_the_key_follows_the_pictures_not_their_names(tmp_path):
    a = make_dataset(tmp_path / "a", n_train=8, n_val=5, seed=1)
    b = make_dataset(tmp_path / "b", n_train=8, n_val=5, seed=2)  # same names, other pictures
    same = tmp_path / "same"
    shutil.copytree(a, same)  # same pictures and names, elsewhere
    ka, kb, ks = (dataset.load_dataset(p).key for p in (a, b, same))
    assert ka != kb and ka == ks
    # The same names with the classes' pictures swapped: another dataset.
    swapped = tmp_path / "swapped"
    shutil.copytree(a, swapped)
    for part in ("train", "validation"):
        cats, dogs = swapped / part / "cats", swapped / part / "dogs"
        for i in range(5):
            c, d = cats / f"cats.{i}.jpg", dogs / f"dogs.{i}.jpg"
            cb, db = c.read_bytes(), d.read_bytes()
            c.write_bytes(db)
            d.write_bytes(cb)
    assert dataset.load_dataset(swapped).key != ka


def test_load_dataset_is_cached_per_process(synthetic_data):
    first = dataset.load_dataset(synthetic_data)
    assert dataset.load_dataset(synthetic_data) is first
    assert dataset.cached_dataset(synthetic_data) is first


def test_decoded_images_are_kept_on_disk_for_the_next_process(synthetic_data, fresh_cache):
    dataset.clear_cache()  # decode into this test's CATDOG_HOME
    first = dataset.load_dataset(synthetic_data)
    cache = config.cache_home() / "decoded"
    assert (cache / f"{first.key}.npy").is_file() and (cache / f"{first.key}.json").is_file()
    dataset.clear_cache()
    calls = []
    real = pixel_path.model_inputs
    pixel_path.model_inputs = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        again = dataset.load_dataset(synthetic_data)
    finally:
        pixel_path.model_inputs = real
    assert not calls  # read back from disk, nothing decoded
    assert isinstance(again.train.images, np.memmap) or isinstance(again.train.images.base, np.memmap)
    np.testing.assert_array_equal(again.validation.images, first.validation.images)


def test_the_disk_cache_never_drops_a_dataset_this_process_holds(tmp_path, fresh_cache, monkeypatch):
    """A held dataset whose decoded files were pruned under it by later decodes lost its fingerprints:
    its own photos were no longer recognised (CI, with nine datasets decoded in one process)."""
    from catdog_core.dataset import decoded, fingerprints

    dataset.clear_cache()
    monkeypatch.setattr(decoded, "DISK_CACHE", 1)
    held = [dataset.load_dataset(make_dataset(tmp_path / f"held{i}", n_train=6, n_val=5, seed=20 + i))
            for i in range(3)]
    folder = config.cache_home() / "decoded"
    assert {d.key for d in held} <= {p.stem for p in folder.glob("*.json")}  # over the bound, all held
    for each in held:
        assert fingerprints.load(each.key, sum(len(each.split(s)) for s in dataset.SPLITS)) is not None
    dataset.clear_cache()  # held no more: the next decode keeps only the newest
    last = dataset.load_dataset(make_dataset(tmp_path / "last", n_train=6, n_val=5, seed=40))
    assert {p.stem for p in folder.glob("*.json")} == {last.key}


def test_majority_baseline_balanced_and_unbalanced(synthetic_data, tmp_path):
    assert dataset.majority_baseline(dataset.load_dataset(synthetic_data)) == 0.5
    assert dataset.majority_classes(dataset.load_dataset(synthetic_data)) == ["cats", "dogs"]  # a tie

    root = make_dataset(tmp_path / "unbalanced", n_train=24, n_val=10)
    for i in range(12):  # train: 12 cats, 24 dogs -> always guess "dogs"
        (root / "train" / "cats" / f"cats.{i}.jpg").unlink()
    ds = dataset.load_dataset(root)
    counts = dataset.label_counts(ds)
    assert counts["train"] == {"cats": 12, "dogs": 24}
    assert dataset.majority_classes(ds) == ["dogs"]
    for split in ("validation", "test"):
        labels = ds.split(split).labels
        assert dataset.majority_baseline(ds, split) == pytest.approx(np.mean(labels == 1))
    assert dataset.majority_baseline(ds, "train") == pytest.approx(24 / 36)


def test_pick_examples_per_class_and_seeded(synthetic_data):
    ds = dataset.load_dataset(synthetic_data)
    rows = dataset.pick_examples(ds, 3, seed=5)
    assert [name for name, _ in rows] == ["cats", "dogs"]
    for label, (name, images) in enumerate(rows):
        assert images.shape == (3, 160, 160, 3) and images.dtype == np.uint8
        own = ds.train.images[ds.train.labels == label]
        for image in images:  # every example really is an image of that class
            assert any(np.array_equal(image, other) for other in own)
    again = dataset.pick_examples(ds, 3, seed=5)
    for (_, a), (_, b) in zip(rows, again):
        np.testing.assert_array_equal(a, b)
    other = dataset.pick_examples(ds, 3, seed=6)
    assert any(not np.array_equal(a, b) for (_, a), (_, b) in zip(rows, other))
    # Asking for more than a class has gives all of them, not an error.
    assert dataset.pick_examples(ds, 100)[0][1].shape[0] == 24


# ---------------------------------------------------------------- bad files


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    root = make_dataset(tmp_path / "bad", n_train=8, n_val=5)
    cats = root / "train" / "cats"
    good = jpeg_bytes()
    (cats / "empty.jpg").write_bytes(b"")
    (cats / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (cats / "text.jpg").write_text("this is not a picture of a cat\n")
    (cats / "png.jpg").write_bytes(other_format_bytes("PNG"))
    (cats / "gif.jpg").write_bytes(other_format_bytes("GIF"))
    (cats / "notes.txt").write_text("hello")
    ds = dataset.load_dataset(root)

    reasons = {Path(s.path).name: s.reason for s in ds.skipped}
    assert reasons == {
        "empty.jpg": "empty file",
        "truncated.jpg": "damaged or truncated image",
        "text.jpg": "not an image (unrecognised content)",
        "png.jpg": "PNG data named .jpg",
        "gif.jpg": "GIF data named .jpg",
        "notes.txt": "not an image file (.txt)",
    }
    assert all(s.path.startswith("train/cats/") for s in ds.skipped)
    # The good images still load, all of them.
    counts = dataset.label_counts(ds)
    assert counts["train"] == {"cats": 8, "dogs": 8}
    assert ds.describe()["skipped"] == 6


def test_unreadable_file_is_skipped(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading the file")
    root = make_dataset(tmp_path / "unreadable", n_train=6, n_val=5)
    locked = root / "train" / "dogs" / "locked.jpg"
    locked.write_bytes(jpeg_bytes(1))
    locked.chmod(0)
    try:
        ds = dataset.load_dataset(root)
    finally:
        locked.chmod(0o644)
    reasons = {Path(s.path).name: s.reason for s in ds.skipped}
    assert reasons["locked.jpg"].startswith("unreadable")
    assert dataset.label_counts(ds)["train"]["dogs"] == 6


# ---------------------------------------------------------------- broken folders


def test_empty_class_folder_is_left_out_with_a_note(tmp_path):
    root = make_dataset(tmp_path / "three", classes=("birds", "cats", "dogs"), n_train=6, n_val=5)
    for part in ("train", "validation"):
        shutil.rmtree(root / part / "birds")
        (root / part / "birds").mkdir()
    ds = dataset.load_dataset(root)
    assert ds.class_names == ("cats", "dogs")
    assert any("birds" in note and "left out" in note for note in ds.notes)


def test_a_single_class_is_refused_with_a_clear_message(tmp_path):
    root = make_dataset(tmp_path / "one", classes=("cats",), n_train=6, n_val=5)
    with pytest.raises(InvalidDataset) as info:
        dataset.load_dataset(root)
    message = str(info.value)
    assert "at least 2" in message and "Found 1 class" in message


def test_images_in_nested_subfolders_are_found(tmp_path):
    root = make_dataset(tmp_path / "nested", n_train=6, n_val=5)
    deep = root / "train" / "cats" / "indoor" / "sofa"
    deep.mkdir(parents=True)
    for i in range(3):
        (root / "train" / "cats" / f"cats.{i}.jpg").rename(deep / f"cats.{i}.jpg")
    ds = dataset.load_dataset(root)
    assert dataset.label_counts(ds)["train"] == {"cats": 6, "dogs": 6}
    assert "train/cats/indoor/sofa/cats.0.jpg" in ds.train.files
    assert ds.class_names == ("cats", "dogs")  # the subfolder is not a class


def test_symlink_loop_in_a_class_folder_does_not_hang(tmp_path):
    root = make_dataset(tmp_path / "loop", n_train=6, n_val=5)
    cats = root / "train" / "cats"
    os.symlink(cats, cats / "again")  # train/cats/again -> train/cats
    os.symlink(root / "train", cats / "up")  # and one to the parent
    ds = load_in_thread(root)
    assert dataset.label_counts(ds)["train"] == {"cats": 6, "dogs": 6}


def test_class_folder_with_a_200_character_name_loads(tmp_path):
    long_name = "c" * 200
    root = make_dataset(tmp_path / "long", classes=(long_name, "dogs"), n_train=6, n_val=5)
    ds = dataset.load_dataset(root)
    assert ds.class_names == (long_name, "dogs")
    assert dataset.label_counts(ds)["train"][long_name] == 6


def test_class_folder_with_a_1000_character_name(tmp_path):
    root = make_dataset(tmp_path / "huge", classes=("cats", "dogs"), n_train=6, n_val=5)
    try:
        (root / "train" / ("x" * 1000)).mkdir()
    except OSError as exc:
        pytest.skip(f"this filesystem cannot create a 1000-character folder name (over 255 bytes): {exc.strerror}")
    ds = dataset.load_dataset(root)  # only on filesystems that allow such names: the folder is left out
    assert ds.class_names == ("cats", "dogs")


def test_validation_classes_missing_from_train_are_refused(tmp_path):
    root = make_dataset(tmp_path / "extra", n_train=6, n_val=5)
    make_dataset(tmp_path / "birds", classes=("birds",), n_train=0, n_val=5)
    shutil.copytree(tmp_path / "birds" / "validation" / "birds", root / "validation" / "birds")
    with pytest.raises(InvalidDataset, match="validation/ has classes that train/ lacks: birds"):
        dataset.load_dataset(root)


def test_train_without_validation_is_refused(tmp_path):
    root = make_dataset(tmp_path / "noval", n_train=6, n_val=5)
    shutil.rmtree(root / "validation")
    with pytest.raises(InvalidDataset, match="no validation/"):
        dataset.load_dataset(root)


# ---------------------------------------------------------------- zip sources


def zip_folder(folder: Path, target: Path, top: str | None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            archive.write(path, f"{top}/{rel}" if top else str(rel))
    return target


def test_zip_with_a_top_folder_loads(synthetic_data, tmp_path):
    archive = zip_folder(synthetic_data, tmp_path / "pets.zip", "cats_and_dogs_filtered")
    ds = dataset.load_dataset(archive)
    assert ds.source.kind == "zip"
    assert ds.class_names == ("cats", "dogs")
    folder = dataset.load_dataset(synthetic_data)
    assert dataset.label_counts(ds) == dataset.label_counts(folder)
    assert ds.test.files == folder.test.files  # same relative paths, same seed: same test set
    # Unpacked once into CATDOG_HOME, not next to the zip.
    assert Path(ds.source.root).is_relative_to(config.catdog_home())


def test_only_looking_never_unpacks_a_zip(synthetic_data, tmp_path):
    # The sidebar's cached_dataset runs before any progress bar is up.
    archive = zip_folder(synthetic_data, tmp_path / "pets.zip", "cats_and_dogs_filtered")
    unpacked = config.catdog_home() / "datasets"
    assert dataset.cached_dataset(archive) is None
    assert not unpacked.exists()
    with pytest.raises(DatasetUnavailable, match="not unpacked yet"):
        dataset.find_source(archive, unpack=False)
    loaded = dataset.load_dataset(archive)
    assert any(unpacked.iterdir())
    assert dataset.cached_dataset(archive) is loaded


def test_two_threads_unpack_a_zip_once(synthetic_data, tmp_path):
    archive = zip_folder(synthetic_data, tmp_path / "pets.zip", "cats_and_dogs_filtered")
    results, errors = [], []

    def load():
        try:
            results.append(sources.extract_zip(archive))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(set(results)) == 1
    assert [p.name for p in (config.catdog_home() / "datasets").iterdir()] == [results[0].name]


def test_zip_with_a_path_outside_the_archive_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data/train/cats/a.jpg", jpeg_bytes())
        z.writestr("../evil.txt", "gotcha")
    with pytest.raises(InvalidDataset, match="outside the archive"):
        dataset.load_dataset(archive)
    home = config.catdog_home()
    assert not list(home.rglob("evil.txt")) and not (home / "evil.txt").exists()
    assert not (home.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    datasets = home / "datasets"
    assert not datasets.exists() or not list(datasets.iterdir())  # no half-unpacked folder left


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    fake = tmp_path / "data.zip"
    fake.write_text("not a zip")
    with pytest.raises(InvalidDataset, match="neither a folder nor a .zip"):
        dataset.load_dataset(fake)


def test_class_folders_only_are_split_automatically(tmp_path):
    made = make_dataset(tmp_path / "made", n_train=25, n_val=0)
    root = tmp_path / "flat"
    shutil.move(made / "train", root)  # root/cats/*.jpg, root/dogs/*.jpg
    ds = dataset.load_dataset(root)
    assert ds.auto_split
    files = all_files(ds)
    assert not (files["train"] & files["validation"]) and not (files["validation"] & files["test"])
    assert not (files["train"] & files["test"])
    assert sum(len(f) for f in files.values()) == 50
    # About a fifth is held out, each file by its own hash; a fifth of that is test.
    for f in files["test"]:
        assert dataset.unit(config.SEED, f) < dataset.AUTO_HELD_OUT * dataset.TEST_SHARE
    for f in files["train"]:
        assert dataset.unit(config.SEED, f) >= dataset.AUTO_HELD_OUT
    assert set(ds.validation.labels.tolist()) == {0, 1}  # every class is measured


def test_a_tiny_class_still_gets_a_validation_image(tmp_path):
    made = make_dataset(tmp_path / "made", n_train=5, n_val=0)
    root = tmp_path / "flat"
    shutil.move(made / "train", root)
    ds = dataset.load_dataset(root)
    assert set(ds.validation.labels.tolist()) == {0, 1}


def test_auto_split_needs_five_images_per_class(tmp_path):
    made = make_dataset(tmp_path / "made", n_train=6, n_val=0)
    root = tmp_path / "flat"
    shutil.move(made / "train", root)
    for i in range(2):
        (root / "dogs" / f"dogs.{i}.jpg").unlink()
    with pytest.raises(InvalidDataset, match="'dogs' has 4 usable images; each class needs at least 5"):
        dataset.load_dataset(root)


# ---------------------------------------------------------------- no data, no network


def test_no_data_and_no_download_names_the_setting_and_layout():
    with pytest.raises(DatasetUnavailable) as info:
        dataset.load_dataset(allow_download=False)
    message = str(info.value)
    assert config.ENV_DATA_DIR in message
    assert config.EXPECTED_LAYOUT in message


def test_missing_local_path_is_unavailable(tmp_path):
    with pytest.raises(DatasetUnavailable, match=config.ENV_DATA_DIR):
        dataset.load_dataset(tmp_path / "nowhere")


def test_env_var_is_used(synthetic_data, monkeypatch):
    monkeypatch.setenv(config.ENV_DATA_DIR, str(synthetic_data))
    ds = dataset.load_dataset(allow_download=False)
    assert ds.source.kind == "folder" and Path(ds.source.root) == synthetic_data


def test_download_without_network_says_how_to_use_a_local_copy(monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DatasetUnavailable) as info:
        dataset.load_dataset()
    message = str(info.value)
    assert "download failed" in message and config.ENV_DATA_DIR in message and config.DATA_URL in message
    datasets = config.keras_home() / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []


def test_download_cut_off_midway_leaves_no_partial_file(monkeypatch):
    class Response:
        headers = {"Content-Length": "1000000"}
        sent = 0

        def read(self, n):
            self.sent += 1
            if self.sent > 2:
                raise ConnectionResetError(104, "Connection reset by peer")
            return b"x" * n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Response())
    seen = []
    with pytest.raises(DatasetUnavailable, match="download failed"):
        dataset.load_dataset(progress=lambda done, total, message: seen.append(done))
    assert seen and seen[-1] > 0  # it really was downloading
    datasets = config.keras_home() / "datasets"
    assert list(datasets.iterdir()) == []


@pytest.mark.real
def test_download_path_uses_the_keras_cache_without_network(shared_zip, monkeypatch):
    datasets = config.keras_home() / "datasets"
    datasets.mkdir(parents=True)
    os.symlink(shared_zip, datasets / config.DATA_FNAME)

    def fail(*args, **kwargs):
        pytest.fail("the network was used although the archive is in the Keras cache")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    monkeypatch.setattr(urllib.request, "urlretrieve", fail)
    from keras.src.utils import file_utils

    for name in ("urlopen", "urlretrieve"):
        if hasattr(file_utils, name):
            monkeypatch.setattr(file_utils, name, fail)
    ds = dataset.load_dataset()
    assert ds.source.kind == "download"
    assert ds.class_names == ("cats", "dogs")
    counts = dataset.label_counts(ds)
    assert sum(counts["train"].values()) == 2000
    assert sum(counts["validation"].values()) + sum(counts["test"].values()) == 1000
    assert 170 <= sum(counts["test"].values()) <= 230  # about a fifth, each file by its own hash
    # A second process-level load finds the extracted copy without unpacking again.
    dataset.clear_cache()
    assert dataset.find_source(allow_download=False).kind == "download"


def test_class_names_are_normalised_and_never_carry_control_or_direction_marks(tmp_path):
    """NFD "café" (as a Mac writes it) is the class "café" (NFC); the same name in both forms is one
    sentence, as are a terminal escape and a right-to-left override in a class folder's name."""
    import unicodedata

    nfc, nfd = "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")
    root = make_dataset(tmp_path / "one", classes=(nfd, "dogs"), n_train=6, n_val=4)
    assert dataset.load_dataset(root).class_names == tuple(sorted((nfc, "dogs")))
    both = make_dataset(tmp_path / "both", classes=(nfd, "dogs"), n_train=6, n_val=4)
    for part in ("train", "validation"):
        shutil.copytree(both / part / nfd, both / part / nfc)
    with pytest.raises(InvalidDataset, match="both named 'caf"):
        dataset.load_dataset(both)
    for name in ("\x1b[2Jcats", "dogs\u202egpj"):
        bad = make_dataset(tmp_path / f"bad{len(name)}", classes=(name, "birds"), n_train=6, n_val=4)
        with pytest.raises(InvalidDataset, match="control or text-direction characters") as refused:
            dataset.load_dataset(bad)
        assert "\x1b" not in str(refused.value) and "\u202e" not in str(refused.value)


def test_clear_example_skips_dim_and_blurred_photos():
    # The Augmentation page opens on the first photo of class 0 that is well lit, contrasted and sharp.
    from catdog_core.dataset import Split

    yy, xx = np.mgrid[:160, :160]
    checker = np.where((yy // 8 + xx // 8) % 2, 220, 40).astype(np.uint8)[..., None].repeat(3, axis=2)
    dim = np.full((160, 160, 3), 40, np.uint8)
    flat = np.full((160, 160, 3), 150, np.uint8)  # bright but without an edge: a blurred photo
    part = Split(np.stack([dim, flat, checker, checker]), np.array([0, 0, 1, 0], np.int32), ("a", "b", "c", "d"))
    assert dataset.clear_example(part) == 3  # not the dog at 2
    dark_noise = (np.random.default_rng(0).integers(0, 60, (160, 160, 3))).astype(np.uint8)
    none_pass = Split(np.stack([flat, dark_noise]), np.array([0, 0], np.int32), ("a", "b"))
    assert dataset.clear_example(none_pass) == 1  # then the sharpest one looked at
    assert dataset.clear_example(Split(np.zeros((0, 160, 160, 3), np.uint8), np.zeros(0, np.int32), ())) == 0


def test_the_held_dataset_is_checked_by_its_folders_and_its_files_only_now_and_then(synthetic_data, monkeypatch,
                                                                                     tmp_path):
    """Under a class, walking 3,000 files on every page run took a third of the server's time."""
    import shutil

    from catdog_core.dataset import loading

    synthetic_data = Path(shutil.copytree(synthetic_data, tmp_path / "data"))
    held = dataset.load_dataset(synthetic_data)
    walks = []
    signature = loading.files_signature
    monkeypatch.setattr(loading, "files_signature", lambda source, *a: walks.append(1) or signature(source, *a))
    monkeypatch.setattr(loading, "LOOK_SECONDS", 0.0)

    def look():
        """A page run uses the last look and starts the next one beside it; the run after it sees it."""
        dataset.cached_dataset(synthetic_data)
        with loading._looking:  # the look started beside it has ended
            pass
        found = dataset.cached_dataset(synthetic_data)
        with loading._looking:
            pass
        return found

    for _ in range(10):
        assert look() is held
    assert len(walks) == 1  # the folders each time, the files once
    extra = synthetic_data / "train" / "cats" / "new.jpg"
    extra.write_bytes(next((synthetic_data / "train" / "cats").glob("*.jpg")).read_bytes())
    assert look() is None  # a file added: its folder changed
    extra.unlink()
    assert look() is held
    monkeypatch.setattr(loading, "FULL_LOOK_SECONDS", 0.0)  # and every file, every FULL_LOOK_SECONDS
    before = len(walks)
    look()
    assert len(walks) >= before + 1
    # A walk never runs inside a page run once the source was looked at: it runs beside it.
    slow = threading.Event()
    monkeypatch.setattr(loading, "files_signature", lambda source, *a: slow.wait(5) or signature(source, *a))
    started = time.perf_counter()
    assert dataset.cached_dataset(synthetic_data) is held
    assert time.perf_counter() - started < 1.0
    slow.set()
    with loading._looking:
        pass


def test_a_class_of_small_sets_never_pushes_the_post_sized_dataset_out(tmp_path, synthetic_data, monkeypatch):
    """Under a class the server held 4 datasets: thirty students' sets of a dozen photos pushed the
    post's data out of it, and each page run asked the model service to open it again (bench_class:
    a third of the server's time). Memory is bounded by the pixels held, the newest always kept; a
    new set never makes the held data's sessions look at its files again in their runs."""
    from catdog_core.dataset import loading

    held = dataset.load_dataset(synthetic_data)
    assert dataset.cached_dataset(synthetic_data) is held
    looks = {memo: look.full_at for memo, look in loading._looked.items()}
    sets = [dataset.load_dataset(make_dataset(tmp_path / f"set{i}", n_train=6, n_val=5, seed=60 + i))
            for i in range(loading.MEMORY_CACHE // 8 + 6)]
    assert dataset.cached_dataset(synthetic_data) is held  # nothing decoded, opened or looked at again
    assert {memo: loading._looked[memo].full_at for memo in looks} == looks  # its files not walked again
    assert dataset.load_dataset(tmp_path / "set0") is sets[0]  # still held
    monkeypatch.setattr(loading, "MEMORY_CACHE_BYTES", loading._pixel_bytes(sets[-1]))
    newest = dataset.load_dataset(make_dataset(tmp_path / "newest", n_train=6, n_val=5, seed=59))
    assert list(loading._cache) == [newest.key]  # the bytes' bound: only the newest stays
    assert dataset.cached_dataset(synthetic_data) is None


def test_the_disk_cache_is_bounded_by_bytes_and_keeps_the_newest(tmp_path, fresh_cache, monkeypatch):
    from catdog_core.dataset import decoded

    dataset.clear_cache()
    monkeypatch.setattr(decoded, "DISK_CACHE_BYTES", 1)
    folder = config.cache_home() / "decoded"
    for i in range(3):
        loaded = dataset.load_dataset(make_dataset(tmp_path / f"d{i}", n_train=6, n_val=5, seed=80 + i))
        dataset.clear_cache()
        assert {p.stem for p in folder.glob("*.json")} == {loaded.key}
    monkeypatch.setattr(decoded, "DISK_CACHE_BYTES", 2048 * 1024**2)
    keys = set()
    for i in range(3):
        keys.add(dataset.load_dataset(make_dataset(tmp_path / f"e{i}", n_train=6, n_val=5, seed=90 + i)).key)
    assert keys <= {p.stem for p in folder.glob("*.json")}  # small sets: far more than 8 fit


def test_a_new_process_reads_only_the_files_that_changed(tmp_path, fresh_cache):
    """What reading the files found is kept on disk per folder: the next process (here: this one
    after forgetting everything) hashes no unchanged file, and reads a changed one again."""
    from catdog_core.dataset import files

    root = make_dataset(tmp_path / "kept", n_train=8, n_val=5)
    hour_ago = time.time() - 3600
    every = sorted(p for p in root.rglob("*.jpg"))
    for path in every:
        os.utime(path, (hour_ago, hour_ago))  # older than the record: trusted while unchanged
    dataset.clear_cache()
    before = files.reads()
    first = dataset.load_dataset(root)
    assert files.reads() - before == len(every)
    dataset.clear_cache()  # a new process knows nothing but what the disk kept
    before = files.reads()
    assert dataset.load_dataset(root).key == first.key
    assert files.reads() == before  # no file read or hashed again
    changed = root / "train" / "cats" / "cats.0.jpg"
    changed.write_bytes(jpeg_bytes(0, 99))
    os.utime(changed, (hour_ago, hour_ago))  # even with its old time back: its inode change time moved
    dataset.clear_cache()
    before = files.reads()
    assert dataset.load_dataset(root).key != first.key
    assert files.reads() - before == 1
    just_written = root / "train" / "dogs" / "dogs.0.jpg"
    just_written.write_bytes(jpeg_bytes(1, 98))  # changed within the record's clock tick: never trusted
    dataset.clear_cache()
    dataset.load_dataset(root)
    dataset.clear_cache()
    before = files.reads()
    dataset.load_dataset(root)
    assert files.reads() - before == 1

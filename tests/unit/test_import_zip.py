"""uploads.import_zip: uploads of "your own classes" as a zip of class folders."""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from catdog_core import dataset, uploads
from catdog_core.errors import InvalidDataset

from conftest import jpeg_bytes

small_jpeg = functools.partial(jpeg_bytes, size=48, quality=85)  # keeps the zips small


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def class_zip(counts: dict[str, int], top: str = "my_pets/", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return zip_of({f"{top}{name}/{name}_{i}.jpg": small_jpeg(k % 2, rng)
                   for k, (name, n) in enumerate(counts.items()) for i in range(n)})


def uploaded(home: Path) -> list[Path]:
    folder = home / "uploads"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_three_class_folders_import_and_split_automatically(isolated_home):
    data = class_zip({"apples": 6, "bananas": 6, "cherries": 6})
    path = uploads.import_zip(data, "My Pets (2024).zip")
    assert path.is_file() and path.parent == isolated_home / "uploads" and path.suffix == ".zip"
    assert path.read_bytes() == data
    assert "/" not in path.name and " " not in path.name and path.name.startswith("My_Pets_2024")

    loaded = dataset.load_dataset(path)
    assert loaded.class_names == ("apples", "bananas", "cherries")
    assert loaded.auto_split
    files = {s: set(loaded.split(s).files) for s in dataset.SPLITS}
    assert files["train"] and files["validation"]
    assert not (files["train"] & files["validation"] or files["train"] & files["test"]
                or files["validation"] & files["test"])
    assert sum(len(f) for f in files.values()) == 18
    for s in ("train", "validation"):  # every class is trained and measured
        assert set(loaded.split(s).labels.tolist()) == {0, 1, 2}

    # The same bytes again: the same file, nothing new written.
    assert uploads.import_zip(data, "My Pets (2024).zip") == path
    assert uploaded(isolated_home) == [path.with_suffix(".json"), path]  # the zip and its entry in the list
    assert [s.path for s in uploads.list_sets()] == [path]


def test_a_prepared_train_validation_zip_is_accepted():
    rng = np.random.default_rng(1)
    files = {f"{part}/{name}/{i}.jpg": small_jpeg(k, rng)
             for part, n in (("train", 4), ("validation", 3)) for k, name in enumerate(("cats", "dogs"))
             for i in range(n)}
    loaded = dataset.load_dataset(uploads.import_zip(zip_of(files), "post.zip"))
    assert loaded.class_names == ("cats", "dogs") and not loaded.auto_split


def test_one_class_is_refused_and_nothing_is_kept(isolated_home):
    with pytest.raises(InvalidDataset, match="only one class folder \\(cats\\)"):
        uploads.import_zip(class_zip({"cats": 8}), "cats.zip")
    with pytest.raises(InvalidDataset, match="only one class folder"):
        uploads.import_zip(class_zip({"cats": 8}, top=""), "cats.zip")  # no wrapper folder either
    assert uploaded(isolated_home) == []


def test_a_set_refused_after_decoding_keeps_no_decoded_images_and_names_no_server_path(isolated_home):
    """Two class folders, but every 'dogs' file is damaged: refused by the loader after decoding.
    The decoded images go with it, and the sentence names the upload as the student named it."""
    rng = np.random.default_rng(3)
    files = {f"pets/cats/{i}.jpg": small_jpeg(0, rng) for i in range(8)}
    files |= {f"pets/dogs/{i}.jpg": small_jpeg(1, rng)[:40] for i in range(8)}  # cut short: unusable
    from catdog_core.dataset.decoded import decoded_dir

    decoded = decoded_dir()
    before = set(decoded.glob("*")) if decoded.is_dir() else set()
    with pytest.raises(InvalidDataset) as refused:
        uploads.import_zip(zip_of(files), "Our pets.zip")
    message = str(refused.value)
    assert "Our_pets.zip" in message and "1 class folder" in message, message
    assert str(isolated_home) not in message and "/" not in message.split("(")[0], message
    # Nothing refused is kept (the shared cache may drop older files meanwhile, never gain one).
    assert (set(decoded.glob("*")) if decoded.is_dir() else set()) <= before
    assert uploaded(isolated_home) == [] and not list((isolated_home / "datasets").glob("Our_pets*"))


def test_a_class_with_three_images_is_named(isolated_home):
    with pytest.raises(InvalidDataset, match="Class 'bananas' has 3 usable images.*at least 5"):
        uploads.import_zip(class_zip({"apples": 6, "bananas": 3}), "fruit.zip")
    assert uploaded(isolated_home) == []  # the refused upload is removed again
    assert not list((isolated_home / "datasets").glob("fruit*"))  # nor its unpacked copy


def test_a_class_of_non_images_is_named_not_silently_dropped():
    rng = np.random.default_rng(2)
    files = {f"apples/{i}.jpg": small_jpeg(0, rng) for i in range(6)}
    files |= {f"bananas/{i}.jpg": small_jpeg(1, rng) for i in range(6)}
    files |= {f"notes/{i}.txt": b"not a picture" for i in range(6)}
    with pytest.raises(InvalidDataset, match="Class 'notes' has no usable images"):
        uploads.import_zip(zip_of(files), "mixed.zip")


def test_bytes_that_are_not_a_zip_are_refused(isolated_home):
    with pytest.raises(InvalidDataset, match="not a zip archive"):
        uploads.import_zip(b"PK\x03\x04 but then nothing useful" * 10, "broken.zip")
    with pytest.raises(InvalidDataset, match="not a zip archive"):
        uploads.import_zip(small_jpeg(0, np.random.default_rng(0)), "photo.zip")
    assert uploaded(isolated_home) == []


def test_a_zip_slip_member_is_refused_before_writing(isolated_home, tmp_path):
    rng = np.random.default_rng(3)
    files = {f"data/{c}/{i}.jpg": small_jpeg(k, rng) for k, c in enumerate(("a", "b")) for i in range(6)}
    for bad in ("../../evil.jpg", "/etc/evil.jpg", "data/a/../../../evil.jpg"):
        with pytest.raises(InvalidDataset, match="path outside the archive"):
            uploads.import_zip(zip_of({**files, bad: b"x"}), "slip.zip")
    assert uploaded(isolated_home) == []
    assert not list(tmp_path.rglob("evil.jpg"))


def test_over_the_size_limit_is_refused_before_writing(isolated_home, monkeypatch):
    data = class_zip({"a": 5, "b": 5})
    monkeypatch.setattr(uploads, "MAX_UPLOAD_ZIP_BYTES", len(data) - 1)
    with pytest.raises(InvalidDataset, match="limited to"):
        uploads.import_zip(data, "big.zip")
    assert not (isolated_home / "uploads").exists()


def test_one_upload_limit_stated_once_and_a_larger_set_comes_as_photos(isolated_home, monkeypatch):
    """The zip limit is one number: the library's, Streamlit's per-file limit and SECURITY.md's. A
    set made here from photos (each within Streamlit's limit) may be larger than one uploaded zip."""
    import re
    import tomllib

    from conftest import REPO

    limit_mb = uploads.MAX_UPLOAD_ZIP_BYTES // 2**20
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == limit_mb
    assert re.search(rf"\b{limit_mb} MB uploaded\b", (REPO / "SECURITY.md").read_text())
    data = class_zip({"apples": 6, "bananas": 6})
    monkeypatch.setattr(uploads, "MAX_UPLOAD_ZIP_BYTES", len(data) - 1)
    with pytest.raises(InvalidDataset, match="a larger set can be added as photos"):
        uploads.import_zip(data, "fruit.zip")
    assert uploads.import_zip(data, "fruit.zip", from_photos=True).is_file()

"""A corpus of bad and odd uploads, built on the fly, through the core and the Classify page.

Every file goes (a) through images.decode / predict.classify_bytes with a real
trained model and (b) through the Classify page in AppTest, in a few batches. Valid
files must classify; every other file must get exactly one st.error holding one
plain sentence, the page must keep working, and shown names must stay harmless.

Run with -s to see the table of how each file ended.

Note: AppTest does not enforce the server's 10 MB upload limit (.streamlit/config.toml
maxUploadSize), so the page path checks the core's own byte limit with an 11 MB blob.
"""

from __future__ import annotations

import re

import resource
import struct
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from catdog_core import images, predict, runs
from catdog_core.errors import InvalidImage
from conftest import open_page, photo_bytes, rss_mb
from support.queue import idle_queue  # noqa: F401  (the fixture stops every job after each test)
from support.hostile import chunk
from support.pictures import BLUE, RED, WHITE, encode, near, two_halves
from support.pictures import raw_png as png

NAME_LIMIT = 80


@dataclass(frozen=True)
class Case:
    kind: str  # what the table calls it
    name: str  # the uploaded file name
    data: bytes
    ok: bool  # True: must classify; False: must be refused with one sentence
    word: str = ""  # refused: a word the message must contain
    shown: str | None = None  # the name the page must show, when it differs from name


def _png_bad_crc() -> bytes:
    data = bytearray(encode(two_halves(64, 64), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 17] ^= 0xFF  # last byte of IHDR's CRC: the header no longer checks out
    return bytes(data)


def _bomb_png(side: int = 30_000) -> bytes:
    return png(side, side, 1, 3, b"\0" * ((side + 7) // 8), chunk(b"PLTE", bytes(RED)))


def _huge_gif(screen: int = 30_000, frame: int = 30_000) -> bytes:
    screen_header = struct.pack("<HHBBB", screen, screen, 0x80, 0, 0) + bytes(RED) + bytes(BLUE)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, frame, frame, 0)
    return b"GIF89a" + screen_header + descriptor + b"\x02\x02\x4c\x01\x00;"


def _huge_jpeg_header() -> bytes:
    data = bytearray(encode(two_halves(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 10_000, 20_000)
    return bytes(data)


def _animated_gif() -> bytes:
    red, blue = Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)
    return encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)


def _palette_png() -> bytes:
    img = Image.new("P", (40, 20), 0)
    img.putpalette(list(BLUE) + list(RED))
    img.paste(1, (20, 0, 40, 20))
    return encode(img, "PNG", transparency=0)


def _la_png() -> bytes:
    img = Image.new("LA", (30, 10), (0, 255))
    img.paste((0, 0), (0, 0, 10, 10))  # left third fully transparent
    return encode(img, "PNG")


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait: turned 90 degrees clockwise
    return encode(two_halves(80, 40), "JPEG", exif=exif, quality=95)


def _photo(kind: int = 0, seed: int = 11) -> bytes:
    return photo_bytes(kind, seed)


def bad_cases() -> list[Case]:
    rng = np.random.default_rng(5)
    good = encode(two_halves(64, 64), "JPEG")
    return [
        Case("zero bytes", "empty.jpg", b"", False, "empty"),
        Case("random bytes", "noise.jpg", rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(), False,
             "JPEG, PNG, WebP, BMP or GIF"),
        Case("truncated JPEG", "half.jpg", good[: len(good) // 2], False, "damaged"),
        Case("PNG with a bad CRC", "crc.png", _png_bad_crc(), False, "damaged"),
        Case("PNG with a flipped IDAT byte", "idat.png",
             (lambda d: d[:d.index(b"IDAT") + 12] + bytes([d[d.index(b"IDAT") + 12] ^ 0xFF])
              + d[d.index(b"IDAT") + 13:])(encode(two_halves(64, 64), "PNG")), False, "damaged"),
        Case("text named .jpg", "notes.jpg", b"My cat likes boxes.\nAnd naps.\n", False, "text file"),
        Case("HTML named .jpg", "page.jpg",
             b"<!DOCTYPE html><html><head><title>cat</title></head><body>x</body></html>", False, "HTML"),
        Case("SVG named .jpg", "drawing.jpg",
             b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
             False, "SVG"),
        Case("PDF named .jpg", "doc.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
             False, "PDF"),
        Case("HEIC-looking", "IMG_0001.jpg",
             b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + rng.bytes(300), False, "HEIC"),
        Case("AVIF-looking", "photo.jpg",
             b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + rng.bytes(300), False, "AVIF"),
        Case("TIFF named .png", "scan.png", encode(two_halves(16, 16), "TIFF"), False, "TIFF"),
        Case("ICO named .png", "favicon.png", encode(two_halves(16, 16), "ICO"), False, "ICO"),
        Case("PNG bomb 30000x30000", "bomb.png", _bomb_png(), False, "30000x30000 pixels"),
        Case("GIF with huge dimensions", "huge.gif", _huge_gif(), False, "megapixel limit"),
        Case("GIF frame bigger than its screen", "frame.gif", _huge_gif(10, 30_000), False, "megapixel limit"),
        Case("JPEG header claiming 20000x10000", "claims.jpg", _huge_jpeg_header(), False, "20000x10000"),
        Case("PNG with zero width", "zero.png", png(0, 4, 8, 0, b""), False, ""),
        Case("11 MB blob (over the upload limit)", "big.jpg", b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024 - 3),
             False, "11 MB, over the 10 MB upload limit"),
    ]


def good_cases() -> list[Case]:
    return [
        Case("photo (control)", "cat photo.jpg", _photo(0), True),
        Case("animated GIF", "anim.gif", _animated_gif(), True),
        Case("16-bit RGB PNG", "deep.png", png(2, 1, 16, 2, struct.pack(">6H", 65535, 128 * 257, 0,
                                                                      10 * 257, 65535, 200 * 257)), True),
        Case("CMYK JPEG", "cmyk.jpg", encode(Image.new("CMYK", (32, 32), (255, 0, 0, 0)), "JPEG", quality=95), True),
        Case("palette PNG with transparency", "palette.png", _palette_png(), True),
        Case("LA PNG", "la.png", _la_png(), True),
        Case("1x1 image", "dot.png", encode(Image.new("RGB", (1, 1), BLUE), "PNG"), True),
        Case("10000x10 strip", "strip.png", encode(two_halves(10_000, 10), "PNG"), True),
        Case("EXIF-rotated photo", "rotated.jpg", _exif_rotated(), True),
        Case("WebP", "w.webp", encode(two_halves(30, 10), "WEBP", lossless=True), True),
        Case("BMP", "b.bmp", encode(two_halves(30, 10, left=BLUE, right=RED), "BMP"), True),
    ]


def name_cases() -> list[Case]:
    # Each a different photo; the same photo twice has a test of its own below.
    long_name = "x" * 496 + ".jpg"
    return [
        Case("name ../../etc/passwd.jpg", "../../etc/passwd.jpg", _photo(1, 41), True, shown="passwd.jpg"),
        Case("name C:\\x\\cat.jpg", "C:\\x\\cat.jpg", _photo(0, 42), True, shown="cat.jpg"),
        Case("name ..\\../.jpg", "..\\../.jpg", _photo(1, 43), True, shown=".jpg"),
        Case("name with unicode", "猫の写真 🐱 çà.jpg", _photo(0, 44), True, shown="猫の写真 🐱 çà.jpg"),
        Case("name of 500 chars", long_name, _photo(1, 45), True),
        Case("name with a bidi override", "cat\u202egpj.exe.jpg", _photo(0, 46), True, shown="catgpj.exe.jpg"),
    ]


TABLE: dict[str, dict[str, str]] = {}


def record(case: Case, where: str, outcome: str) -> None:
    TABLE.setdefault(case.kind, {})[where] = outcome


def print_table() -> None:
    width = max(len(k) for k in TABLE) + 2
    print(f"\n{'file kind'.ljust(width)}| core (decode / classify_bytes)           | Classify page")
    for kind, outcomes in TABLE.items():
        print(f"{kind.ljust(width)}| {outcomes.get('core', '-')[:40].ljust(40)}| {outcomes.get('page', '-')}")


def one_sentence(message: str) -> None:
    assert message.endswith("."), message
    assert "\n" not in message and "Traceback" not in message, message
    assert ". " not in message.rstrip("."), f"more than one sentence: {message}"


# ---------------------------------------------------------------- core path


@pytest.fixture(scope="module")
def model_and_classes(trained_transfer):
    data, result = trained_transfer
    return result.model, data.class_names


def test_corpus_covers_every_format_the_app_reads_and_refuses():
    """The corpus is what these tests are worth: it must reach every format the pixel path reads
    and each of the refusals it promises, not merely be long."""
    from catdog_core import images

    readable = {images.describe_format(c.data) for c in good_cases()}
    assert {"JPEG", "PNG", "GIF", "BMP", "WebP"} <= readable
    # Each kind of file _KINDS names for a student, plus damaged readable formats and unknown bytes.
    refused = {images.describe_format(c.data) for c in bad_cases()}
    assert {"PDF", "SVG", "HTML", "HEIC", "AVIF", "TIFF", "text", "JPEG", "PNG", "GIF", None} <= refused
    assert len({c.kind for c in bad_cases()}) == len(bad_cases())  # every case is a different attack


@pytest.mark.parametrize("case", bad_cases(), ids=lambda c: c.kind)
def test_core_refuses_bad_file_with_one_sentence(case, model_and_classes):
    model, classes = model_and_classes
    with pytest.raises(InvalidImage) as caught:
        predict.classify_bytes(model, case.data, classes)
    message = str(caught.value)
    one_sentence(message)
    assert case.word in message
    record(case, "core", f"refused: {message}")


@pytest.mark.parametrize("case", good_cases() + name_cases(), ids=lambda c: c.kind)
def test_core_classifies_valid_file(case, model_and_classes):
    model, classes = model_and_classes
    shown, prediction = predict.classify_bytes(model, case.data, classes)
    assert shown.dtype == np.uint8 and shown.ndim == 3 and shown.shape[2] == 3
    assert prediction.label in classes and 0.5 <= prediction.confidence <= 1.0
    record(case, "core", f"classified: {prediction.label} {prediction.confidence:.0%}")


def test_core_colours_and_orientation():
    """What the model sees from the odd-but-valid files: upright, RGB, transparency on white."""
    rotated = images.decode(_exif_rotated())
    assert rotated.shape == (80, 40, 3)  # portrait after EXIF orientation 6
    assert near(rotated[10, 20], RED, tol=20) and near(rotated[70, 20], BLUE, tol=20)

    cmyk = images.decode(encode(Image.new("CMYK", (32, 32), (255, 0, 0, 0)), "JPEG", quality=95))
    assert cmyk.shape == (32, 32, 3) and near(cmyk[16, 16], (0, 255, 255), tol=8)  # cyan ink -> cyan

    palette = images.decode(_palette_png())
    assert palette.shape == (20, 40, 3)
    assert near(palette[10, 5], WHITE) and near(palette[10, 35], RED)

    la = images.decode(_la_png())
    assert la.shape == (10, 30, 3) and near(la[5, 2], WHITE) and near(la[5, 25], (0, 0, 0))

    deep = images.decode(png(2, 1, 16, 2, struct.pack(">6H", 65535, 128 * 257, 0, 10 * 257, 65535, 200 * 257)))
    assert near(deep[0, 0], (255, 128, 0), tol=1) and near(deep[0, 1], (10, 255, 200), tol=1)

    anim = images.decode(_animated_gif())
    assert anim.shape == (32, 32, 3) and near(anim[16, 16], RED)  # the first frame

    strip = images.decode(encode(two_halves(10_000, 10), "PNG"))
    assert strip.shape == (10, 10_000, 3) and near(strip[5, 10], RED) and near(strip[5, 9_990], BLUE)
    assert images.decode(encode(Image.new("RGB", (1, 1), BLUE), "PNG")).shape == (1, 1, 3)

    # The model's own input is always 160x160 RGB, whatever the shape of the upload.
    for data in (_exif_rotated(), encode(two_halves(10_000, 10), "PNG"), _la_png()):
        _, model_input = images.load_for_model(data)
        assert model_input.shape == (160, 160, 3) and model_input.dtype == np.uint8


def test_core_byte_limit_is_checked_before_parsing():
    data = encode(two_halves(64, 64), "PNG")
    with pytest.raises(InvalidImage) as caught:
        images.decode(data, max_bytes=100)
    one_sentence(str(caught.value))
    assert "over the 100 bytes upload limit" in str(caught.value)
    with pytest.raises(InvalidImage) as caught:
        images.decode(b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024 - 3))
    assert "11 MB, over the 10 MB upload limit" in str(caught.value)


def test_bomb_is_refused_before_decoding_and_memory_stays_bounded():
    data = _bomb_png()
    assert len(data) < 1_000_000  # a small file claiming 900 megapixels
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_before = rss_mb()
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImage) as caught:
            images.decode(data)
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    peak_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak_before
    assert "30000x30000 pixels" in str(caught.value)
    assert traced_peak < 100_000_000, f"{traced_peak / 1e6:.0f} MB traced"
    assert peak_growth < 300 and rss_mb() - rss_before < 300, (peak_growth, rss_mb() - rss_before)


@pytest.mark.parametrize("case", name_cases() + [
    Case("name ..", "..", b"", True, shown="unnamed file"),
    Case("name .", ".", b"", True, shown="unnamed file"),
    Case("name ../..", "../..", b"", True, shown="unnamed file"),
    Case("name with control characters", "a\x00b\x1b[31mc.jpg", b"", True, shown="ab[31mc.jpg"),
], ids=lambda c: c.kind)
def test_shown_names_are_harmless(case):
    shown = images.safe_display_name(case.name)
    assert "/" not in shown and "\\" not in shown and shown != ".."
    assert 0 < len(shown) <= NAME_LIMIT
    if case.shown is not None:
        assert shown == case.shown
    if len(case.name) > NAME_LIMIT:
        assert shown.endswith(".jpg")  # the extension stays visible


# ---------------------------------------------------------------- Classify page


@pytest.fixture
def classify_page(monkeypatch, synthetic_data, trained_transfer):
    data, result = trained_transfer
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    runs.save_run(result, data.describe())
    at = open_page("classify")
    assert at.selectbox(key="classify_run").value is not None
    return at


def _walk(node):
    """Every element of a block in page order."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from _walk(child)


def _cards(at) -> list[list]:
    """The elements of each file's bordered container, in upload order."""
    cards = []
    for block in _walk_blocks(at.main):
        cards.append(list(_walk(block)))
    return cards


def _walk_blocks(node):
    """The bordered containers (one per file) under node."""
    for child in getattr(node, "children", {}).values():
        if not hasattr(child, "children"):
            continue  # an element, not a block
        proto = getattr(child, "proto", None)
        try:
            which = proto.WhichOneof("type") if proto is not None else None
        except ValueError:  # a tab's proto has no "type"
            which = None
        if which in ("vertical", "flex_container") and getattr(getattr(proto, which), "border", False):
            yield child
        else:
            yield from _walk_blocks(child)


def _upload(at, cases: list[Case]) -> list[list]:
    at.file_uploader(key="classify_files").set_value(
        [(c.name, c.data, "image/jpeg") for c in cases]).run()
    assert not at.exception, at.exception
    cards = _cards(at)
    assert len(cards) == len(cases), f"{len(cards)} result boxes for {len(cases)} files"
    return cards


def _check_card(case: Case, card: list) -> None:
    errors = [e for e in card if type(e).__name__ == "Error"]
    headings = [e.value for e in card if type(e).__name__ == "Markdown" and e.value.startswith("### ")]
    all_pictures = [e for e in card if type(e).__name__ == "Image"]
    # The page may add a Grad-CAM picture ("where it looked for ..."): that one is not the upload.
    pictures = [p for p in all_pictures if not any(c.startswith("where it looked") for c in p.captions)]
    # A name in Markdown is escaped (shown as typed, never as a link): what a reader sees is unescaped.
    names = ([re.sub(r"\\(.)", r"\1", c) for p in pictures for c in p.captions]
             + [re.sub(r"\\(.)", r"\1", e.value[2:-2]) for e in card
                if type(e).__name__ == "Markdown" and e.value.startswith("**")])
    assert len(names) == 1, names
    shown = names[0]
    assert "/" not in shown and "\\" not in shown and shown != ".." and 0 < len(shown) <= NAME_LIMIT, shown
    if case.shown is not None:
        assert shown == case.shown
    if case.ok:
        assert not errors, [e.value for e in errors]
        assert len(headings) == 1 and len(pictures) == 1, (headings, len(pictures))
        label = headings[0][4:].split()[0]
        assert label in ("cats", "dogs")
        record(case, "page", f"classified: {label} (shown as {shown!r})" if case.kind.startswith("name")
               else f"classified: {label}")
    else:
        assert len(errors) == 1 and not headings and not pictures, ([e.value for e in errors], headings)
        message = errors[0].value
        one_sentence(message)
        assert case.word in message
        record(case, "page", "st.error: " + message)


def test_classify_page_handles_the_corpus(classify_page):
    at = classify_page
    bad = bad_cases()
    batches = [good_cases(), bad[: len(bad) // 2], bad[len(bad) // 2:], name_cases()]
    for batch in batches:  # in fours: the page gives up to four photos a full card each (more make a grid)
        for start in range(0, len(batch), 4):
            chunk = batch[start:start + 4]
            for case, card in zip(chunk, _upload(at, chunk)):
                _check_card(case, card)

    # After the bad batches, a plain photo still classifies, and as the class it was drawn as.
    control = [Case("photo after the bad batches", "again.jpg", _photo(0, 21), True)]
    card = _upload(at, control)[0]
    _check_card(control[0], card)
    heading = next(e.value for e in card if type(e).__name__ == "Markdown" and e.value.startswith("### "))
    assert heading.startswith("### cats")
    print_table()


def test_page_memory_stays_bounded_with_the_bomb(classify_page):
    at = classify_page
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bomb = [Case("PNG bomb 30000x30000", "bomb.png", _bomb_png(), False, "30000x30000 pixels")]
    _check_card(bomb[0], _upload(at, bomb)[0])
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak_before < 300


def test_same_photo_uploaded_twice(classify_page):
    photo = _photo(0, 51)
    cases = [Case("same photo twice", name, photo, True) for name in ("a.jpg", "b.jpg")]
    for case, card in zip(cases, _upload(classify_page, cases)):
        _check_card(case, card)


def test_a_name_of_only_dots_classifies_under_a_safe_name(classify_page):
    """A file named ".." (no name, no extension): the bytes decide, so the photo is classified as
    what it shows, and the page names it "unnamed file", never ".."."""
    case = Case("name ..", "..", _photo(0, 52), True, shown="unnamed file")
    card = _upload(classify_page, [case])[0]
    _check_card(case, card)
    heading = next(e.value for e in card if type(e).__name__ == "Markdown" and e.value.startswith("### "))
    assert heading.startswith("### cats")  # drawn as class 0

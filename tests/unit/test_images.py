"""Tests for catdog_core.images: every file is built here in memory, valid or hostile."""

from __future__ import annotations

import io
import os
import resource
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from catdog_core import images
from catdog_core.errors import InvalidImage
from support import hostile
from support.pictures import BLUE, RED, WHITE, encode, near, two_halves
from support.pictures import raw_png as png
from catdog_core.images import (
    MAX_UPLOAD_BYTES,
    decode,
    describe_format,
    load_for_model,
    resize_for_model,
    safe_display_name,
)

def refused(data, **kwargs) -> str:
    """Load bytes that must be refused and check the message is one plain sentence."""
    with pytest.raises(InvalidImage) as caught:
        decode(data, **kwargs)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message and ". " not in message
    for leak in ("Traceback", "Error", "object at", "b'", "\\x"):
        assert leak not in message
    return message


def checked(array: np.ndarray, height: int, width: int) -> np.ndarray:
    assert array.shape == (height, width, 3) and array.dtype == np.uint8
    assert array.flags.c_contiguous
    return array


# --- refused input -----------------------------------------------------------


def test_zero_bytes_and_non_bytes_are_refused():
    assert "empty" in refused(b"")
    assert "No file" in refused("cat.jpg")


def test_random_bytes_are_refused():
    message = refused(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert "JPEG, PNG, WebP, BMP or GIF" in message


def test_truncated_jpeg_is_damaged():
    data = encode(two_halves(64, 64), "JPEG")
    assert "damaged" in refused(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_with_flipped_idat_byte_is_damaged():
    data = bytearray(encode(two_halves(64, 64), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 12] ^= 0xFF
    assert "damaged" in refused(bytes(data))


@pytest.mark.parametrize(
    ("data", "word"),
    [
        (b"Just some notes about my cat.\nShe likes boxes.\n", "text file"),
        (b"<!DOCTYPE html><html><head><title>x</title></head><body>cat</body></html>", "HTML"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9"/>', "SVG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "PDF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + os.urandom(300), "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + os.urandom(300), "AVIF"),
    ],
)
def test_non_images_are_named_in_the_message(data, word):
    assert word in refused(data)


def test_tiff_is_refused_naming_tiff():
    message = refused(encode(two_halves(16, 16), "TIFF"))
    assert "TIFF" in message and "JPEG, PNG, WebP, BMP or GIF" in message


def test_ico_is_refused_naming_the_format_pillow_found():
    assert "format is ICO" in refused(encode(two_halves(16, 16), "ICO"))


def test_over_the_upload_limit_is_refused_before_parsing():
    assert "10.1 MB, over the 10 MB upload limit" in refused(b"\0" * (MAX_UPLOAD_BYTES + 50_000))
    small = encode(two_halves(64, 64), "PNG")
    assert "over the 100 bytes upload limit" in refused(small, max_bytes=100)


@pytest.mark.parametrize("side", [30_000, 10_000])  # Pillow's own bomb error, then its warning
def test_png_bomb_is_refused_without_decoding(side):
    data = png(side, side, 1, 3, b"\0" * ((side + 7) // 8), hostile.chunk(b"PLTE", bytes(RED)))
    assert len(data) < 1_000_000
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    message = refused(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert f"{side}x{side} pixels" in message and "40-megapixel limit" in message
    assert peak < 50_000_000 and rss_growth_mb < 200


def test_png_over_our_own_pixel_limit_is_refused():
    data = png(8000, 6000, 1, 0, b"\0" * 1000)
    assert "8000x6000 pixels (48.0 megapixels), over the 40-megapixel limit" in refused(data)
    just_over = encode(Image.new("L", (1001, 1000)), "PNG")
    assert "over the 1-megapixel limit" in refused(just_over, max_pixels=1_000_000)


@pytest.mark.parametrize(("screen", "frame"), [(30_000, 30_000), (10, 30_000)])
def test_gif_claiming_huge_dimensions_is_refused(screen, frame):
    screen_header = struct.pack("<HHBBB", screen, screen, 0x80, 0, 0) + bytes(RED) + bytes(BLUE)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, frame, frame, 0)
    data = b"GIF89a" + screen_header + descriptor + b"\x02\x02\x4c\x01\x00;"  # tiny LZW stream
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = refused(data)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024 < 200
    assert message.endswith("40-megapixel limit.")


@pytest.mark.parametrize(("width", "height"), [(20_000, 10_000), (9_000, 5_000)])
def test_jpeg_header_claiming_huge_dimensions_is_refused(width, height):
    data = bytearray(encode(two_halves(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    assert f"{width}x{height} pixels" in refused(bytes(data))


def test_png_with_zero_width_is_refused():
    refused(png(0, 4, 8, 0, b""))


# --- accepted input ----------------------------------------------------------


def test_animated_gif_gives_first_frame():
    red, blue = Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert near(checked(decode(data), 8, 8)[4, 4], RED)


def test_multi_picture_jpeg_gives_first_picture():
    red, blue = Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)
    data = encode(red, "MPO", save_all=True, append_images=[blue])
    assert near(checked(decode(data), 16, 16)[8, 8], RED, tol=6)


def test_16_bit_grey_png_is_scaled_not_clipped():
    data = png(4, 1, 16, 0, struct.pack(">4H", 0, 257 * 100, 32768, 65535))
    out = checked(decode(data), 1, 4)
    assert out[0].tolist() == [[0] * 3, [100] * 3, [128] * 3, [255] * 3]


def test_16_bit_rgb_png_gives_8_bit_colour():
    data = png(2, 1, 16, 2, struct.pack(">6H", 65535, 128 * 257, 0, 10 * 257, 65535, 200 * 257))
    out = checked(decode(data), 1, 2)
    assert near(out[0, 0], (255, 128, 0), tol=1) and near(out[0, 1], (10, 255, 200), tol=1)


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", quality=95)
    assert near(checked(decode(data), 16, 16)[8, 8], (0, 255, 255), tol=8)


def test_palette_png_transparency_becomes_white():
    img = Image.new("P", (4, 2), 0)
    img.putpalette(list(BLUE) + list(RED))
    img.paste(1, (2, 0, 4, 2))
    out = checked(decode(encode(img, "PNG", transparency=0)), 2, 4)
    assert near(out[0, 0], WHITE) and near(out[1, 3], RED)


def test_rgba_half_transparent_is_composited_on_white():
    img = Image.new("RGBA", (2, 1), (255, 0, 0, 128))
    img.putpixel((1, 0), (0, 0, 255, 255))
    out = checked(decode(encode(img, "PNG")), 1, 2)
    assert near(out[0, 0], (255, 127, 127), tol=1) and near(out[0, 1], BLUE)


def test_la_png_is_composited_on_white():
    img = Image.new("LA", (3, 1))
    for x, value in enumerate([(0, 0), (0, 255), (0, 128)]):
        img.putpixel((x, 0), value)
    out = checked(decode(encode(img, "PNG")), 1, 3)
    assert near(out[0, 0], WHITE) and near(out[0, 1], (0, 0, 0))
    assert near(out[0, 2], (127,) * 3, tol=1)


def test_one_by_one_image():
    out = decode(encode(Image.new("RGB", (1, 1), BLUE), "PNG"))
    assert near(checked(out, 1, 1)[0, 0], BLUE)


def test_long_strip():
    out = checked(decode(encode(two_halves(10_000, 10), "PNG")), 10, 10_000)
    assert near(out[5, 10], RED) and near(out[5, 9_990], BLUE)


def test_exif_orientation_6_comes_out_upright():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(two_halves(40, 20), "JPEG", exif=exif, quality=95)
    out = checked(decode(data), 40, 20)
    # Orientation 6 turns the picture 90 degrees clockwise, so its left half ends on top.
    assert near(out[5, 10], RED, tol=20) and near(out[35, 10], BLUE, tol=20)


@pytest.mark.parametrize(("fmt", "options"), [("WEBP", {"lossless": True}), ("BMP", {})])
def test_webp_and_bmp(fmt, options):
    out = checked(decode(encode(two_halves(30, 10), fmt, **options)), 10, 30)
    assert near(out[5, 2], RED) and near(out[5, 27], BLUE)


def test_greyscale_and_bilevel_become_rgb():
    grey = decode(encode(Image.new("L", (3, 3), 77), "PNG"))
    bilevel = decode(encode(Image.new("1", (3, 3), 1), "BMP"))
    assert checked(grey, 3, 3)[1, 1].tolist() == [77] * 3
    assert checked(bilevel, 3, 3)[1, 1].tolist() == [255] * 3


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("I;16B", 32768, (128,) * 3), ("I", 65535, (255,) * 3), ("I", -5, (0,) * 3),
        ("F", 300.0, (255,) * 3), ("F", 12.6, (13,) * 3), ("YCbCr", (255, 128, 128), WHITE),
        ("HSV", (0, 255, 255), RED), ("LAB", (255, 128, 128), WHITE), ("PA", (0, 0), WHITE),
        ("CMYK", (0, 255, 255, 0), RED),
    ],
)
def test_modes_decoders_rarely_produce_still_become_rgb(mode, value, expected):
    rgb = images._to_rgb(Image.new(mode, (2, 2), value))
    assert rgb.mode == "RGB" and near(rgb.getpixel((1, 1)), expected, tol=2)


def test_bytearray_and_memoryview_are_accepted():
    data = encode(Image.new("RGB", (2, 2), RED), "PNG")
    checked(decode(bytearray(data)), 2, 2)
    checked(decode(memoryview(data)), 2, 2)


# --- model input -------------------------------------------------------------


def test_resize_for_model_squashes_without_cropping():
    image = np.asarray(two_halves(300, 120))
    out = resize_for_model(image)
    assert out.shape == (160, 160, 3) and out.dtype == np.uint8
    assert near(out[80, 5], RED) and near(out[80, 155], BLUE)
    assert resize_for_model(out) is out


def test_load_for_model_gives_a_small_display_copy_and_the_one_model_input():
    data = encode(two_halves(4000, 3000), "JPEG", quality=80)
    display, model = load_for_model(data)
    # At most 640 pixels on the long side, for showing only; this one comes from the JPEG decoded
    # at 1/8 of its size (dct_ratio), which is what the model's input is made from too.
    assert display.shape == (375, 500, 3)
    assert model.shape == (160, 160, 3)
    # The model input is the one pixel path's, whichever function asked for it.
    np.testing.assert_array_equal(model, images.model_input(data))
    np.testing.assert_array_equal(model, resize_for_model(images.decode(data, for_model=True)))
    assert near(model[80, 5], RED, tol=10) and near(model[80, 155], BLUE, tol=10)


def test_load_for_model_rotates_before_resizing():
    exif = Image.Exif()
    exif[0x0112] = 6
    display, model = load_for_model(encode(two_halves(4000, 3000), "JPEG", exif=exif))
    assert display.shape == (500, 375, 3)
    assert near(display[100, 187], RED, tol=10) and near(display[420, 187], BLUE, tol=10)
    assert near(model[10, 80], RED, tol=10) and near(model[150, 80], BLUE, tol=10)


def test_load_for_model_reduces_big_png_too():
    display, model = load_for_model(encode(two_halves(2000, 1500), "PNG"))
    assert display.shape == (480, 640, 3) and model.shape == (160, 160, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_upright_picture(orientation):
    picture = np.zeros((20, 40, 3), np.uint8)
    picture[:, :20] = RED
    picture[:5, :] = (0, 255, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    png_bytes = encode(Image.fromarray(picture), "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(png_bytes))).convert("RGB"))
    assert expected.shape == ((40, 20, 3) if orientation >= 5 else (20, 40, 3))
    as_png = images.decode(png_bytes)
    np.testing.assert_array_equal(as_png, expected)  # Pillow's path
    as_jpeg = images.decode(encode(Image.fromarray(picture), "JPEG", exif=exif, quality=100, subsampling=0))
    assert as_jpeg.shape == expected.shape  # TensorFlow's path turns it the same way
    assert np.abs(as_jpeg.astype(int) - expected).mean() < 3


def test_the_batched_path_gives_the_single_path_pixels_and_the_same_refusals():
    exif = Image.Exif()
    exif[0x0112] = 8
    files = {
        0: encode(two_halves(300, 200), "JPEG"),
        1: encode(two_halves(300, 200), "JPEG", exif=exif),
        2: encode(two_halves(90, 60), "PNG"),
        3: encode(two_halves(64, 64), "JPEG")[:300],  # truncated
        4: b"just text",
        5: encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"),
        6: encode(two_halves(2400, 1600), "JPEG"),  # decoded at 1/4 of its size, by either path
        7: encode(two_halves(1100, 800), "JPEG"),  # at 1/2
    }
    batched = dict(images.model_inputs(files.items()))
    assert sorted(batched) == sorted(files)
    for key, data in files.items():
        try:
            single = images.model_input(data)
        except InvalidImage:
            assert isinstance(batched[key], str) and batched[key]
            continue
        np.testing.assert_array_equal(batched[key], single)
    assert isinstance(batched[3], str) and isinstance(batched[4], str)


def test_a_png_is_not_decoded_to_look_for_exif():
    # Pillow's PNG reader decodes the whole picture when asked for EXIF that is not in the header;
    # a damaged PNG must therefore still be found damaged, and no decode may happen before the checks.
    data = bytearray(encode(two_halves(64, 64), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 12] ^= 0xFF
    header = images.inspect(bytes(data))
    assert header.orientation == 1 and header.format == "PNG"
    assert "damaged" in refused(bytes(data))


def test_load_for_model_passes_limits_through():
    assert "upload limit" in refused(encode(two_halves(64, 64), "PNG"), max_bytes=10)
    with pytest.raises(InvalidImage):
        load_for_model(encode(two_halves(64, 64), "PNG"), max_pixels=100)


# --- names and sniffing ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\cat.jpg", "cat.jpg"),
        ("ünïcødé 猫.jpg", "ünïcødé 猫.jpg"),
        ("", "unnamed file"),
        ("..", "unnamed file"),
        ("photos/.", "unnamed file"),
        ("my\ncat\x00.png", "mycat.png"),
        ("cat\u202egpj.exe", "catgpj.exe"),
    ],
)
def test_safe_display_name(name, expected):
    assert safe_display_name(name) == expected


def test_safe_display_name_truncates_long_names_keeping_extension():
    out = safe_display_name("a" * 5000 + ".jpg")
    assert len(out) == 80 and "…" in out and out.endswith(".jpg")
    assert safe_display_name("abcdef", max_len=1) == "…"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff\xd8\xff\xe0", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF89a", "GIF"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "WebP"), (b"BM\0\0", "BMP"), (b"II*\0", "TIFF"),
        (b"hello", "text"), (b"\x00\x01\x02\x03", None), ("é".encode() * 600, "text"),
    ],
)
def test_describe_format(data, kind):
    assert describe_format(data) == kind


def test_large_jpegs_decode_scaled_by_their_dct_and_small_ones_exactly_as_before():
    """A phone photo is decoded at 1/2, 1/4 or 1/8 of its size (never below the post's ~500x375);
    a picture of the post's size keeps the pixels of a full decode, and a scaled one stays close."""
    assert [images.dct_ratio(*size) for size in [(500, 375), (999, 749), (1000, 750), (4000, 3000),
                                                 (3000, 4000), (8000, 6000), (4000, 600)]] == [1, 1, 2, 8, 8, 8, 1]
    small, large = encode(two_halves(500, 375), "JPEG"), encode(two_halves(4000, 3000), "JPEG")
    scaled = images.model_input(large)
    assert images.decode(large, for_model=True).shape == (375, 500, 3)
    assert images.decode(large).shape == (3000, 4000, 3)  # a plain decode is still full size
    try:
        images.DCT_SCALING = False
        full, small_full = images.model_input(large), images.model_input(small)
    finally:
        images.DCT_SCALING = True
    np.testing.assert_array_equal(images.model_input(small), small_full)
    assert np.abs(scaled.astype(int) - full).mean() < 4

"""Chromium for the tests: its flags here, a fake camera, waiting for a page to settle,
screenshots (only with CATDOG_SCREENSHOTS), and reading back what the live video drew."""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import CHROMIUM, CHROMIUM_ARGS  # noqa: F401  (conftest put benchmarks/ on the path)
from catdog_core.live import annotate
from catdog_core.predict import Prediction
from conftest import REPO

SHOTS_WANTED = os.environ.get("CATDOG_SCREENSHOTS", "")
SHOTS = REPO / (SHOTS_WANTED if SHOTS_WANTED not in ("", "1") else "test-output/screenshots")
# A camera for the live video: Chromium's fake device, granted without a prompt, playing a file.
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]



def wait_idle(page, timeout: float = 120.0) -> None:
    """Until the script has finished and stayed finished for a moment (live panels rerun every second)."""
    app = page.get_by_test_id("stApp")
    deadline = time.time() + timeout
    calm = 0
    while time.time() < deadline:
        calm = calm + 1 if app.get_attribute("data-test-script-state") == "notRunning" else 0
        if calm >= 3:
            return
        page.wait_for_timeout(200)
    raise AssertionError("the page kept running")


def assert_clean(page, errors_expected: int = 0) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()
    assert page.get_by_test_id("stAlertContentError").count() == errors_expected


def open_page(page, title: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=title, exact=True).click()
    page.wait_for_timeout(300)
    wait_idle(page)


def shoot(page, name: str) -> None:
    """A full-page screenshot: Streamlit scrolls inside its main section, so the window grows to fit it.
    Only with CATDOG_SCREENSHOTS set (a person looks at them; no test reads them)."""
    if not SHOTS_WANTED:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover toolbars over the charts
    size = page.viewport_size
    height = page.evaluate("""() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section')]
                                             .map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 6000)})
    page.wait_for_timeout(800)  # let charts redraw at the new size
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def fake_camera_file(photo: Path, target: Path, size: tuple[int, int] = (320, 240), frames: int = 3):
    """The photo as a few YUV4MPEG2 4:2:0 frames (Chromium loops them); returns the RGB frame they show."""
    rgb = np.asarray(Image.open(photo).convert("RGB").resize(size, Image.BILINEAR), np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b  # BT.601 studio range, as Chromium reads I420
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    width, height = size
    u, v = (plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)) for plane in (u, v))  # 2x2 -> 1
    planes = b"".join(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes() for plane in (y, u, v))
    header = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode()
    target.write_bytes(header + (b"FRAME\n" + planes) * frames)
    return rgb.astype(np.uint8)


def live_video_frame(page):
    """(seconds played, the frame now showing) of the video streamlit-webrtc plays: what the server sent back."""
    component = next((f for f in page.frames if "streamlit_webrtc" in f.url), None)
    if component is None:  # its iframe is being drawn again (a rerun): not playing yet, ask again
        return 0, None
    played, url = component.evaluate("""() => {
        const video = document.querySelector('video');
        if (!video || video.readyState < 2 || !video.videoWidth) return [0, null];
        const canvas = document.createElement('canvas');
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext('2d').drawImage(video, 0, 0);
        return [video.currentTime, canvas.toDataURL('image/png')];
    }""")
    if url is None:
        return 0.0, None
    return played, np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def band_rows(height: int, width: int) -> int:
    """How many rows the app's answer band covers on a frame of this size (measured on a white frame)."""
    drawn = annotate(np.full((height, width, 3), 255, np.uint8), Prediction("x", 1.0, {}))
    return int(np.argmax(drawn[:, -1].max(axis=1) > 0))  # the band's right end: black, never text


def read_label(shown, raw, labels) -> tuple[str, int, float, float]:
    """The label drawn over a live frame, read back by drawing every answer (label, 50..100 %) over the
    raw camera frame the way the app does and keeping the closest band: (label, percent, its mean pixel
    error, the closest other label's error)."""
    height, width = shown.shape[:2]
    raw = np.asarray(Image.fromarray(raw).resize((width, height), Image.BILINEAR))
    band = band_rows(height, width)
    errors = {(label, percent): float(np.abs(annotate(raw, Prediction(label, percent / 100, {}))[:band].astype(int)
                                             - shown[:band]).mean())
              for label in labels for percent in range(50, 101)}
    (label, percent), error = min(errors.items(), key=lambda kv: kv[1])
    other = min(e for (name, _), e in errors.items() if name != label)
    return label, percent, error, other


def assert_answer_drawn_live(page, camera_frame, expected: str, labels: list[str]) -> None:
    """The live video shows the camera's frames with `expected` drawn over them (a band, its text read back)."""
    assert camera_frame[:band_rows(*camera_frame.shape[:2])].mean() > 60  # the photo's top is not a black band
    deadline, shown, band = time.time() + 60, None, 0
    while time.time() < deadline:  # until the stream plays and the first answers come back
        played, shown = live_video_frame(page)
        if shown is not None:
            band = band_rows(*shown.shape[:2])  # the size the server got (a browser may scale the camera down)
            if played > 0.5 and shown[:band].mean() < 40:
                break
        page.wait_for_timeout(500)
    assert shown is not None, "the live video never played"
    SHOTS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(shown).save(SHOTS / "classify-live-frame.png")
    assert shown[:band].mean() < 40, "no answer drawn over the live video"
    # Below the band, the camera's own picture: live frames of the photo, not a still of something else.
    assert abs(shown.shape[0] / shown.shape[1] - camera_frame.shape[0] / camera_frame.shape[1]) < 0.02, shown.shape
    sent = np.asarray(Image.fromarray(camera_frame).resize(shown.shape[1::-1], Image.BILINEAR)).astype(int)
    assert np.abs(sent[band + 4:] - shown[band + 4:]).mean() < 25
    label, percent, error, other = read_label(shown, camera_frame, labels)
    assert label == expected and error < other / 2, (label, percent, error, other)

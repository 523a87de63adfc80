"""The page at / in real headless Chromium (Debian's, driven by Playwright): upload a demo image,
then hold what it drew against what the API answers, down to the pixels at the box edges."""
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import API_KEY, media

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream"]
SCREENSHOT = os.environ.get("CSPDET_SCREENSHOT")  # where to keep the page's screenshot, to look at it


@pytest.fixture(scope="module")
def browser(api_server):
    if not Path(CHROMIUM).is_file():
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    from .conftest import need

    need("playwright")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="cspdet-chromium-")
    with sync_playwright() as p:
        # the key goes in as HTTP Basic credentials, as a person types it into the browser's prompt
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=ARGS,
                                                   http_credentials={"username": "me", "password": API_KEY},
                                                   viewport={"width": 1100, "height": 900})
        yield ctx
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def canvas_pixels(page) -> np.ndarray:
    data = page.evaluate("""() => { const c = document.getElementById('canvas');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
    h, w = page.evaluate("[canvas.height, canvas.width]")
    return np.array(data, np.uint8).reshape(h, w, 4)[..., :3]


def edge_points(box, line):
    """Points on the middle of the stroke of a drawn box's bottom, left and right edges (the top
    edge carries the label)."""
    x1, y1, x2, y2 = box
    half = line / 2
    xm, ym = (x1 + x2) / 2, (y1 + y2) / 2
    return [(xm, y2 - half), (x1 + half, ym), (x2 - half, ym)]


def test_the_page_draws_what_the_api_answers(browser, client, tmp_path):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(client.base_url.join("/").__str__())
    page.wait_for_function("window.cspdet && window.cspdet.ready")
    assert "cspdet-shapes" in page.inner_text("#model")
    # twice the demo image's size, so the page scales it (to 960 px wide) and the boxes with it
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(media())), (1280, 720), interpolation=cv2.INTER_CUBIC))
    page.set_input_files("#file", str(big))
    page.wait_for_function("window.cspdet.frames >= 1", timeout=60_000)
    shown = page.evaluate("window.cspdet.last")
    drawn = page.evaluate("window.cspdet.drawn")
    scale = page.evaluate("window.cspdet.scale")
    api = client.post("/v1/detect", content=big.read_bytes()).json()
    assert [d["box"] for d in shown["detections"]] == [d["box"] for d in api["detections"]]
    assert [d["name"] for d in shown["detections"]] == [d["name"] for d in api["detections"]]
    assert len(drawn) == len(api["detections"]) >= 2
    pixels = canvas_pixels(page)
    assert scale == 0.75 and pixels.shape[:2] == (540, 960)
    hits = total = 0
    for d, det in zip(drawn, api["detections"]):
        np.testing.assert_allclose(d["box"], np.array(det["box"]) * scale, atol=1e-3)
        for x, y in edge_points(d["box"], d["line"]):
            px = pixels[int(y), int(x)].astype(int)
            total += 1
            hits += int(np.abs(px - d["colour"]).max() <= 40)
    # a later box may paint over an earlier one's edge; nearly every edge shows its class colour
    assert hits >= total - 1, f"only {hits} of {total} box edges show their class colour"
    rows = page.locator("#detections tbody tr")
    assert rows.count() == len(api["detections"])
    assert api["detections"][0]["name"] in rows.first.inner_text()
    shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not errors, errors
    page.close()


def test_the_webcam_sends_frames(browser, client):
    # Chromium's fake camera (a test pattern): frames go to the API one after another
    page = browser.new_page()
    page.goto(client.base_url.join("/").__str__())
    page.wait_for_function("window.cspdet && window.cspdet.ready")
    page.click("#webcam")
    page.wait_for_function("window.cspdet.frames >= 3", timeout=60_000)
    last = page.evaluate("window.cspdet.last")
    assert last["image"]["width"] > 0 and "detections" in last
    assert page.inner_text("#webcam") == "Stop the webcam"
    page.click("#webcam")
    assert page.inner_text("#webcam") == "Use the webcam"
    page.close()

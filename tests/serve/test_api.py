"""The HTTP API of a live ``cspdet serve``: answers equal the in-process Detector's, options,
batching, the key, request ids and logs."""
import base64
import json
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from detector.runtime.predictor import Detector

from .conftest import API_KEY, WEIGHTS, media


@pytest.fixture(scope="module")
def det():
    return Detector(str(WEIGHTS), backend="torch")


def boxes(payload: dict) -> np.ndarray:
    return np.array([d["box"] for d in payload["detections"]], np.float32).reshape(-1, 4)


def test_detect_answers_as_the_detector_does_in_original_pixels(client, det):
    data = media().read_bytes()
    r = client.post("/v1/detect", content=data, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    out = r.json()
    img = cv2.imread(str(media()))
    want = det(img)
    assert out["image"] == {"width": img.shape[1], "height": img.shape[0]}
    assert len(want) >= 2, "the demo image should hold several shapes"
    np.testing.assert_allclose(boxes(out), want.xyxy, atol=0.02)
    assert [d["class_id"] for d in out["detections"]] == want.class_ids.tolist()
    assert [d["name"] for d in out["detections"]] == want.labels
    assert [d["category_id"] for d in out["detections"]] == [det.category_ids[c] for c in want.class_ids]
    np.testing.assert_allclose([d["score"] for d in out["detections"]], want.scores, atol=1e-4)
    assert set(out["timings_ms"]) == {"decode", "pre", "queue", "inference", "post", "total"}
    assert out["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_multipart_png_and_webp(client, det, ext):
    img = cv2.imread(str(media("demo_001.jpg")))
    ok, buf = cv2.imencode(ext, img, [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else [])  # 101: lossless
    assert ok
    r = client.post("/v1/detect", files={"image": (f"x{ext}", buf.tobytes(), f"image/{ext[1:]}")})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(boxes(r.json()), det(img).xyxy, atol=0.02)


def test_options_reach_nms_and_letterbox(client):
    data = media().read_bytes()
    base = client.post("/v1/detect", content=data).json()["detections"]
    keep = base[0]["class_id"]
    only = client.post("/v1/detect", params={"classes": str(keep)}, content=data).json()["detections"]
    assert only and {d["class_id"] for d in only} == {keep}
    assert len(client.post("/v1/detect", params={"max_det": 1}, content=data).json()["detections"]) == 1
    strict = client.post("/v1/detect", params={"conf": 0.8}, content=data).json()["detections"]
    assert all(d["score"] >= 0.8 for d in strict) and len(strict) < len(base)
    img = cv2.imread(str(media()))
    want = Detector(str(WEIGHTS), backend="torch", img_size=320, conf_thres=0.3)(img)
    got = client.post("/v1/detect", params={"img_size": 320, "conf": 0.3}, content=data).json()
    np.testing.assert_allclose(boxes(got), want.xyxy, atol=0.02)


def test_annotated_jpeg(client, det):
    r = client.post("/v1/detect", params={"format": "jpeg"}, content=media().read_bytes())
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    plain = cv2.imread(str(media()))
    assert img.shape == plain.shape and int(r.headers["x-detections"]) == len(det(plain))
    assert np.abs(img.astype(int) - plain).mean() > 1, "nothing was drawn"


def test_concurrent_requests_are_batched_without_changing_answers(client, api_server):
    data = [media(f"demo_00{i}.jpg").read_bytes() for i in range(4)] * 4
    alone = [client.post("/v1/detect", content=d).json() for d in data[:4]]
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda d: client.post("/v1/detect", content=d).json(), data))
    assert max(t["batch"] for t in together) > 1, "16 concurrent requests never met in a batch"
    for i, t in enumerate(together):
        np.testing.assert_allclose(boxes(t), boxes(alone[i % 4]), atol=0.05)
        assert [d["class_id"] for d in t["detections"]] == [d["class_id"] for d in alone[i % 4]["detections"]]


def test_models_health_and_docs(client, api_server):
    m = client.get("/v1/models").json()["models"][0]
    assert m["name"] == "cspdet-shapes" and m["classes"] == ["circle", "square", "triangle", "cross"]
    assert m["backend"] == "torch" and len(m["palette"]) >= 4
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    assert "/v1/detect" in client.get("/openapi.json").json()["paths"]
    assert "swagger" in client.get("/docs").text.lower()


def test_api_key_on_every_route_but_health(api_server):
    import httpx

    with httpx.Client(base_url=api_server.url, timeout=30) as c:
        for path in ("/v1/models", "/", "/docs", "/v1/streams"):
            r = c.get(path)
            assert r.status_code == 401 and "API key" in r.json()["error"], path
            assert r.headers["www-authenticate"].startswith("Basic")
        assert c.get("/v1/models", headers={"X-API-Key": API_KEY + "x"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
        basic = base64.b64encode(f"me:{API_KEY}".encode()).decode()
        assert c.get("/v1/models", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        assert c.post("/v1/detect", content=media().read_bytes()).status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


def test_request_ids_and_one_json_log_line_per_request(client, api_server):
    r = client.post("/v1/detect", content=media().read_bytes(), headers={"X-Request-ID": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42" and r.json()["request_id"] == "trace-42"
    fresh = client.get("/v1/models").headers["x-request-id"]
    assert len(fresh) == 32 and fresh != "trace-42"
    bad = client.get("/v1/models", headers={"X-Request-ID": "a b\tc" * 50}).headers["x-request-id"]
    assert bad != "a b\tc" * 50, "a malformed id must not be echoed into logs"
    for _ in range(50):
        line = api_server.logged(event="request", request_id="trace-42")
        if line:
            break
        import time

        time.sleep(0.1)
    assert len(line) == 1
    assert line[0]["status"] == 200 and line[0]["path"] == "/v1/detect" and line[0]["detections"] >= 1
    json.dumps(line[0])  # one JSON object per line


def test_cors_is_off_by_default(client):
    r = client.options("/v1/detect", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers

"""Many streams at once: a local video file and a local MJPEG-over-HTTP camera (served here)
that drops and comes back; newest detections as JSON and as Server-Sent Events, with track IDs."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import pytest

from detector.serve.config import parse_stream, read_stream_file
from detector.serve.streams import public_url

from .conftest import Server, media

FRAMES_BEFORE_DROP = 15


class Camera:
    """An MJPEG camera on 127.0.0.1: its first connection sends FRAMES_BEFORE_DROP frames and
    drops; later ones stream until the test ends. ``connections`` counts the clients seen."""

    def __init__(self):
        frames = [cv2.imencode(".jpg", cv2.imread(str(media(f"demo_00{i}.jpg"))))[1].tobytes() for i in range(4)]
        self.connections, self.stop = 0, threading.Event()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                camera.connections += 1
                first = camera.connections == 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                n = 0
                try:
                    while not camera.stop.is_set() and not (first and n >= FRAMES_BEFORE_DROP):
                        jpg = frames[(n // 5) % len(frames)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpg) + jpg + b"\r\n")
                        n += 1
                        time.sleep(0.05)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def camera():
    cam = Camera()
    yield cam
    cam.close()


@pytest.fixture(scope="module")
def server(camera, tmp_path_factory):
    streams = tmp_path_factory.mktemp("streams") / "streams.txt"
    # "dead" names a port nothing listens on: it never has a frame
    streams.write_text(f"# cameras\ncam={camera.url}\ndead=http://127.0.0.1:9/none.mjpg\n\n")
    s = Server("--stream", f"clip={media('demo.mp4')}", "--stream-file", str(streams), "--track")
    yield s
    s.stop()


def wait_for(check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout} s")


def test_both_streams_are_followed_with_track_ids(http):
    names = {s["name"] for s in http.get("/v1/streams").json()["streams"]}
    assert names == {"clip", "cam", "dead"}
    for name in ("clip", "cam"):
        state = wait_for(lambda: (lambda s: s if (s["latest"] or {}).get("detections") else None)(
            http.get(f"/v1/streams/{name}").json()))
        assert state["status"] == "live" and state["tracking"]
        dets = state["latest"]["detections"]
        assert all(isinstance(d["track_id"], int) and d["name"] for d in dets)
        assert state["latest"]["image"] == {"width": 640, "height": 360}


def test_a_dropped_camera_reconnects_and_frames_flow_again(http, camera, server):
    state = wait_for(lambda: (lambda s: s if s["reconnects"] >= 1 and s["status"] == "live" else None)(
        http.get("/v1/streams/cam").json()))
    assert camera.connections >= 2
    before = state["frames"]
    wait_for(lambda: http.get("/v1/streams/cam").json()["frames"] > before + 3)
    assert server.logged(event="stream", stream="cam", status="reconnecting")


def test_server_sent_events_bring_each_new_result(http, server):
    seen = []
    with http.stream("GET", "/v1/streams/clip/events", timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("id:"):
                seen.append(int(line[3:]))
            elif line.startswith("data:"):
                payload = json.loads(line[5:])
                assert payload["stream"] == "clip"
            if len(seen) >= 3:
                break
    assert seen == sorted(seen) and len(set(seen)) == 3


def test_newest_frame_and_unknown_stream(http):
    r = wait_for(lambda: (lambda r: r if r.status_code != 404 else None)(http.get("/v1/streams/clip/frame.jpg")))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(__import__("numpy").frombuffer(r.content, "uint8"), cv2.IMREAD_COLOR).shape == (360, 640, 3)
    r = http.get("/v1/streams/nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = http.get("/v1/streams/dead/frame.jpg")
    assert r.status_code == 404 and "stream 'dead' has no frame yet" in r.json()["error"]
    assert http.get("/v1/streams/nope/events").status_code == 404


def test_stream_specs(tmp_path):
    assert parse_stream("door=rtsp://10.0.0.5/live").url == "rtsp://10.0.0.5/live"
    for bad in ("no-equals", "=rtsp://x", "a/b=rtsp://x", "x="):
        with pytest.raises(ValueError, match="--stream"):
            parse_stream(bad)
    f = tmp_path / "s.txt"
    f.write_text("a=0\nbroken line\n")
    with pytest.raises(ValueError, match=r"s.txt:2:"):
        read_stream_file(f)
    assert public_url("rtsp://admin:secret@10.0.0.5/live") == "rtsp://***@10.0.0.5/live"

"""A real HTTP server on 127.0.0.1 serving a generated zoo model, and a zoo pointed at it."""
from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from detector.darknet import save_weights
from detector.darknet.detector import DarknetDetector
from detector.models import zoo
from tests.darknet.helpers import tiny_cfg

NAME = "tiny-zoo"
TINY_CFG = tiny_cfg(classes=80)  # COCO's class count: the zoo's Darknet models name COCO classes


class FileServer:
    """Serves ``files`` (URL path -> bytes) with Range support, an ETag per content and If-Range
    (a stale validator gets the whole file, as HTTP says); ``drop[path] = n`` makes the next GET of
    ``path`` announce the full length, send ``n`` bytes and hang up; ``delay`` seconds pass between
    64 kB blocks; ``if_range = False`` ignores If-Range, as many servers do; ``gate[path]`` (an
    Event) holds GETs of ``path`` until it is set. ``requests`` records (path, headers) of every
    request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop: dict[str, int] = {}
        self.requests: list[tuple[str, dict]] = []
        self.delay = 0.0
        self.if_range = True
        self.gate: dict[str, threading.Event] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                server.requests.append((self.path, dict(self.headers)))
                if self.path in server.gate:
                    server.gate[self.path].wait(timeout=120)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                etag = f'"{hashlib.sha1(data).hexdigest()[:16]}"'
                m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if m and server.if_range and self.headers.get("If-Range") not in (None, etag):
                    m = None
                if m:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                self.send_response(206 if m else 200)
                if m:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", etag)
                self.end_headers()
                body = data[start:]
                cut = server.drop.pop(self.path, None)
                body = body if cut is None else body[:cut]
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i:i + (1 << 16)])
                    time.sleep(server.delay)
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def tiny_files():
    """(cfg bytes, matching random .weights bytes) of an 80-class 64 px Darknet detector."""
    import tempfile
    from pathlib import Path

    model = DarknetDetector.from_text(TINY_CFG, "tiny-zoo.cfg")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.weights"
        save_weights(model, path)
        return TINY_CFG.encode(), path.read_bytes()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


@pytest.fixture
def tiny_zoo(monkeypatch, tmp_path, tiny_files, server):
    """The zoo with a ``tiny-zoo`` entry, served by ``server`` as the mirror, cached in tmp_path."""
    cfg, weights = tiny_files
    server.files.update({f"/{NAME}.cfg": cfg, f"/{NAME}.weights": weights})
    entry = zoo.ZooModel(NAME, "test net", 64, 0.0, 0.0, 1.0, 64, "tests",
                         cfg_url="https://example.invalid/tiny-zoo.cfg",
                         weights_url="https://example.invalid/tiny-zoo.weights", weights_bytes=len(weights),
                         sha256=hashlib.sha256(weights).hexdigest(), sha256_from="tests")
    monkeypatch.setitem(zoo.ZOO, NAME, entry)
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CSPDET_ZOO_MIRROR", server.url + "/")
    return server


@pytest.fixture
def refused_url():
    """A 127.0.0.1 URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"

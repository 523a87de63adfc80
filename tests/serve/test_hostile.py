"""Hostile input against a live server with small limits: each case is refused with the right
status in one line of JSON, and /healthz answers after every one."""
import json
import socket
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import Server, media

MAX_BYTES = 300_000
LIMITS = ("--max-bytes", str(MAX_BYTES), "--max-pixels", "1000000", "--header-timeout", "1", "--body-timeout", "1",
          "--keep-alive", "1", "--queue", "2", "--max-wait-ms", "400", "--cors", "http://app.test")


@pytest.fixture(scope="module")
def server():
    s = Server(*LIMITS)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def healthy_after(http):
    yield
    assert http.get("/healthz").status_code == 200, "the server stopped answering after this case"


def refused(r, status: int, words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.text.count("\n") <= 1, "a refusal is one line"
    body = r.json()
    assert words in body["error"] and body["status"] == status, body
    return body


def png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h (and holds no pixels): what a decompression bomb starts with."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def raw(server, request: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize("body", [b"hello, not an image", b"\xff\xd8\xff" + bytes(500), b"",
                                  b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(40)])
def test_not_an_image_is_415(http, body):
    refused(http.post("/v1/detect", content=body), 415, "image")


def test_multipart_without_a_file_is_415_and_a_broken_one_400(http):
    form = b'--x\r\nContent-Disposition: form-data; name="note"\r\n\r\nno file here\r\n--x--\r\n'
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    refused(http.post("/v1/detect", content=form, headers=multipart), 415, "no file")
    r = http.post("/v1/detect", content=b"--x\r\nnonsense", headers=multipart)
    assert r.status_code in (400, 415), r.text
    assert r.text.count("\n") <= 1 and r.json()["status"] == r.status_code


@pytest.mark.parametrize("side", [1001, 30000])  # over this server's --max-pixels 1000000, and over any cap
def test_header_over_the_pixel_cap_is_413_before_decoding(http, side):
    body = refused(http.post("/v1/detect", content=png_header(side, side)), 413, f"{side}x{side}")
    assert "--max-pixels" in body["error"]


def test_body_over_max_bytes_is_413_by_content_length_and_by_count(server, http):
    big = media().read_bytes() * 3
    assert len(big) > MAX_BYTES
    refused(http.post("/v1/detect", content=big), 413, "--max-bytes")
    # a Content-Length that claims too much is refused before the body is sent
    answer = raw(server, b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # chunked, no length: refused once the bytes read pass the cap
    chunk = b"%x\r\n%s\r\n" % (100_000, b"\0" * 100_000)
    answer = raw(server, b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 4)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize("query, words", [("conf=abc", "conf"), ("conf=1.5", "conf"), ("classes=9", "classes"),
                                           ("classes=1;2", "classes"), ("img_size=100", "img_size"),
                                           ("img_size=4096", "--max-img-size"), ("max_det=0", "max_det"),
                                           ("format=png", "format"), ("confidence=0.5", "unknown option")])
def test_malformed_options_are_422(http, query, words):
    refused(http.post(f"/v1/detect?{query}", content=media().read_bytes()), 422, words)


def test_full_queue_is_503_with_retry_after(http):
    data = media().read_bytes()
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: http.post("/v1/detect", content=data), range(12)))
    codes = sorted(r.status_code for r in answers)
    assert 200 in codes and 503 in codes, codes
    for r in answers:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) >= 1
            refused(r, 503, "--queue")


def test_slowloris_headers_are_cut_and_others_still_served(server, http):
    host, port = server.url.removeprefix("http://").split(":")
    idle = socket.create_connection((host, int(port)))  # connects, sends nothing
    slow = socket.create_connection((host, int(port)))
    closed = {}

    def dribble():
        try:
            for ch in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200:
                slow.sendall(bytes([ch]))
                time.sleep(0.05)
            closed["cut"] = False
        except OSError:
            closed["cut"] = True

    t = threading.Thread(target=dribble)
    t.start()
    assert http.get("/healthz").status_code == 200  # served while the slow client dribbles
    for sock in (idle, slow):
        sock.settimeout(30)
        try:
            assert sock.recv(1024) == b"", "the server answered instead of closing"
        except ConnectionResetError:
            pass
    t.join(90)  # a bound against a hang, not a timing
    assert closed["cut"], "the dribbling client was not cut off before it finished"
    idle.close()
    slow.close()
    assert server.logged(event="header_timeout")


def test_stalled_body_is_408(server):
    answer = raw(server, b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"\xff\xd8\xff" * 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert "--body-timeout" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


def test_huge_header_is_refused(server):
    # h11 buffers at most 16 KiB of an incomplete head; asyncio hands it up to 256 KiB per read
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 600_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 4") or answer == b"", answer[:200]


def test_cors_only_for_the_given_origin(http):
    pre = {"Access-Control-Request-Method": "POST"}
    ok = http.options("/v1/detect", headers={"Origin": "http://app.test", **pre})
    assert ok.headers.get("access-control-allow-origin") == "http://app.test"
    other = http.options("/v1/detect", headers={"Origin": "http://evil.test", **pre})
    assert "access-control-allow-origin" not in other.headers


def test_no_request_path_reaches_the_filesystem(server):
    # raw request lines, so no client tidies the dots away first
    for path in (b"/../setup.cfg", b"/static/../../setup.cfg", b"/app.js/../../setup.cfg", b"/%2e%2e/setup.cfg",
                 b"/v1/streams/..%2f..%2fsetup.cfg/frame.jpg", b"//etc/passwd"):
        answer = raw(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith((b"HTTP/1.1 404", b"HTTP/1.1 400")), (path, answer[:100])
        assert b"[metadata]" not in answer and b"root:" not in answer, path

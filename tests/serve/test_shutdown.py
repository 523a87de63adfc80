"""SIGTERM: the request in flight is answered, new connections are refused, the process exits 0;
a request still unfinished after --drain-timeout does not hold the exit."""
import signal
import socket
import time

import pytest

from .conftest import Server, media


def start_upload(server, body: bytes, sent: int) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=60)
    s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:sent])
    return s


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def refused(server) -> bool:
    host, port = server.url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError:
        return True
    return False


@pytest.mark.timeout(300)
def test_sigterm_finishes_the_request_in_flight_then_exits_0():
    # the drain and body timeouts are bounds against a hang: a loaded machine may take seconds
    # between the signal and the refusal, and the request must still be finished
    server = Server("--body-timeout", "90", "--drain-timeout", "60")
    body = media().read_bytes()
    s = start_upload(server, body, len(body) // 2)  # in flight: half its body sent
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 90
    while not refused(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert refused(server), "the server still accepts connections after SIGTERM"
    s.sendall(body[len(body) // 2:])
    answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'"detections"' in answer
    assert server.proc.wait(60) == 0
    assert server.logged(event="stopping", signal="SIGTERM")


@pytest.mark.timeout(300)
def test_a_stalled_request_does_not_hold_the_exit_past_the_drain_timeout():
    server = Server("--body-timeout", "120", "--drain-timeout", "1")
    body = media().read_bytes()
    s = start_upload(server, body, 100)  # and never sends the rest
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    # ends by --drain-timeout (1 s), not --body-timeout (120 s): a bound between the two, not a timing
    assert server.proc.wait(90) == 0
    s.close()

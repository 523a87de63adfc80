"""ASGI middlewares around every request: request ids and JSON request logs, the API key, and
the body's size and time limits.

Plain ASGI classes rather than Starlette's ``BaseHTTPMiddleware``, which buffers streamed
responses (Server-Sent Events) and costs a task per request. Starlette's own
``RequestBodyLimitMiddleware`` caps size but has no deadline and answers in plain text, so the
body guard here does both, with errors naming the flag.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
import uuid

log = logging.getLogger("cspdet.serve")
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class BodyTooLarge(Exception):
    """A request body over ``--max-bytes`` (answered 413)."""


class BodyTimeout(Exception):
    """A request body that did not arrive within ``--body-timeout`` (answered 408)."""


def error_body(status: int, message: str, request_id: str | None) -> bytes:
    """The one-line JSON every refusal carries."""
    return json.dumps({"error": message, "status": status, "request_id": request_id}).encode() + b"\n"


async def send_error(send, status: int, message: str, request_id: str | None, headers=()) -> None:
    body = error_body(status, message, request_id)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


def request_id(scope) -> str | None:
    return scope.get("state", {}).get("request_id")


class RequestLog:
    """Outermost: gives each request an id (a well-formed incoming X-Request-ID, else a new one),
    returns it as X-Request-ID, and logs one JSON line per request when it ends. Routes add
    fields through ``scope['state']['log']``."""

    def __init__(self, app, enabled: bool = True):
        self.app, self.enabled = app, enabled

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["log"] = rid, {}
        seen = {"status": 500, "bytes": 0}
        t0 = time.perf_counter()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message = dict(message, headers=[*message.get("headers", []), (b"x-request-id", rid.encode())])
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.enabled:
                client = scope.get("client")
                log.info({"event": "request", "request_id": rid, "method": scope["method"], "path": scope["path"],
                          "status": seen["status"], "ms": round((time.perf_counter() - t0) * 1e3, 2),
                          "bytes_out": seen["bytes"], "client": f"{client[0]}:{client[1]}" if client else None,
                          **state["log"]})


def _digest(key: str) -> bytes:
    # compare digests, not keys: compare_digest's time then does not depend on the key's length either
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class APIKey:
    """Every route but the health checks needs the key: ``X-API-Key: KEY``, ``Authorization:
    Bearer KEY``, or HTTP Basic with KEY as the password (how the browser page sends it: the
    browser asks once, then sends it with every request of the page). Checked in constant time."""

    def __init__(self, app, key: str):
        self.app, self.want = app, _digest(key)

    def _given(self, headers: dict) -> str | None:
        if b"x-api-key" in headers:
            return headers[b"x-api-key"].decode("latin-1")
        scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return None
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = self._given(dict(scope["headers"]))
        if given is not None and hmac.compare_digest(_digest(given), self.want):
            return await self.app(scope, receive, send)
        message = "missing API key" if given is None else "wrong API key"
        await send_error(send, 401, f"{message}: send X-API-Key (or Authorization: Bearer KEY)", request_id(scope),
                         [(b"www-authenticate", b'Basic realm="cspdet", charset="UTF-8"')])


class BodyGuard:
    """A body over ``max_bytes`` is refused on its Content-Length before a byte is read (413),
    else as soon as the bytes read pass it; the whole body must arrive within ``timeout`` s of
    the first read (408), so a client that stalls mid-upload holds nothing for long."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = None  # h11 refuses a malformed Content-Length before we are called
            if declared is not None and declared > self.max_bytes:
                return await send_error(send, 413, f"the body of {declared:,} bytes is over --max-bytes "
                                                   f"{self.max_bytes:,}", request_id(scope))
        got, deadline, complete = 0, None, False

        async def guarded_receive():
            nonlocal got, deadline, complete
            if complete:  # later reads wait for a disconnect (a streamed response): no deadline then
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.timeout
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise BodyTimeout(f"the body did not arrive within --body-timeout {self.timeout:g} s "
                                  f"({got:,} bytes read)") from None
            if message["type"] == "http.request":
                got += len(message.get("body", b""))
                if got > self.max_bytes:
                    raise BodyTooLarge(f"the body is over --max-bytes {self.max_bytes:,}")
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, guarded_receive, send)

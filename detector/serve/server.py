"""uvicorn, set up for a service facing untrusted clients: a deadline on request headers, h11's
header size limit, a cap on connections, JSON log lines, and a drain on SIGTERM that exits 0.

uvicorn has no deadline for receiving a request: ``timeout_keep_alive`` covers only the idle
time between requests and is cancelled by every byte received, so a client that connects and
sends nothing, or dribbles its headers a byte at a time (slowloris), holds its connection for
ever. ``header_deadline_protocol`` adds that deadline to uvicorn's h11 protocol; an ASGI
middleware cannot, since it first runs once the headers are complete.
"""
from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("cspdet.serve")
MAX_HEADER_BYTES = 16 * 1024


class JSONLines(logging.Formatter):
    """One JSON object per line: a dict message is merged in, any other message goes in 'msg'."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": round(time.time(), 3), "level": record.levelname.lower(), "logger": record.name}
        if isinstance(record.msg, dict):
            line.update(record.msg)
        else:
            line["msg"] = " ".join(record.getMessage().split())
        if record.exc_info:
            line["error"] = " ".join(self.formatException(record.exc_info).splitlines()[-1:])
        return json.dumps(line, default=str)


def setup_logging() -> None:
    """cspdet's and uvicorn's messages as JSON lines on stdout (uvicorn's access log is off: the
    service logs each request itself, with its id)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONLines())
    for name, level in (("cspdet.serve", logging.INFO), ("uvicorn.error", logging.INFO), ("uvicorn", logging.INFO)):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False


def header_deadline_protocol(timeout: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    ``timeout`` s after it opened (the first request) or after the first byte of a later one."""

    class HeaderDeadlineH11(H11Protocol):
        _timer = None

        def _arm(self) -> None:
            if self._timer is None:
                self._timer = self.loop.call_later(timeout, self._expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            if cycle is None or cycle.response_complete:  # bytes of a request not yet parsed
                self._arm()
            super().data_received(data)
            if self.cycle is not cycle and self.cycle is not None:  # its headers are complete
                self._disarm()

        def on_response_complete(self) -> None:
            cycle = self.cycle
            super().on_response_complete()
            if self.cycle is not cycle:  # a pipelined request was parsed just now
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _expired(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                client = self.client
                log.warning({"event": "header_timeout", "client": f"{client[0]}:{client[1]}" if client else None,
                             "msg": f"request headers not complete within --header-timeout {timeout:g} s; closed"})
                self.transport.close()

    return HeaderDeadlineH11


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping on SIGTERM or SIGINT: no new connections, the requests in flight
    finish (at most ``timeout_graceful_shutdown`` s), then ``serve`` returns. uvicorn raises the
    signal again afterwards, which would end the process as killed (143); here a drained stop is
    a clean exit. ``on_exit`` runs once at the first signal (the app turns not-ready, streams
    end)."""

    on_exit = None

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        for server in getattr(self, "servers", []):  # the bound address: --port 0 picks a free port
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                log.info({"event": "listening", "url": f"http://{shown}:{port}"})

    def handle_exit(self, sig, frame) -> None:
        if not self.should_exit:
            log.info({"event": "stopping", "signal": signal.Signals(sig).name,
                      "msg": "draining the requests in flight"})
            if self.on_exit is not None:
                self.on_exit()
        super().handle_exit(sig, frame)


def uvicorn_config(app, cfg) -> uvicorn.Config:
    """The uvicorn settings of a ServeConfig."""
    return uvicorn.Config(
        app, host=cfg.host, port=cfg.port, http=header_deadline_protocol(cfg.header_timeout), loop="asyncio",
        lifespan="on", log_config=None, access_log=False, server_header=False, date_header=True,
        timeout_keep_alive=cfg.keep_alive, timeout_graceful_shutdown=cfg.drain_timeout,
        limit_concurrency=cfg.max_connections, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ws="none", proxy_headers=False)

"""A real ``cspdet serve`` process per test module, talked to over HTTP on 127.0.0.1.

Each server runs the bundled shapes model on torch, as a user starts it (``python -m detector
serve``); its JSON log lines are collected so tests can read what it logged.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

MEDIA = REPO / "demos" / "media"
WEIGHTS = REPO / "weights" / "cspdet-shapes.pt"
START_TIMEOUT = 180  # a cold start on 2 busy cores: imports, model, warm-up


def need(*modules: str) -> None:
    """Skip when an optional package is missing; under CI=true, which installs them, fail."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (pip install -e .[serve,dev])"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


class Server:
    """``python -m detector serve --port 0 ARGS`` until ``stop()``; ``url`` once it listens."""

    def __init__(self, *args: str, env: dict | None = None):
        need("fastapi", "uvicorn", "httpx")
        self.args = ["--weights", str(WEIGHTS), "--backend", "torch", "--port", "0", *args]
        self.lines: list[dict] = []
        self.url = None
        self._listening = threading.Event()
        self.proc = subprocess.Popen([sys.executable, "-m", "detector", "serve", *self.args], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})})
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cspdet serve did not start (rc {self.proc.returncode}): "
                                   f"{''.join(self.stderr)[-2000:]} {self.lines[-5:]}")

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            try:
                item = json.loads(line)
            except ValueError:
                item = {"raw": line}
            self.lines.append(item)
            if item.get("event") == "listening":
                self.url = item["url"]
                self._listening.set()

    def logged(self, **fields) -> list[dict]:
        """The log lines holding every one of ``fields``."""
        return [ln for ln in list(self.lines) if all(ln.get(k) == v for k, v in fields.items())]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


API_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def api_server():
    """The server the API and browser tests share: defaults, except a key and a batching window
    long enough for concurrent requests to meet in one batch."""
    server = Server("--api-key", API_KEY, "--max-wait-ms", "50")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(api_server):
    import httpx

    with httpx.Client(base_url=api_server.url, headers={"X-API-Key": API_KEY}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def http(server):
    """A client of the module's own ``server`` fixture (no key)."""
    import httpx

    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def media(name: str = "demo_000.jpg") -> Path:
    return MEDIA / name

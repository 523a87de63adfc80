"""The service's settings and limits, with the defaults ``cspdet serve --help`` shows.

Every limit bounds memory or time before anything is allocated or waited for:

- a body is refused past ``max_bytes`` (on its Content-Length at once, else while it arrives) and
  must arrive within ``body_timeout``; request headers within ``header_timeout``;
- an image is refused when its header claims more than ``max_pixels`` (before decoding);
- at most ``queue`` images are admitted at once (decoding, waiting or in inference); past that
  the answer is 503 with Retry-After, so memory stays under about
  ``queue x (max_bytes + 3 x max_pixels)`` for images plus ``max_connections x max_bytes`` for
  bodies still arriving;
- at most ``max_connections`` connections are served at once (uvicorn's ``limit_concurrency``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

API_KEY_ENV = "CSPDET_API_KEY"
STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class StreamSpec:
    """A source to follow: ``name`` (its URL path part) and ``url`` (a camera index, an
    rtsp/http/... URL, or a video file, which plays at its own frame rate and loops)."""

    name: str
    url: str


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 8
    max_wait_ms: float = 5.0
    queue: int = 32
    max_bytes: int = 20_000_000
    max_pixels: int = 4096 * 4096
    max_img_size: int = 1280
    max_connections: int = 128
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive: float = 5.0
    drain_timeout: float = 5.0
    api_key: str | None = None
    cors: list[str] = field(default_factory=list)
    streams: list[StreamSpec] = field(default_factory=list)
    track: bool = False
    log_requests: bool = True


def parse_stream(text: str, where: str = "--stream") -> StreamSpec:
    """'NAME=URL' -> StreamSpec; ValueError naming ``where`` for anything else."""
    name, sep, url = text.strip().partition("=")
    name, url = name.strip(), url.strip()
    if not sep or not url:
        raise ValueError(f"{where} {text.strip()!r}: expected NAME=URL")
    if not STREAM_NAME.fullmatch(name):
        raise ValueError(f"{where} {text.strip()!r}: NAME must be 1-64 letters, digits, '_', '-' or '.', "
                         "starting with a letter or digit")
    return StreamSpec(name, url)


def read_stream_file(path: str | Path) -> list[StreamSpec]:
    """NAME=URL lines of a file (blank lines and '#' comments skipped) -> StreamSpecs; the error of
    a bad line names the file and the line."""
    from ..io.text import read_text

    specs = []
    for no, line in enumerate(read_text(Path(path)).splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            specs.append(parse_stream(line, f"{path}:{no}:"))
    return specs


def check_streams(specs: list[StreamSpec]) -> list[StreamSpec]:
    """The specs, or ValueError for a name given twice."""
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise ValueError(f"--stream {s.name}: the name is given twice")
        seen.add(s.name)
    return specs

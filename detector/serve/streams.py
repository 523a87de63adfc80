"""Following many cameras and video streams at once, each on its newest frame.

Each ``--stream NAME=URL`` gets a thread that reads through the runtime's ``StreamSource`` (a
reader thread that keeps only the newest frame, so a slow model drops stale frames instead of
lagging behind the camera), runs each frame through the service's batcher (frames of every
stream and HTTP requests share its batches), tracks with ByteTrack under ``--track``, and
publishes the newest detections. A stream that cannot be opened, drops or stalls is reopened
after a backoff that doubles from 0.5 s to 30 s and resets once frames flow again; a video file
plays at its own frame rate and starts again at its end, like a camera that never stops.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..runtime.sources import STREAM_PREFIXES, VIDEO_SUFFIXES, StreamSource
from .batching import Overloaded
from .config import StreamSpec

log = logging.getLogger("cspdet.serve")
BACKOFF = (0.5, 30.0)


def check_source(spec: StreamSpec) -> None:
    """ValueError unless ``spec.url`` is a camera index, a stream URL or an existing video file
    (a URL may be down now and come up later; a missing file will not)."""
    url = spec.url
    if url.isdigit() or url.lower().startswith(STREAM_PREFIXES):
        return
    path = Path(url)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--stream {spec.name}={url}: not a camera index, an rtsp/http/... URL or a video file")
    if not path.is_file():
        raise FileNotFoundError(f"--stream {spec.name}={url}: no such video file")


def public_url(url: str) -> str:
    """The URL without its user:password part, for logs and /v1/streams."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class Latest:
    """The newest value of one stream: published from any thread, awaited on the event loop."""

    def __init__(self):
        self.value: Any = None
        self.version = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future] = set()
        self._lock = threading.Lock()

    def publish(self, value: Any) -> None:
        with self._lock:
            self.value, self.version = value, self.version + 1
        self.wake()

    def wake(self) -> None:
        """Wake every waiter (a new value, or the server stopping)."""
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

    def _wake(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def newer(self, version: int) -> tuple[int, Any]:
        """Wait until a value newer than ``version`` is published (or ``wake``) -> (version, value)."""
        if self.version <= version:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.add(fut)
            try:
                await fut
            finally:
                self._waiters.discard(fut)
        return self.version, self.value


class StreamFollower:
    """One ``StreamSpec`` followed by its own thread; ``latest`` holds its newest detections."""

    def __init__(self, spec: StreamSpec, service, *, track: bool = False, timeout: float = 10.0,
                 backoff: tuple[float, float] = BACKOFF):
        self.spec, self.service, self.track, self.timeout, self.backoff = spec, service, track, timeout, backoff
        # as `cspdet track`: ByteTrack's second round needs the low-score boxes, and NMS across classes
        # keeps one object that the model gives two classes from starting two tracks
        conf = min(service.det.nms["conf_thres"], 0.1) if track else None
        self.opts = service.options(conf=conf, agnostic=True if track else None)
        self.status, self.error = "connecting", None
        self.frames = self.dropped = self.reconnects = 0
        self.fps, self._last_t = 0.0, None
        self.latest = Latest()
        self.last_result = None
        self._src: StreamSource | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cspdet-stream-{spec.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def signal_stop(self) -> None:
        """Ask the thread to end; a wait for the next frame ends at once."""
        self._stop.set()
        src = self._src
        if src is not None:
            src.close()
        self.latest.wake()

    def join(self, timeout: float = 3.0) -> None:
        self._thread.join(timeout)

    def info(self) -> dict:
        return {"name": self.spec.name, "url": public_url(self.spec.url), "status": self.status, "error": self.error,
                "frames": self.frames, "dropped": self.dropped, "reconnects": self.reconnects,
                "fps": round(self.fps, 2), "tracking": self.track}

    def _open(self) -> StreamSource:
        url = self.spec.url
        if url.isdigit():
            return StreamSource(int(url), timeout=self.timeout)
        if url.lower().startswith(STREAM_PREFIXES):
            return StreamSource(url, timeout=self.timeout)
        return StreamSource(url, timeout=self.timeout, pace=True)

    def _set(self, status: str, error: str | None = None) -> None:
        if status != self.status or error != self.error:
            self.status, self.error = status, error
            log.info({"event": "stream", "stream": self.spec.name, "status": status, "error": error})
            self.latest.publish(dict(self.latest.value or {}, stream=self.spec.name, status=status, error=error))

    def _run(self) -> None:
        delay, session, n = self.backoff[0], None, 0
        if self.track:
            from ..runtime.tracking import ByteTracker, TrackSession

            session = TrackSession(ByteTracker(), self.service.det.names)
        while not self._stop.is_set():
            try:
                src = self._src = self._open()
            except (ValueError, OSError) as e:
                self._set("reconnecting", " ".join(str(e).split()))
            else:
                self._set("live")
                try:
                    for frame in src:
                        if self._stop.is_set():
                            break
                        n = self._frame(frame.image, session, n)
                        delay = self.backoff[0]
                except Exception as e:  # a failure on one frame must not end the follower
                    self.error = f"{type(e).__name__}: {' '.join(str(e).split())}"
                finally:
                    src.close()
                    self._last_t = None  # the gap until the next frame is no frame rate
                if not self._stop.is_set():
                    self._set("reconnecting", self.error or "the stream ended or stalled")
            if self._stop.wait(delay):
                break
            self.reconnects += 1
            delay = min(delay * 2, self.backoff[1])
        self.status = "stopped"

    def _frame(self, img, session, n: int) -> int:
        try:
            d = self.service.detect_frame(img, self.opts)
        except Overloaded:  # the service is full: this frame is dropped, the next one is newer anyway
            self.dropped += 1
            return n
        n += 1
        if session is not None:
            d.result = session.track(d.result, n)
        self.frames, self.last_result = n, d.result
        now = time.perf_counter()
        if self._last_t is not None:  # frames published per second: the source's rate or the model's, the lower
            rate = 1.0 / max(now - self._last_t, 1e-6)
            self.fps = rate if self.fps == 0 else 0.9 * self.fps + 0.1 * rate
        self._last_t = now
        h, w = img.shape[:2]
        self.latest.publish({"stream": self.spec.name, "status": "live", "error": None, "frame": n,
                             "time": round(time.time(), 3), "image": {"width": w, "height": h},
                             "detections": self.service.detections_json(d.result),
                             "timings_ms": {k: round(v, 3) for k, v in d.timings.items()}})
        return n


class StreamHub:
    """The followers of every ``--stream``, started and stopped together."""

    def __init__(self, specs: list[StreamSpec], service, *, track: bool = False):
        self.followers = {s.name: StreamFollower(s, service, track=track) for s in specs}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        for f in self.followers.values():
            f.latest.loop = loop
            f.start()

    def wake_all(self) -> None:
        for f in self.followers.values():
            f.latest.wake()

    def stop(self) -> None:
        for f in self.followers.values():  # all at once, then wait for each
            f.signal_stop()
        for f in self.followers.values():
            f.join(3.0)

    def get(self, name: str) -> StreamFollower | None:
        return self.followers.get(name)

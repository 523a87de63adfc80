"""Where frames come from: images, folders, globs, path lists, video files, webcams and streams.

``open_source(spec)`` returns an iterable of ``Frame``; an unreadable image is yielded with
``error`` set (the caller reports, counts and skips it) so one bad file never ends a run.
Streams and webcams are read by a background thread that keeps only the newest frame, so a slow
model drops frames instead of falling further and further behind.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..io.images import ImageError, list_images, read_image

__all__ = ["Frame", "ImageSource", "StreamSource", "VideoSource", "open_source"]

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm", ".ts", ".flv"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass
class Frame:
    """One input: ``image`` (BGR) or ``error``; ``name`` for outputs; ``index`` in the source."""

    image: np.ndarray | None
    name: str
    index: int
    error: str | None = None
    path: str | None = None


class ImageSource:
    """A fixed list of image files (from a file, folder, glob or .txt list)."""

    kind = "images"

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self.names = output_names(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for i, (p, name) in enumerate(zip(self.paths, self.names)):
            try:
                yield Frame(read_image(p), name, i, path=str(p))
            except ImageError as e:
                yield Frame(None, name, i, error=str(e), path=str(p))

    def close(self) -> None:
        pass


def output_names(paths: list[Path]) -> list[str]:
    """The name each image's outputs take: the file name, or, when two files share one (``a/x.jpg``
    and ``b/x.jpg`` under ``--recursive``), the path below the folder they have in common, so
    outputs mirror the source tree and never overwrite each other."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    return [p.relative_to(root).as_posix() for p in resolved]

    def close(self) -> None:
        pass


class VideoSource:
    """A video file, read in order; ``vid_stride`` keeps every n-th frame."""

    kind = "video"

    def __init__(self, path: Path, vid_stride: int = 1):
        self.path, self.stride = path, max(1, vid_stride)
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise ValueError(f"{path}: cannot open video")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def __len__(self) -> int:
        return -(-self.frames // self.stride) if self.frames > 0 else 0

    def __iter__(self) -> Iterator[Frame]:
        i = 0
        while True:
            ok, img = self.cap.read()
            if not ok:  # end of file, or a truncated file: end cleanly
                return
            yield Frame(img, self.path.name, i)
            i += 1
            for _ in range(self.stride - 1):  # grab() skips decoding the frames we drop
                if not self.cap.grab():
                    return

    def close(self) -> None:
        self.cap.release()


class StreamSource:
    """A webcam index or a network stream, read by a thread that keeps only the newest frame."""

    kind = "stream"

    def __init__(self, spec: str | int, vid_stride: int = 1, timeout: float = 10.0, pace: bool = False):
        """``pace``: read at the source's own frame rate, as a camera delivers it (for a video file
        followed as a live stream; a camera or network stream paces itself)."""
        self.spec, self.stride, self.timeout, self.pace = spec, max(1, vid_stride), timeout, pace
        self.cap = cv2.VideoCapture(spec)
        if not self.cap.isOpened():
            raise ValueError(f"--source {spec}: cannot open {'webcam' if isinstance(spec, int) else 'stream'}")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.name = f"webcam{spec}" if isinstance(spec, int) else "stream"
        self._frame, self._seq, self._alive = None, 0, True
        self._closed = self._reader_done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        n, due = 0, time.monotonic()
        while self._alive:
            if self.pace:
                due += 1.0 / self.fps
                time.sleep(max(0.0, due - time.monotonic()))
            ok = self.cap.grab()
            if ok and n % self.stride == 0:
                ok, img = self.cap.retrieve()
                if ok:
                    with self._cond:
                        self._frame, self._seq = img, self._seq + 1
                        self._cond.notify_all()
            if not ok:  # the stream dropped: wake the consumer so it ends cleanly
                break
            n += 1
        with self._cond:
            self._alive = False
            self._reader_done = True
            release = self._closed
            self._cond.notify_all()
        if release:
            self.cap.release()

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Frame]:
        seen, i = 0, 0
        while True:
            with self._cond:
                deadline = time.monotonic() + self.timeout
                while self._seq == seen and self._alive and time.monotonic() < deadline:
                    self._cond.wait(0.1)
                if self._seq == seen:
                    return
                img, seen = self._frame, self._seq
            yield Frame(img, self.name, i)
            i += 1

    def close(self) -> None:
        """Stop the reader; the capture is released by whichever of the two finishes last, so a
        reader still blocked in ``grab()`` on a dead stream never has it freed under it."""
        with self._cond:
            self._alive = False
            self._closed = True
            reader_done = self._reader_done
        if reader_done:
            self.cap.release()
        else:
            self._thread.join(timeout=2)


def open_source(spec: str, *, recursive: bool = False, vid_stride: int = 1):
    """An iterable of Frames for ``spec`` (see module docstring); one-line errors for bad specs."""
    if spec.isdigit():
        return StreamSource(int(spec), vid_stride)
    if spec.lower().startswith(STREAM_PREFIXES):
        return StreamSource(spec, vid_stride)
    path = Path(spec)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        if not path.is_file():
            raise FileNotFoundError(f"--source {spec}: no such video file")
        return VideoSource(path, vid_stride)
    if not path.exists() and not any(ch in spec for ch in "*?["):
        raise FileNotFoundError(f"--source {spec}: no such file or folder")
    paths = list_images(spec, recursive)
    if not paths:
        raise FileNotFoundError(f"--source {spec}: no images found"
                                f"{'' if recursive or not path.is_dir() else ' (subfolders need --recursive)'}")
    return ImageSource(paths)

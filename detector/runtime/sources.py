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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..io.images import ImageError, is_file, list_images, read_image
from ..resources import resolve_source

__all__ = ["Frame", "ImageSource", "MixedSource", "StreamSource", "VideoSource", "open_source"]

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm", ".ts", ".flv"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass
class Frame:
    """One input: ``image`` (BGR) or ``error``; ``name`` for outputs; ``index`` in the source
    (in its video, for a video frame); ``fps`` set for frames of a video, webcam or stream."""

    image: np.ndarray | None
    name: str
    index: int
    error: str | None = None
    path: str | None = None
    fps: float | None = None


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


class VideoSource:
    """A video file, read in order; ``vid_stride`` keeps every n-th frame."""

    kind = "video"

    def __init__(self, path: Path, vid_stride: int = 1, name: str | None = None):
        self.path, self.stride, self.name = path, max(1, vid_stride), name or path.name
        self.cap = capture(str(path))
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
            yield Frame(img, self.name, i, fps=self.fps)
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
        self.cap = capture(spec)
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
            yield Frame(img, self.name, i, fps=self.fps)
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


class MixedSource:
    """A folder's (or glob's) images, then each of its videos, as yolov5 reads a folder: a video's
    frames carry ``fps`` (the sinks write them as a video) and its index within that video."""

    kind = "mixed"

    def __init__(self, images: list[Path], videos: list[Path], vid_stride: int = 1):
        self.images = ImageSource(images)
        names = output_names([*images, *videos])[len(images):]
        self.videos = [VideoSource(v, vid_stride, name) for v, name in zip(videos, names)]
        self.fps = self.videos[0].fps

    def __len__(self) -> int:
        return len(self.images) + sum(len(v) for v in self.videos)

    def __iter__(self) -> Iterator[Frame]:
        yield from self.images
        for v in self.videos:
            yield from v

    def close(self) -> None:
        for v in self.videos:
            v.close()


def capture(spec: str | int) -> cv2.VideoCapture:
    """``cv2.VideoCapture(spec)`` with OpenCV's and FFmpeg's own log lines silenced while it opens:
    a source that cannot be opened is one line from the caller, not a screen of backend noise.
    ``OPENCV_FFMPEG_LOGLEVEL`` set by the user is kept (FFmpeg reads it once, at its first use)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(spec)
    finally:
        logging.setLogLevel(level)


def videos_in(spec: str, recursive: bool = False) -> list[Path]:
    """Sorted video files of a folder (or matched by a glob), as ``list_images`` finds images."""
    import glob as globlib

    path = Path(spec)
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
    elif any(ch in spec for ch in "*?["):
        found = map(Path, globlib.glob(spec, recursive=recursive))
    else:
        return []
    return sorted(p for p in found if p.suffix.lower() in VIDEO_SUFFIXES and is_file(p))


def open_source(spec: str, *, recursive: bool = False, vid_stride: int = 1, videos: bool = True):
    """An iterable of Frames for ``spec`` (see module docstring); one-line errors for bad specs.
    ``spec`` may be a short name of the bundled media (``demo``, ``demo-images``). A folder's or
    glob's videos are read after its images; with ``videos=False`` (a folder of frames to track)
    they are left out with a warning that counts them."""
    spec = resolve_source(str(spec))
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
    paths, clips = list_images(spec, recursive), videos_in(spec, recursive)
    if clips and not videos:
        warnings.warn(f"--source {spec}: {len(clips)} video(s) left out ({', '.join(c.name for c in clips[:3])}"
                      f"{', ...' if len(clips) > 3 else ''}): a folder is tracked as one sequence of frames; "
                      f"track a video with --source {clips[0]}", stacklevel=2)
        clips = []
    if not paths and not clips:
        raise FileNotFoundError(f"--source {spec}: no images found"
                                f"{'' if recursive or not path.is_dir() else ' (subfolders need --recursive)'}")
    return MixedSource(paths, clips, vid_stride) if clips else ImageSource(paths)

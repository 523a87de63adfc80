"""Overlap reading + letterboxing of the next frame, and drawing + encoding of the previous one,
with inference of the current one: on video the end-to-end rate approaches pure inference.
With ``streams`` > 1, that many frames are inferred at once, each by a replica of the detector
on its share of the CPU threads."""
from __future__ import annotations

import collections
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .results import Results
from .sources import Frame

_END = object()


def prefetch(items: Iterable, fn: Callable, depth: int = 2, cancel: Callable[[], bool] | None = None) -> Iterator:
    """Yield ``fn(item)`` for each item, computed ``depth`` items ahead in a background thread.

    OpenCV decoding/resizing and numpy release the GIL, so this runs truly in parallel with
    inference. An exception in the thread is re-raised here, at the item that failed. The wait
    for the next item is sliced: once ``cancel()`` is true the iteration ends within 0.1 s even
    when the source has stalled (a network stream).
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for item in items:
                if stop.is_set():
                    break
                q.put((fn(item), None))
        except BaseException as e:  # hand over to the consumer thread
            q.put((None, e))
        q.put((_END, None))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            if cancel is not None and cancel():
                return
            try:
                value, err = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if err is not None:
                raise err
            if value is _END:
                return
            yield value
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


class Worker:
    """A single background thread consuming jobs in order (e.g. draw + encode + write).

    After a job fails it runs no more jobs: ``submit`` and ``close`` re-raise that error. ``close``
    waits in short slices, so Ctrl-C in the main thread is never stuck behind it. The thread also
    ends on an empty queue once closing, so an end marker lost to an interrupt inside
    ``Queue.put`` cannot leave it (and ``close``) waiting forever.
    """

    def __init__(self, depth: int = 4):
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.closing = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True, name="cspdet-writer")
        self.t.start()

    def _run(self):
        while True:
            try:
                job = self.q.get(timeout=0.1)
            except queue.Empty:
                if self.closing.is_set():
                    return
                continue
            if job is _END:
                return
            if self.error is not None:
                continue  # drain without running: the outputs after a failed write would be partial
            try:
                job()
            except BaseException as e:
                self.error = e

    def submit(self, job: Callable[[], None]) -> None:
        if self.error:
            raise self.error
        while True:
            try:
                self.q.put(job, timeout=0.1)
                return
            except queue.Full:
                if not self.t.is_alive():
                    raise RuntimeError("the writer thread ended unexpectedly") from self.error

    def close(self) -> None:
        try:
            while self.t.is_alive():
                try:
                    self.q.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    continue
        finally:
            self.closing.set()
        while self.t.is_alive():
            self.t.join(0.1)
        if self.error:
            raise self.error


@dataclass
class StreamItem:
    """One frame's outcome: ``result`` is None for a frame that failed to load (see
    ``frame.error``); times are milliseconds for this frame."""

    frame: Frame
    result: Results | None
    pre_ms: float = 0.0
    inference_ms: float = 0.0
    post_ms: float = 0.0


def detect_stream(det, frames: Iterable[Frame], depth: int = 2, streams: int = 1,
                  cancel: Callable[[], bool] | None = None) -> Iterator[StreamItem]:
    """Run ``det`` (a runtime ``Detector``) over ``frames``, preprocessing ``depth`` frames ahead
    in a thread and inferring ``streams`` frames at once (``det.replicas``); yields a StreamItem
    per frame, in order. Breaking out, or ``cancel()`` turning true, stops the reader and the
    streams."""
    def prepare(frame: Frame):
        if frame.error:
            return frame, None, 0.0
        t = time.perf_counter()
        prepared = det.preprocess([frame.image])
        return frame, prepared, (time.perf_counter() - t) * 1e3

    def infer(d, frame: Frame, prepared, pre_ms: float) -> StreamItem:
        t0 = time.perf_counter()
        pred = d.infer(prepared[0])
        t1 = time.perf_counter()
        result = d.postprocess(pred, prepared[1], [frame.image], [frame.path])[0]
        t2 = time.perf_counter()
        return StreamItem(frame, result, pre_ms, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    if streams == 1:
        for frame, prepared, pre_ms in prefetch(frames, prepare, depth, cancel):
            yield StreamItem(frame, None) if frame.error else infer(det, frame, prepared, pre_ms)
        return
    free: queue.Queue = queue.Queue()
    for d in det.replicas(streams):
        free.put(d)

    def on_replica(frame, prepared, pre_ms):
        d = free.get()
        try:
            return infer(d, frame, prepared, pre_ms)
        finally:
            free.put(d)

    pending: collections.deque = collections.deque()
    pool = ThreadPoolExecutor(streams, thread_name_prefix="cspdet-stream")
    try:
        for frame, prepared, pre_ms in prefetch(frames, prepare, depth + streams, cancel):
            if frame.error:
                done: Future = Future()
                done.set_result(StreamItem(frame, None))
                pending.append(done)
            else:
                pending.append(pool.submit(on_replica, frame, prepared, pre_ms))
            while len(pending) > streams:  # keep every stream busy, yield in frame order
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
        end = getattr(det, "end_streams", None)
        if end is not None:
            end()

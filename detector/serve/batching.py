"""Dynamic batching: images from concurrent callers, inferred together on one thread.

A serving library's batcher (Ray Serve's ``@serve.batch``, Triton's dynamic batcher) would bring
a whole runtime along; this one is the part the service needs: gather what is queued, wait at
most ``max_wait`` for the batch to fill to ``max_batch``, infer it off the event loop, hand each
caller its own rows. ``Admission`` bounds how many images are in the service at once, so the
queue, and the memory behind it, is bounded by construction.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

_STOP = object()


class Overloaded(RuntimeError):
    """The service holds as many images as it admits; ``retry_after`` is a hint in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class BatchInfo:
    """How one image was inferred: the batch it joined, ms waited in the queue, ms of inference
    (of the whole batch)."""

    size: int
    queue_ms: float
    inference_ms: float


class Admission:
    """A counter of the images in the service (decoding, queued or inferred), refusing past
    ``capacity``: ``with admission.slot() as slot: ...`` or ``Overloaded``. ``preparing`` counts
    the admitted images not yet handed to the batcher (``slot.handed()``): the batcher waits for
    those, and only those, to fill a batch."""

    def __init__(self, capacity: int, retry_after: Callable[[int], int] = lambda n: 1):
        if capacity < 1:
            raise ValueError(f"--queue must be at least 1, got {capacity}")
        self.capacity, self._retry_after = capacity, retry_after
        self.held = self.preparing = 0
        self._lock = threading.Lock()

    def slot(self) -> "Slot":
        return Slot(self)

    def _enter(self) -> None:
        with self._lock:
            if self.held >= self.capacity:
                raise Overloaded(f"the service is at its --queue limit of {self.capacity} images; retry later",
                                 self._retry_after(self.held))
            self.held += 1
            self.preparing += 1

    def _add(self, held: int, preparing: int) -> None:
        with self._lock:
            self.held += held
            self.preparing += preparing


class Slot:
    """One admitted image (see ``Admission``)."""

    def __init__(self, admission: Admission):
        self.admission, self._handed = admission, False

    def __enter__(self) -> "Slot":
        self.admission._enter()
        return self

    def handed(self) -> None:
        """Its blob is with the batcher now."""
        if not self._handed:
            self._handed = True
            self.admission._add(0, -1)

    def __exit__(self, *exc) -> None:
        self.admission._add(-1, 0 if self._handed else -1)


class Batcher:
    """``submit(blob [1, 3, h, w])`` from any thread -> Future of (rows [1, N, 5 + nc], BatchInfo).

    One thread takes the first queued blob, then whatever else is queued, waiting at most
    ``max_wait`` seconds for the batch to reach ``max_batch`` while ``incoming()`` says more
    images are on their way (None: always wait); blobs of one shape are inferred in
    one ``infer([B, 3, h, w])`` call (``Detector.infer``), others in a call per shape. An error
    in ``infer`` fails that call's futures only; the thread goes on.
    """

    def __init__(self, infer: Callable[[np.ndarray], np.ndarray], *, max_batch: int = 8, max_wait: float = 0.005,
                 incoming: Callable[[], int] | None = None, name: str = "cspdet-batcher"):
        if max_batch < 1:
            raise ValueError(f"--max-batch must be at least 1, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"--max-wait-ms must be at least 0, got {max_wait * 1e3:g}")
        self.infer, self.max_batch, self.max_wait, self.incoming = infer, max_batch, max_wait, incoming
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self.batches = self.images = 0
        self.batch_ms = 0.0  # moving average of one batch's inference, for Retry-After hints
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, blob: np.ndarray) -> Future:
        if not self.alive:
            raise RuntimeError("the inference thread has stopped")
        fut: Future = Future()
        self._q.put((blob, fut, time.perf_counter()))
        return fut

    def seconds_for(self, images: int) -> float:
        """Roughly how long ``images`` queued images take to clear, from recent batches."""
        return math.ceil(images / self.max_batch) * self.batch_ms / 1e3

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued, then stop the thread (waiting at most ``timeout`` s)."""
        self._q.put(_STOP)
        self._thread.join(timeout)

    def _gather(self, first) -> tuple[list, bool]:
        batch, deadline = [first], time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            left = deadline - time.perf_counter()
            # wait only for images on their way (admitted, still decoding): alone, a request goes at once
            waiting = left > 0 and (self.incoming is None or self.incoming() > 0)
            try:
                item = self._q.get(timeout=left) if waiting else self._q.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._q.get()
            if first is _STOP:
                return
            batch, stop = self._gather(first)
            groups: dict[tuple, list] = {}
            for item in batch:
                if not item[1].set_running_or_notify_cancel():  # its caller went away: skip it
                    continue
                groups.setdefault(item[0].shape[1:], []).append(item)
            for items in groups.values():
                self._run(items)

    def _run(self, items: list) -> None:
        t0 = time.perf_counter()
        try:
            pred = self.infer(np.concatenate([blob for blob, _, _ in items]))
        except BaseException as e:  # hand it to the callers; the thread serves the next batch
            for _, fut, _ in items:
                fut.set_exception(e)
            return
        ms = (time.perf_counter() - t0) * 1e3
        self.batches, self.images = self.batches + 1, self.images + len(items)
        self.batch_ms = ms if self.batches == 1 else 0.9 * self.batch_ms + 0.1 * ms
        for i, (_, fut, queued) in enumerate(items):
            fut.set_result((pred[i:i + 1], BatchInfo(len(items), (t0 - queued) * 1e3, ms)))

"""``loss.backward()`` that Ctrl-C and SIGTERM do not wait for.

Python runs a signal handler only between bytecodes of the main thread, and a backward pass is
one call into PyTorch's autograd engine: on a CPU a large batch's backward takes seconds (21.8 s
was seen under load), so a stop asked for during it waited that long. Here the backward runs in
a helper thread while the main thread waits in 0.1 s slices, so the handler runs at once. An
interrupted backward is abandoned (its thread is a daemon; the gradients it writes are never
stepped on), and the run ends with the last finished epoch's ``last.pt``, as on any interrupt.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

SLICE_S = 0.1


class BackwardThread:
    """Runs ``fn()`` calls one at a time in one daemon thread (one thread for the whole run:
    each new thread would start its own OpenMP team)."""

    def __init__(self):
        self.jobs: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.broken = False
        threading.Thread(target=self._work, daemon=True, name="cspdet-backward").start()

    def _work(self) -> None:
        while True:
            fn = self.jobs.get()
            try:
                fn()
                self.results.put(None)
            except BaseException as e:  # re-raised in the caller's thread
                self.results.put(e)

    def run(self, fn: Callable[[], object]) -> None:
        """``fn()`` in the thread; returns when it is done, raises what it raised. An interrupt
        while waiting propagates at once and leaves this object unusable (``broken``)."""
        if self.broken:
            raise RuntimeError("BackwardThread: a call was interrupted; make a new one")
        self.jobs.put(fn)
        try:
            while True:
                try:
                    error = self.results.get(timeout=SLICE_S)
                    break
                except queue.Empty:
                    continue
        except BaseException:
            self.broken = True
            raise
        if error is not None:
            raise error


def backward(loss, worker: BackwardThread | None) -> None:
    """``loss.backward()``, in ``worker`` when given (one-process runs from the main thread)."""
    if worker is None:
        loss.backward()
    else:
        worker.run(loss.backward)


_SHARED: BackwardThread | None = None


def shared_thread() -> BackwardThread:
    """The process's one BackwardThread (a new one after an interrupted call): every run in a
    process reuses it instead of leaving an idle thread and its OpenMP team behind per run."""
    global _SHARED
    if _SHARED is None or _SHARED.broken:
        _SHARED = BackwardThread()
    return _SHARED

"""A frame-rate cap that sleeps: the power budget of ``--max-fps``.

A loop capped at N frames per second does its work, then sleeps until the next 1/N slot, so the
CPU idles (and its clocks drop) for the rest of each period instead of spinning; the share of
time spent working, the duty cycle, is what a battery pays for. A loop that falls behind is not
made to catch up with a burst: the schedule restarts from now.
"""
from __future__ import annotations

import time
from typing import Callable


class Pacer:
    """``wait()`` once per frame, after its work; ``line()`` reports the pace and the duty cycle.

    ``max_fps``: None or 0 for no cap (``wait`` only counts). A sleep is cut into slices of at
    most 0.1 s and ends early once ``cancel()`` is true, so Ctrl-C is never held up by a slow
    pace. ``clock``/``sleep`` are injectable for tests; the defaults are ``time.monotonic`` and
    ``time.sleep``.
    """

    def __init__(self, max_fps: float | None, cancel: Callable[[], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if max_fps is not None and max_fps < 0:
            raise ValueError(f"--max-fps must be positive, got {max_fps:g}")
        self.period = 1.0 / max_fps if max_fps else 0.0
        self.cancel, self.clock, self._sleep = cancel, clock, sleep
        self.start = self.next = None
        self.frames, self.slept = 0, 0.0

    def begin(self) -> None:
        """Start the clock (else the first ``wait`` does): the first frame's slot ends a period later."""
        self.start = self.next = self.clock()

    def wait(self) -> None:
        """Sleep until the next frame's slot (none without a cap)."""
        if self.start is None:
            self.begin()
        now = self.clock()
        self.frames += 1
        if not self.period:
            return
        self.next += self.period
        if self.next <= now:  # behind: no burst to catch up
            self.next = now
            return
        while now < self.next and not (self.cancel is not None and self.cancel()):
            self._sleep(min(self.next - now, 0.1))
            later = self.clock()
            self.slept += later - now
            now = later

    @property
    def wall(self) -> float:
        return 0.0 if self.start is None else max(self.clock() - self.start, 0.0)

    @property
    def duty_cycle(self) -> float:
        """Share of the run's wall time spent working, not sleeping (1.0 without a cap)."""
        wall = self.wall
        return 1.0 if wall <= 0 else max(0.0, 1.0 - self.slept / wall)

    def line(self) -> str:
        """'paced to 5 fps: 4.9 fps, duty cycle 23% (slept 7.7 s of 10.0 s)'."""
        if not self.period:
            return ""
        wall = self.wall
        fps = (self.frames - 1) / wall if wall > 0 and self.frames > 1 else 0.0
        return (f"paced to {1 / self.period:g} fps: {fps:.1f} fps, duty cycle {100 * self.duty_cycle:.0f}% "
                f"(slept {self.slept:.1f} s of {wall:.1f} s)")

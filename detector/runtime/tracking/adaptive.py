"""Key-frame tracking: the detector runs on the frames ``KeyFrames`` asks for; on the others the
tracks are moved by the Kalman filter (and, with ``flow``, corrected by sparse optical flow).

On video where little changes from frame to frame this spends a fraction of the compute of a
detector call per frame (Zhang et al.'s frame skipping with tracking reports 5-7x on CPU for
about -2.6 MOTA). ``docs/power.md`` has the measurements on the synthetic clips.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from ..pipeline import StreamItem, prefetch
from ..results import Results
from ..sources import Frame
from . import kalman
from .keyframes import REASONS, FlowCorrection, KeyFramePolicy, KeyFrames
from .session import TrackSession


@dataclass
class AdaptiveStats:
    """What a key-frame run did: frames seen, detector calls, why each call was made, and the
    input sizes the calls ran at."""

    frames: int = 0
    calls: int = 0
    reasons: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)

    @property
    def propagated(self) -> int:
        return self.frames - self.calls

    def line(self) -> str:
        """'adaptive: 120 frames, 30 detector calls (25%), 90 propagated; key frames: interval 12, ...'."""
        share = 100 * self.calls / max(self.frames, 1)
        why = ", ".join(f"{r} {self.reasons[r]}" for r in REASONS if self.reasons[r])
        sizes = ", ".join(f"{n}x{s}" for s, n in sorted(self.sizes.items()))
        return (f"adaptive: {self.frames} frames, {self.calls} detector calls ({share:.0f}%), {self.propagated} "
                f"propagated; key frames: {why or 'none'}" + (f"; detector sizes {sizes}" if len(self.sizes) > 1 else ""))


class AdaptiveTracker:
    """``tracker(img, frame_no)`` per frame of one sequence, in order -> Results with track ``ids``.

    ``det``: a runtime ``Detector``; ``session``: the ``TrackSession`` that holds the tracker and
    writes its files; ``policy``: the key-frame thresholds; ``flow``: correct propagated boxes by
    optical flow. ``small_size``: on a dynamic-shape backend, the input size of key frames whose
    tracked objects all stay at least ``min_side`` pixels on its side, when the frame was keyed
    only for the interval or the covariance (a new or moving object brings the full size back).
    """

    def __init__(self, det, session: TrackSession, policy: KeyFramePolicy | None = None, *, flow: bool = False,
                 small_size: int | None = None, min_side: int = 32):
        self.det, self.session = det, session
        self.keys = KeyFrames(policy)
        self.flow = FlowCorrection() if flow else None
        self.full = det.img_size
        self.small = None
        if small_size:
            if det.backend.input_size is not None:
                raise ValueError(f"--adaptive-size {small_size}: the model was exported for a fixed "
                                 f"{self.full[0]}x{self.full[1]} input; use a .pt, .yaml or .cfg model "
                                 "(Detector(..., dynamic=True) or backend='torch' from Python)")
            stride = max(det.backend.spec.strides)
            self.small = (-(-small_size // stride) * stride,) * 2
        self.min_side = min_side
        self.stats = AdaptiveStats()

    def __call__(self, img: np.ndarray, frame_no: int, path: str | None = None) -> Results:
        """One BGR frame [H, W, 3] -> its tracked boxes; ``speed`` has 'pre'/'inference'/'post' on key frames."""
        tracker = self.session.tracker
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        reason = self.keys.reason(grey, tracker)
        if self.flow is not None:
            self.flow.set_frame(grey)
        self.stats.frames += 1
        if reason is None:
            out = self.session.propagate(img, frame_no, path, self.flow)
            return dataclasses.replace(out, category_ids=self.det.category_ids)
        size = self._size(reason, tracker, img.shape[:2])
        self.det.img_size = size
        try:
            res = self.det.predict([img], [path] if path else None)[0]
        finally:
            self.det.img_size = self.full
        out = self.session.track(res, frame_no)
        self.keys.keyed(tracker, reason)
        self.stats.calls += 1
        self.stats.reasons[reason] += 1
        self.stats.sizes[size[0]] += 1
        return out

    def _size(self, reason: str, tracker, hw: tuple[int, int]) -> tuple[int, int]:
        """The small input size when every confirmed track stays large enough there, else the full one."""
        tracks = [t for t in tracker.active if t.id]
        if self.small is None or reason not in ("interval", "uncertainty") or not tracks:
            return self.full
        boxes = kalman.xyah_to_xyxy(np.stack([t.mean for t in tracks]))
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).min()
        return self.small if side * self.small[0] / max(hw) >= self.min_side else self.full


def adaptive_stream(adaptive: AdaptiveTracker, frames: Iterable[Frame], stride: int = 1, depth: int = 2,
                    cancel: Callable[[], bool] | None = None) -> Iterator[StreamItem]:
    """``detect_stream`` for key-frame tracking: frames are decoded ``depth`` ahead in a thread
    (not letterboxed: most are never inferred) and tracked in order; frame numbers are
    ``index * stride + 1`` as in ``TrackSession.wrap``."""
    for frame in prefetch(frames, lambda f: f, depth, cancel):
        if frame.error:
            yield StreamItem(frame, None)
            continue
        res = adaptive(frame.image, frame.index * stride + 1, frame.path)
        yield StreamItem(frame, res, res.speed.get("pre", 0.0), res.speed.get("inference", 0.0),
                         res.speed.get("post", 0.0))

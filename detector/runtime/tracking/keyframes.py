"""When to call the detector on video, and a cheap image step for the frames in between.

``KeyFrames`` looks at each frame on a small grey copy (a few hundred microseconds) and at the
tracker's state, and names the reason a frame must be a key frame, in order of cost:

- ``first``: nothing is known yet;
- ``interval``: K frames since the last detector call (``interval``);
- ``new track``: a track born at the last key frame with a score of at least ``new_score``
  waits for its second detection (ByteTrack confirms a track on its second hit; until then it has
  no velocity), ``new_gap`` frames later; a fainter one waits for the next key frame;
- ``uncertainty``: a track's predicted centre has a standard deviation above ``max_uncertainty``
  of its height (the Kalman covariance grows each frame without a match);
- ``scene``: the grey histogram moved more than ``scene_cut`` (Bhattacharyya distance) from the
  last key frame's: a cut, a camera turned, the light changed;
- ``motion``: grey levels changed by more than ``motion_level`` since the last key frame over
  more than ``motion_area`` of the frame outside every tracked box: an object entering, one
  coming out from behind something, one starting to move. At least ``motion_gap`` frames after
  the last key frame; when a call for motion found nothing new, the gap doubles (up to the
  interval) until one does, so motion the detector cannot explain (an object barely in the
  frame, one it misses) costs a few calls, not one every frame.

``FlowCorrection`` is the optional image step: OpenCV's pyramidal Lucas-Kanade flow of corner
points inside each track's previous box, checked forward and backward, moves the box by the
median displacement; the tracker takes that as a Kalman measurement.

Plain OpenCV calls: frame differencing, histograms and sparse flow are what every embedded video
pipeline uses here; no library packages the key-frame policy itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import kalman

# A 9 px window on two levels and at most 10 iterations: a sixth of OpenCV's default cost per point
LK = dict(winSize=(9, 9), maxLevel=1, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03))
REASONS = ("first", "interval", "new track", "uncertainty", "scene", "motion")


@dataclass
class KeyFramePolicy:
    """The thresholds of ``KeyFrames`` (defaults measured on the synthetic clips: docs/power.md)."""

    interval: int = 6
    max_uncertainty: float = 0.2
    scene_cut: float = 0.3
    motion_level: int = 16
    motion_area: float = 0.002
    motion_gap: int = 3
    new_gap: int = 1
    new_score: float = 0.25
    margin: float = 0.25
    work_width: int = 128

    def __post_init__(self):
        if self.interval < 1 or self.max_uncertainty <= 0 or not 0 < self.scene_cut <= 1:
            raise ValueError(f"key frames: need interval >= 1 (got {self.interval}), max_uncertainty > 0 "
                             f"(got {self.max_uncertainty}) and 0 < scene_cut <= 1 (got {self.scene_cut})")
        if not 0 <= self.motion_area <= 1 or self.motion_level < 1 or self.work_width < 16 \
                or self.motion_gap < 1 or self.new_gap < 1:
            raise ValueError(f"key frames: need 0 <= motion_area <= 1 (got {self.motion_area}), motion_level >= 1, "
                             f"work_width >= 16, motion_gap >= 1 and new_gap >= 1")


def small_grey(grey: np.ndarray, width: int) -> np.ndarray:
    """Grey [H, W] -> a blurred copy [h, width] (h keeps the aspect), what the checks compare."""
    h, w = grey.shape[:2]
    if w > width:
        grey = cv2.resize(grey, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(grey, (5, 5), 0)


def _hist(grey: np.ndarray) -> np.ndarray:
    return cv2.calcHist([grey], [0], None, [32], [0, 256])


class KeyFrames:
    """``reason(img, tracker)`` per frame -> why it must be a key frame, or None; call
    ``keyed(tracker)`` after the detector ran on it."""

    def __init__(self, policy: KeyFramePolicy | None = None):
        self.policy = policy or KeyFramePolicy()
        self.key = self.key_hist = None
        self.key_boxes = np.zeros((0, 4))
        self.since = 0
        self.motion_wait = self.policy.motion_gap
        self.grey = None
        self.scale = 1.0

    def reason(self, grey: np.ndarray, tracker) -> str | None:
        """The first reason (``REASONS`` order) this frame (grey [H, W]) needs the detector, else None."""
        p = self.policy
        self.grey = small_grey(grey, p.work_width)
        self.scale = self.grey.shape[1] / grey.shape[1]
        self.since += 1
        if self.key is None:
            return "first"
        if self.since >= p.interval:
            return "interval"
        if self.since >= p.new_gap and any(not t.id and t.score >= p.new_score for t in tracker.active):
            return "new track"
        unc = tracker.uncertainty()
        if len(unc) and float(unc.max()) > p.max_uncertainty:
            return "uncertainty"
        if cv2.compareHist(self.key_hist, _hist(self.grey), cv2.HISTCMP_BHATTACHARYYA) > p.scene_cut:
            return "scene"
        if self.since >= self.motion_wait and self.moving_area(tracker) > p.motion_area:
            return "motion"
        return None

    def moving_area(self, tracker) -> float:
        """Share of the small frame that changed since the last key frame outside every tracked
        box (the box at the key frame and the one predicted now, each grown by ``margin``)."""
        p = self.policy
        changed = cv2.absdiff(self.grey, self.key) > p.motion_level
        if not changed.any():
            return 0.0
        now = kalman.xyah_to_xyxy(np.stack([t.mean for t in tracker.active]) @ kalman._F.T) \
            if tracker.active else np.zeros((0, 4))
        h, w = changed.shape
        for x1, y1, x2, y2 in np.concatenate([self.key_boxes, now * self.scale]):
            mx, my = p.margin * (x2 - x1) + 1, p.margin * (y2 - y1) + 1
            changed[max(0, int(y1 - my)):max(0, int(np.ceil(y2 + my))),
                    max(0, int(x1 - mx)):max(0, int(np.ceil(x2 + mx)))] = False
        return float(changed.sum()) / (h * w)

    def keyed(self, tracker, reason: str) -> None:
        """Remember this frame and where the tracks stood after the detector's call for ``reason``."""
        if reason == "motion":
            found = any(not t.id and t.hits == 1 for t in tracker.active)
            self.motion_wait = self.policy.motion_gap if found else min(2 * self.motion_wait, self.policy.interval)
        elif reason in ("interval", "scene", "first"):
            self.motion_wait = self.policy.motion_gap
        self.key, self.key_hist, self.since = self.grey, _hist(self.grey), 0
        self.key_boxes = (kalman.xyah_to_xyxy(np.stack([t.mean for t in tracker.active])) * self.scale
                          if tracker.active else np.zeros((0, 4)))


class FlowCorrection:
    """``measure(prev_boxes, pred_boxes)`` for ``ByteTracker.propagate``: each track's box moved by
    the median Lucas-Kanade flow of corners inside it, between the previous frame and this one.
    ``set_frame(grey)`` first, every frame (key frames too). Frames wider than ``max_width`` are
    processed at that width."""

    def __init__(self, max_width: int = 320, points: int = 6, max_error: float = 1.0):
        self.max_width, self.points, self.max_error = max_width, points, max_error
        self.prev = self.grey = None
        self.scale = 1.0

    def set_frame(self, grey: np.ndarray) -> None:
        """This frame, grey [H, W]."""
        h, w = grey.shape[:2]
        self.scale = min(1.0, self.max_width / w)
        if self.scale < 1:
            grey = cv2.resize(grey, (self.max_width, max(1, round(h * self.scale))), interpolation=cv2.INTER_AREA)
        self.prev, self.grey = self.grey, grey

    def __call__(self, prev_boxes: np.ndarray, pred_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """prev_boxes, pred_boxes [T, 4] xyxy frame pixels -> (boxes [T, 4], valid [T] bool)."""
        valid = np.zeros(len(prev_boxes), bool)
        if self.prev is None or not len(prev_boxes):
            return pred_boxes, valid
        pts, owner = self._corners(prev_boxes * self.scale)
        if not len(pts):
            return pred_boxes, valid
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(self.prev, self.grey, pts, None, **LK)
        back, ok2, _ = cv2.calcOpticalFlowPyrLK(self.grey, self.prev, nxt, None, **LK)
        good = (ok[:, 0] == 1) & (ok2[:, 0] == 1) & (np.linalg.norm(back - pts, axis=2)[:, 0] < self.max_error)
        moved = (nxt - pts)[:, 0] / self.scale
        out = np.array(pred_boxes, np.float64)
        for i in range(len(prev_boxes)):
            sel = good & (owner == i)
            if sel.sum() >= 3:
                d = np.median(moved[sel], 0)
                out[i] = prev_boxes[i] + np.array([d[0], d[1], d[0], d[1]])
                valid[i] = True
        return out, valid

    def _corners(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Corner points [P, 1, 2] float32 in the central 70% of each box, and their box index [P]."""
        h, w = self.prev.shape
        pts, owner = [], []
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            dx, dy = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
            a, b = max(0, int(x1 + dx)), max(0, int(y1 + dy))
            c, d = min(w, int(np.ceil(x2 - dx))), min(h, int(np.ceil(y2 - dy)))
            if c - a < 4 or d - b < 4:
                continue
            found = cv2.goodFeaturesToTrack(self.prev[b:d, a:c], self.points, 0.01, 2)
            if found is not None:
                pts.append(found + np.array([a, b], np.float32))
                owner += [i] * len(found)
        if not pts:
            return np.zeros((0, 1, 2), np.float32), np.zeros(0, int)
        return np.concatenate(pts).astype(np.float32), np.array(owner)

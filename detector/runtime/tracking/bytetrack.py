"""ByteTrack (Zhang et al., 2022): match tracks to high-score boxes, then the tracks left to the
low-score boxes NMS kept, so an object whose score dips (occlusion, blur) keeps its ID.

The steps and defaults follow ultralytics' ``BYTETracker`` (its ``bytetrack.yaml``), so a
``track`` user gets the same behaviour; the Kalman filter runs on all tracks at once
(``kalman.py``) and the assignment is scipy's ``linear_sum_assignment``. Two changes: an ID is
given when a track is confirmed (second hit, or the first frame), so reported IDs run 1, 2, 3...
without gaps, and a track keeps its class votes, first and last frame for the summary.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...checks import NONNEGATIVE_INT, PROBABILITY
from ...geometry.boxes import box_iou
from . import kalman
from .assign import linear_assignment

TRACKED, LOST, REMOVED = "tracked", "lost", "removed"


@dataclass
class Track:
    """One object's track. ``hits``: frames matched; ``first``/``last``/``length``: the source
    frames it was reported in (from confirmation on) and how many; ``votes``: their classes."""

    mean: np.ndarray
    cov: np.ndarray
    box: np.ndarray
    score: float
    cls: int
    seen_at: int  # the tracker's own step of the last match (the buffer counts steps)
    id: int = 0
    det: int = -1  # its box's index in the frame being matched
    hits: int = 1
    first: int = 0
    last: int = 0
    length: int = 0
    state: str = TRACKED
    votes: Counter = field(default_factory=Counter)

    @property
    def label(self) -> int:
        """The class most of its boxes had (its boxes' class can flicker frame to frame)."""
        return self.votes.most_common(1)[0][0]


@dataclass
class Tracked:
    """One frame's tracked boxes: ``xyxy`` [T, 4], ``scores`` [T], ``class_ids`` [T], ``ids`` [T]."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    ids: np.ndarray


class ByteTracker:
    """``update(xyxy, scores, class_ids, frame)`` once per frame, in order -> ``Tracked``.

    ``track_buffer``: frames a lost track waits to be found again. ``high_thresh`` /
    ``low_thresh``: the two score bands; ``new_thresh``: the score that starts a track;
    ``match_thresh``: the largest 1 - IoU x score of a first-round match.
    """

    def __init__(self, *, track_buffer: int = 30, high_thresh: float = 0.25, low_thresh: float = 0.1,
                 new_thresh: float = 0.25, match_thresh: float = 0.8):
        track_buffer = NONNEGATIVE_INT(track_buffer, "track_buffer")
        high_thresh, low_thresh, new_thresh, match_thresh = (
            PROBABILITY(v, k) for k, v in (("high_thresh", high_thresh), ("low_thresh", low_thresh),
                                           ("new_thresh", new_thresh), ("match_thresh", match_thresh)))
        if not 0 <= low_thresh <= high_thresh <= 1 or not 0 < match_thresh <= 1 or track_buffer < 0:
            raise ValueError(f"tracker: need 0 <= low_thresh ({low_thresh}) <= high_thresh ({high_thresh}) <= 1, "
                             f"0 < match_thresh ({match_thresh}) <= 1 and track_buffer ({track_buffer}) >= 0")
        self.buffer, self.high, self.low = track_buffer, high_thresh, low_thresh
        self.new, self.match = new_thresh, match_thresh
        self.step, self.next_id = 0, 1
        self.active: list[Track] = []  # tracked, confirmed or not
        self.lost: list[Track] = []
        self.confirmed: dict[int, Track] = {}  # every track that got an ID, for the summary
        self.matched: list[Track] = []  # this frame's, until ``_correct``

    def update(self, xyxy, scores, class_ids, frame: int | None = None) -> Tracked:
        """Boxes [K, 4] xyxy, scores [K], class ids [K] of one frame -> the confirmed tracks it matched."""
        self.step += 1
        frame = self.step if frame is None else int(frame)
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        scores, classes = np.asarray(scores, np.float64).reshape(-1), np.asarray(class_ids).reshape(-1)
        high = np.flatnonzero(scores >= self.high)
        low = np.flatnonzero((scores >= self.low) & (scores < self.high))
        confirmed = [t for t in self.active if t.id]
        unconfirmed = [t for t in self.active if not t.id]
        pool = confirmed + self.lost
        self._predict(pool)
        det = (boxes, scores, classes)

        pairs, left, high_left = self._match(pool, det, high, self.match, fuse=True)
        self._apply(pool, pairs, det)
        still = [t for t in left if t.state == TRACKED]
        pairs, left, _ = self._match(still, det, low, 0.5, fuse=False)
        self._apply(still, pairs, det)
        for t in left:
            t.state = LOST
        pairs, left, high_left = self._match(unconfirmed, det, high_left, 0.7, fuse=True)
        self._apply(unconfirmed, pairs, det)
        for t in left:
            t.state = REMOVED
        born = [self._start(boxes[i], scores[i], classes[i]) for i in high_left if scores[i] >= self.new]
        self._correct(boxes)

        tracks = self.active + self.lost + born
        self.active = [t for t in tracks if t.state == TRACKED]
        self.lost = [t for t in tracks if t.state == LOST and self.step - t.seen_at <= self.buffer]
        for t in tracks:
            if t.state == REMOVED or t.state == LOST and self.step - t.seen_at > self.buffer:
                t.state, t.mean, t.cov = REMOVED, None, None  # the summary keeps the rest, not the filter
        for t in tracks:
            if t.state == TRACKED and not t.id and (self.step == 1 or t.hits > 1):
                t.id, self.next_id = self.next_id, self.next_id + 1
                self.confirmed[t.id] = t
        out = [t for t in self.active if t.id and t.seen_at == self.step]
        for t in out:
            t.first, t.last, t.length = t.first if t.length else frame, frame, t.length + 1
            t.votes[t.cls] += 1
        return Tracked(np.array([t.box for t in out], np.float32).reshape(-1, 4),
                       np.array([t.score for t in out], np.float32), np.array([t.cls for t in out], np.int64),
                       np.array([t.id for t in out], np.int64))

    def _predict(self, tracks: list[Track]) -> None:
        if not tracks:
            return
        mean = np.stack([t.mean for t in tracks])
        mean[[i for i, t in enumerate(tracks) if t.state != TRACKED], 7] = 0  # a lost box keeps its height
        mean, cov = kalman.predict(mean, np.stack([t.cov for t in tracks]))
        for t, m, c in zip(tracks, mean, cov):
            t.mean, t.cov = m, c

    def _match(self, tracks: list[Track], det, idx: np.ndarray, thresh: float, fuse: bool):
        """-> ([(track, det index)], tracks left, det indices left); cost 1 - IoU (x score if ``fuse``)."""
        if not tracks or not len(idx):
            return [], list(tracks), idx
        boxes, scores = det[0], det[1]
        iou = box_iou(kalman.xyah_to_xyxy(np.stack([t.mean for t in tracks])), boxes[idx])
        cost = 1 - (iou * scores[idx][None] if fuse else iou)
        rows, cols = linear_assignment(cost, thresh)
        taken_r, taken_c = set(rows.tolist()), set(cols.tolist())
        return ([(tracks[r], int(idx[c])) for r, c in zip(rows, cols)],
                [t for i, t in enumerate(tracks) if i not in taken_r],
                np.array([d for j, d in enumerate(idx) if j not in taken_c], np.int64))

    def _apply(self, tracks: list[Track], pairs, det) -> None:
        """Give each matched track its box; the Kalman correction waits for ``_correct``, as the
        three rounds match disjoint tracks."""
        boxes, scores, classes = det
        for t, d in pairs:
            t.box, t.score, t.cls, t.det = boxes[d], float(scores[d]), int(classes[d]), d
            t.state, t.seen_at, t.hits = TRACKED, self.step, t.hits + 1
        self.matched += [t for t, _ in pairs]

    def _correct(self, boxes: np.ndarray) -> None:
        """Kalman-correct this frame's matched tracks with their boxes, all in one batch."""
        tracks, self.matched = self.matched, []
        if tracks:
            mean, cov = kalman.update(np.stack([t.mean for t in tracks]), np.stack([t.cov for t in tracks]),
                                      kalman.xyxy_to_xyah(boxes[[t.det for t in tracks]]))
            for t, m, c in zip(tracks, mean, cov):
                t.mean, t.cov = m, c

    def _start(self, box, score, cls) -> Track:
        mean, cov = kalman.initiate(kalman.xyxy_to_xyah(box[None]))
        return Track(mean[0], cov[0], box, float(score), int(cls), self.step)

    def summary(self, min_len: int = 1) -> list[Track]:
        """Every track reported in at least ``min_len`` frames, by ID (``id``, ``label``, ``first``,
        ``last``, ``length``); a track still alive counts up to the last frame seen."""
        return [t for _, t in sorted(self.confirmed.items()) if t.length >= min_len]

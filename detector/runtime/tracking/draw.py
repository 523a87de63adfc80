"""Drawing tracks: a stable colour per ID (not per class), 'id class score' labels, trails."""
from __future__ import annotations

import colorsys
from collections import deque

import cv2
import numpy as np

from ..draw import draw_detections


def id_colour(track_id: int) -> tuple[int, int, int]:
    """BGR colour of an ID: hues a golden-ratio step apart, so IDs close in number look different."""
    r, g, b = colorsys.hsv_to_rgb((int(track_id) * 0.618033988749895) % 1.0, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_tracks(img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, ids: np.ndarray,
                names: list[str], trails: dict[int, np.ndarray] | None = None, line_width: int | None = None,
                labels: bool = True) -> np.ndarray:
    """Draw tracked boxes [T, 4] xyxy labelled 'id:N name score' and, when given, each ID's trail
    (centres [P, 2], oldest first) onto ``img`` in place."""
    lw = line_width or max(round(sum(img.shape[:2]) / 2 * 0.003), 2)
    for tid, pts in (trails or {}).items():
        if len(pts) > 1:
            cv2.polylines(img, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], False, id_colour(tid),
                          max(lw - 1, 1), cv2.LINE_AA)
    tagged = [f"id:{int(t)} {names[c] if 0 <= c < len(names) else c}" for t, c in zip(ids, class_ids)]
    return draw_detections(img, boxes, scores, class_ids, names, line_width, labels,
                           colours=[id_colour(t) for t in ids], texts=tagged)


class Trails:
    """The last ``length`` centres of each ID; an ID unseen for ``length`` frames is forgotten."""

    def __init__(self, length: int = 30):
        self.length, self.points, self.seen, self.step = length, {}, {}, 0

    def update(self, boxes: np.ndarray, ids: np.ndarray) -> dict[int, np.ndarray]:
        """Add this frame's boxes [T, 4] -> {id: centres [P, 2]} for the IDs in this frame."""
        self.step += 1
        for (x1, y1, x2, y2), tid in zip(np.asarray(boxes, np.float64), ids):
            self.points.setdefault(int(tid), deque(maxlen=self.length)).append(((x1 + x2) / 2, (y1 + y2) / 2))
            self.seen[int(tid)] = self.step
        for tid in [t for t, s in self.seen.items() if self.step - s >= self.length]:
            del self.points[tid], self.seen[tid]
        return {int(t): np.array(self.points[int(t)]) for t in ids}

"""One image's detections in original-image pixels, with the ways users consume them."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .draw import draw_detections


@dataclass
class Results:
    """``xyxy`` [K, 4] float32 original-image pixels, ``scores`` [K], ``class_ids`` [K] int,
    best score first; ``names`` maps class ids to names; ``speed`` holds pre/inference/post ms.
    From tracking, ``ids`` [K] holds each box's track ID and ``trails`` the ID's recent centres."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: list[str]
    orig_img: np.ndarray | None = None
    path: str | None = None
    speed: dict[str, float] = field(default_factory=dict)
    ids: np.ndarray | None = None
    trails: dict[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def labels(self) -> list[str]:
        return [self.names[c] if 0 <= c < len(self.names) else str(c) for c in self.class_ids]

    def plot(self, img: np.ndarray | None = None, line_width: int | None = None, labels: bool = True) -> np.ndarray:
        """A copy of the image (or ``img``) with the detections drawn, BGR uint8."""
        base = img if img is not None else self.orig_img
        if base is None:
            raise ValueError("Results.plot: no image kept with these results; pass img=")
        if self.ids is not None:
            from .tracking.draw import draw_tracks

            return draw_tracks(base.copy(), self.xyxy, self.scores, self.class_ids, self.ids, self.names,
                               self.trails, line_width, labels)
        return draw_detections(base.copy(), self.xyxy, self.scores, self.class_ids, self.names, line_width, labels)

    def summary(self) -> str:
        """'2 person, 1 car' (or 'no detections')."""
        counts = Counter(self.labels)
        return ", ".join(f"{n} {name}" for name, n in counts.most_common()) or "no detections"

    def yolo_lines(self, shape: tuple[int, int], save_conf: bool = False) -> list[str]:
        """YOLO-format label lines 'class cx cy w h [conf]', normalised by the image ``shape`` (h, w)."""
        h, w = shape[:2]
        lines = []
        for (x1, y1, x2, y2), s, c in zip(self.xyxy, self.scores, self.class_ids):
            vals = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
            line = f"{int(c)} " + " ".join(f"{v:.6f}" for v in vals)
            lines.append(line + (f" {s:.6f}" if save_conf else ""))
        return lines

    def coco(self, image_id, category_ids: list[int] | None = None) -> list[dict]:
        """COCO results-format dicts: image_id, category_id, bbox [x, y, w, h], score."""
        out = []
        for (x1, y1, x2, y2), s, c in zip(self.xyxy.tolist(), self.scores.tolist(), self.class_ids.tolist()):
            cat = category_ids[c] if category_ids else int(c)
            out.append({"image_id": image_id, "category_id": cat,
                        "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                        "score": round(s, 5)})
        return out

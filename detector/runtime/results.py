"""One image's detections in original-image pixels, with the ways users consume them."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.coco import category_ids_for, numeric_stem
from .draw import draw_detections


@dataclass
class Results:
    """``xyxy`` [K, 4] float32 original-image pixels, ``scores`` [K], ``class_ids`` [K] int,
    best score first; ``names`` maps class ids to names, ``category_ids`` to COCO category ids
    (see ``to_coco``); ``speed`` holds pre/inference/post ms. From tracking, ``ids`` [K] holds
    each box's track ID and ``trails`` the ID's recent centres."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: list[str]
    orig_img: np.ndarray | None = None
    path: str | None = None
    speed: dict[str, float] = field(default_factory=dict)
    category_ids: list[int] | None = None
    ids: np.ndarray | None = None
    trails: dict[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        """One line: 'Results(3 boxes: 2 circle, 1 square; image 360x640; 4 classes: circle, ...)'."""
        shape = "x".join(map(str, self.orig_img.shape[:2])) if self.orig_img is not None else "not kept"
        names = ", ".join(self.names[:4]) + (", ..." if len(self.names) > 4 else "")
        tracked = f"; {len(set(self.ids.tolist()))} track IDs" if self.ids is not None else ""
        where = f"; {Path(self.path).name}" if self.path else ""
        return (f"Results({len(self)} boxes: {self.summary()}{tracked}; image {shape}; "
                f"{len(self.names)} classes: {names}{where})")

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

    def crops(self, img: np.ndarray | None = None, gain: float = 1.02, pad: int = 10) -> list[np.ndarray]:
        """Each box cut from the image (or ``img``) as yolov5's ``--save-crop`` cuts it: width and
        height x ``gain`` + ``pad`` px about the centre, clipped to the image -> [K] BGR arrays."""
        base = img if img is not None else self.orig_img
        if base is None:
            raise ValueError("Results.crops: no image kept with these results; pass img=")
        h, w = base.shape[:2]
        centre = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        half = ((self.xyxy[:, 2:] - self.xyxy[:, :2]) * gain + pad) / 2
        boxes = np.concatenate([centre - half, centre + half], 1).astype(np.int64)  # truncated, as yolov5
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return [base[y1:y2, x1:x2].copy() for x1, y1, x2, y2 in boxes]

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

    def to_coco(self, image_id: int | None = None, category_ids: Sequence[int] | None = None) -> list[dict]:
        """COCO results-format dicts: image_id, category_id, bbox [x, y, w, h], score.

        Ids follow ``data.coco``'s one rule: class c is ``category_ids[c]`` (default: the ids
        the Detector found for the model, else ``category_ids_for(names)``); ``image_id``
        (an int) defaults to the number of a numeric file stem (COCO's 000000000139.jpg: 139).
        """
        if image_id is None:
            image_id = numeric_stem(Path(self.path).stem) if self.path else None
            if image_id is None:
                raise ValueError(f"Results.to_coco: pass image_id= (an int); {self.path or 'an array'} "
                                 "has no numeric file stem to take it from")
        if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer)):
            raise ValueError(f"Results.to_coco: image_id must be an int, got {image_id!r}")
        ids = next((i for i in (category_ids, self.category_ids) if i is not None), None)
        ids = category_ids_for(self.names) if ids is None else list(ids)
        out = []
        for (x1, y1, x2, y2), s, c in zip(self.xyxy.tolist(), self.scores.tolist(), self.class_ids.tolist()):
            out.append({"image_id": int(image_id), "category_id": int(ids[c]),
                        "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                        "score": round(s, 5)})
        return out

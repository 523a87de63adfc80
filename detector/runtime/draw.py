"""Drawing detections and overlays on BGR images (OpenCV only)."""
from __future__ import annotations

import cv2
import numpy as np

# A fixed, well-separated palette (BGR) so a class keeps its colour across frames and runs.
PALETTE = np.array([
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
    (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
    (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203),
    (200, 149, 255), (199, 55, 255)], dtype=np.uint8)


def color(class_id: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in PALETTE[int(class_id) % len(PALETTE)])


def draw_detections(img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                    names: list[str], line_width: int | None = None, labels: bool = True,
                    colours: list | None = None, texts: list[str] | None = None) -> np.ndarray:
    """Draw boxes [K, 4] xyxy (image pixels) with 'name score' labels onto ``img`` in place;
    ``colours`` / ``texts`` [K] replace the class colour and name (tracks colour by ID). Every
    label lies inside the image, and none covers another (``label_spot``); boxes are drawn
    first, so no box line crosses a label."""
    lw = line_width or max(round(sum(img.shape[:2]) / 2 * 0.003), 2)
    font_scale, thickness = lw / 3, max(lw - 1, 1)
    boxes = boxes.round().astype(int)
    tints = [colours[k] if colours is not None else color(cid) for k, cid in enumerate(class_ids)]
    for (x1, y1, x2, y2), c in zip(boxes, tints):
        cv2.rectangle(img, (x1, y1), (x2, y2), c, lw, cv2.LINE_AA)
    if not labels:
        return img
    taken: list[tuple[int, int, int, int]] = []
    for k, (box, score, cid) in enumerate(zip(boxes, scores, class_ids)):
        name = texts[k] if texts is not None else names[cid] if 0 <= cid < len(names) else str(cid)
        text = f"{name} {score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        x, y = label_spot((tw, th + base), box, img.shape[:2], taken)
        taken.append((x, y, x + tw, y + th + base))
        cv2.rectangle(img, (x, y), (x + tw, y + th + base), tints[k], -1, cv2.LINE_AA)
        cv2.putText(img, text, (x, y + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
    return img


def label_spot(size: tuple[int, int], box, shape: tuple[int, int], taken: list) -> tuple[int, int]:
    """Top-left corner of a label of ``size`` (w, h) for ``box`` (x1, y1, x2, y2) in an image of
    ``shape`` (h, w): above the box, else inside its top, below it, inside its bottom, whichever
    first covers no label in ``taken`` (x1, y1, x2, y2); else moved down from the first spot until
    it is free. Always inside the image."""
    (tw, th), (h, w) = size, shape
    x1, y1, x2, y2 = (int(v) for v in box)
    x = min(max(x1, 0), max(w - tw, 0))

    def inside(y: int) -> int:
        return min(max(y, 0), max(h - th, 0))

    def free(y: int) -> bool:
        return all(x + tw <= a or a2 <= x or y + th <= b or b2 <= y for a, b, a2, b2 in taken)

    spots = [inside(y) for y in (y1 - th, y1, y2, y2 - th)]
    for y in spots + list(range(spots[0], h - th + 1, max(th // 2, 1))):
        if free(y):
            return x, y
    return x, spots[0]


def draw_fps(img: np.ndarray, fps: float, extra: str = "") -> np.ndarray:
    """Top-left 'NN.N fps' overlay with a dark backing so it reads on any frame."""
    text = f"{fps:.1f} fps{'  ' + extra if extra else ''}"
    scale = max(img.shape[0] / 720, 0.5)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(img, (0, 0), (tw + 12, th + base + 12), (0, 0, 0), -1)
    cv2.putText(img, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), 2, cv2.LINE_AA)
    return img

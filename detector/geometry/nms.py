"""Greedy non-maximum suppression and YOLO post-processing in numpy (no torchvision needed)."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .boxes import box_iou, xywh2xyxy

# Up to this many candidates NMS works on one pairwise IoU matrix (2048^2 float64: 32 MB).
MATRIX_MAX = 2048


class Detections(NamedTuple):
    """One image's detections, best score first: boxes [K, 4] xyxy float32, scores [K] float32,
    class_ids [K] int64."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None,
        iou_thres: float = 0.45, max_det: int | None = None) -> np.ndarray:
    """Greedy NMS: indices [K'] (int64, best score first) of the boxes [K, 4] xyxy to keep.

    A box is dropped when its IoU with a better kept box is above ``iou_thres`` and, if
    ``class_ids`` [K] is given, both have the same class (class-aware, the same as running it
    per class). Equal scores keep input order. Stops at ``max_det`` boxes: later ones could
    only rank lower.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # float64: IoU ties stay ties
    scores = np.asarray(scores).reshape(-1)
    if len(scores) != len(boxes) or (class_ids is not None and len(class_ids) != len(boxes)):
        raise ValueError(f"nms: {len(boxes)} boxes, {len(scores)} scores"
                         + ("" if class_ids is None else f", {len(class_ids)} class_ids") + " must match")
    order = np.argsort(-scores, kind="stable")
    if len(order) <= MATRIX_MAX:
        return _nms_matrix(boxes, order, class_ids, iou_thres, max_det)
    keep = []
    while order.size and (max_det is None or len(keep) < max_det):
        i, rest = order[0], order[1:]
        keep.append(i)
        drop = box_iou(boxes[i:i + 1], boxes[rest])[0] > iou_thres
        if class_ids is not None:
            drop &= class_ids[rest] == class_ids[i]
        order = rest[~drop]
    return np.asarray(keep, dtype=np.int64)


def _nms_matrix(boxes: np.ndarray, order: np.ndarray, class_ids: np.ndarray | None, iou_thres: float,
                max_det: int | None) -> np.ndarray:
    """Greedy NMS over one pairwise IoU matrix of the boxes in score ``order``: the same boxes as
    one IoU row per kept box, several times faster for the few hundred candidates a frame has."""
    b = boxes[order]
    over = box_iou(b, b) > iou_thres
    if class_ids is not None:
        cls = np.asarray(class_ids)[order]
        over &= cls[:, None] == cls[None]
    removed = np.zeros(len(order), bool)
    keep = []
    for k in range(len(order)):
        if removed[k]:
            continue
        keep.append(order[k])
        if max_det is not None and len(keep) >= max_det:
            break
        removed |= over[k]  # earlier rows are settled already; only later ones can change
    return np.asarray(keep, dtype=np.int64)


def candidates(p: np.ndarray, conf_thres: float, classes: Sequence[int] | None,
               multi_label: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's decoded rows [N, 5 + nc] -> (rows [K] int, scores [K], class ids [K]) above
    ``conf_thres``, score = objectness * class probability."""
    keep = np.flatnonzero(p[:, 4] > conf_thres)  # score <= objectness: a cheap first cut
    keep = keep[np.isfinite(p[keep, :4]).all(1)]  # exp overflow: an infinite box is no detection
    scores = p[keep, 4:5] * p[keep, 5:]
    if multi_label:
        r, cls = np.nonzero(scores > conf_thres)
        score = scores[r, cls]
    else:
        cls = scores.argmax(1) if len(scores) else np.zeros(0, np.int64)
        score = scores[np.arange(len(cls)), cls]
        r = np.flatnonzero(score > conf_thres)
        cls, score = cls[r], score[r]
    if classes is not None:
        sel = np.isin(cls, np.asarray(classes))
        r, cls, score = r[sel], cls[sel], score[sel]
    return keep[r], score.astype(np.float32), cls.astype(np.int64)


def postprocess(pred: np.ndarray, conf_thres: float = 0.25, iou_thres: float = 0.45, max_det: int = 300,
                classes: Sequence[int] | None = None, agnostic: bool = False, multi_label: bool = False,
                max_nms: int = 30000) -> list[Detections]:
    """Decoded predictions [B, N, 5 + nc] (cx, cy, w, h, obj, class probs) -> per image
    Detections(boxes [K, 4] xyxy float32, scores [K], class_ids [K] int64), best first.

    Thresholds ``score > conf_thres`` first, keeps the ``max_nms`` best candidates, then runs
    greedy NMS (class-aware unless ``agnostic``) and keeps at most ``max_det``. With
    ``multi_label`` one row may yield a box for every class above the threshold.
    """
    pred = np.asarray(pred, dtype=np.float32)
    if pred.ndim != 3 or pred.shape[2] < 6:
        raise ValueError(f"postprocess: pred must be [B, N, 5 + num_classes], got shape {pred.shape}")
    if not (0 <= conf_thres <= 1 and 0 <= iou_thres <= 1):
        raise ValueError(f"postprocess: conf_thres={conf_thres} and iou_thres={iou_thres} must lie in [0, 1]")
    out = []
    for p in pred:
        rows, scores, cls = candidates(p, conf_thres, classes, multi_label)
        if len(scores) > max_nms:
            best = np.argsort(-scores, kind="stable")[:max_nms]
            rows, scores, cls = rows[best], scores[best], cls[best]
        boxes = xywh2xyxy(p[rows, :4])
        keep = nms(boxes, scores, None if agnostic else cls, iou_thres, max_det)
        out.append(Detections(boxes[keep], scores[keep], cls[keep]))
    return out

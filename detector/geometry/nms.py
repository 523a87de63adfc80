"""Greedy non-maximum suppression (IoU, or Darknet's DIoU-NMS), greedy non-maximum merging (tiles)
and YOLO post-processing in numpy (no torchvision needed)."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .boxes import PAIRWISE, box_iou, xywh2xyxy

# NMS takes candidates this many at a time: one BLOCK^2 overlap matrix each, and one row per box
# kept so far (32 MB of float64 at 30000 kept).
BLOCK = 128
# Darknet's [yolo] nms_kind values -> the overlap NMS compares (greedynms and default are IoU).
NMS_KINDS = {"iou": "iou", "greedynms": "iou", "default": "iou", "diou": "diou", "diounms": "diou"}


def nms_kind(kind: str) -> str:
    """``iou`` or ``diou`` for a kind name or a Darknet ``nms_kind`` value; ValueError otherwise."""
    if kind not in NMS_KINDS:
        raise ValueError(f"nms kind {kind!r}: choose from iou, diou (Darknet's greedynms, diounms)")
    return NMS_KINDS[kind]


class Detections(NamedTuple):
    """One image's detections, best score first: boxes [K, 4] xyxy float32, scores [K] float32,
    class_ids [K] int64."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None,
        iou_thres: float = 0.45, max_det: int | None = None, kind: str = "iou", beta: float = 1.0) -> np.ndarray:
    """Greedy NMS: indices [K'] (int64, best score first) of the boxes [K, 4] xyxy to keep.

    A box is dropped when its overlap with a better kept box is above ``iou_thres`` and, if
    ``class_ids`` [K] is given, both have the same class (class-aware, the same as running it
    per class). The overlap is IoU, or with ``kind="diou"`` Darknet's DIoU-NMS measure
    IoU - (rho^2 / c^2) ** ``beta`` (``boxes.box_diou``): a box whose centre lies far from the
    kept one survives a higher IoU, so neighbours in a crowd are kept. Equal scores keep input
    order. Stops at ``max_det`` boxes: later ones could only rank lower.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # float64: IoU ties stay ties
    scores = np.asarray(scores).reshape(-1)
    if len(scores) != len(boxes) or (class_ids is not None and len(class_ids) != len(boxes)):
        raise ValueError(f"nms: {len(boxes)} boxes, {len(scores)} scores"
                         + ("" if class_ids is None else f", {len(class_ids)} class_ids") + " must match")
    overlap = _overlap(boxes, nms_kind(kind), beta)
    order = np.argsort(-scores, kind="stable")
    return _nms_blocks(order, None if class_ids is None else np.asarray(class_ids).reshape(-1), iou_thres,
                       max_det, overlap)


def _nms_blocks(order: np.ndarray, class_ids, iou_thres: float, max_det: int | None, overlap) -> np.ndarray:
    """Greedy NMS over ``order`` (score order), ``BLOCK`` candidates at a time: the block's
    candidates that a box kept so far overlaps go, then a greedy pass over the block's own overlap
    matrix keeps the rest in turn. Exact (a candidate meets every better kept box, in the block or
    before it), and it stops computing at ``max_det`` kept boxes: at conf 0.001 a frame has
    thousands of candidates, of which only the best few hundred ever meet a kept box."""
    keep = np.zeros(0, np.int64)
    for start in range(0, len(order), BLOCK):
        head = order[start:start + BLOCK]
        if len(keep):
            hit = overlap(keep, head) > iou_thres
            if class_ids is not None:
                hit &= class_ids[keep][:, None] == class_ids[head][None]
            head = head[~hit.any(0)]
        left = None if max_det is None else max_det - len(keep)
        keep = np.concatenate([keep, _nms_matrix(head, class_ids, iou_thres, left, overlap)])
        if max_det is not None and len(keep) >= max_det:
            break
    return keep


def _overlap(boxes: np.ndarray, kind: str, beta: float):
    """A function (indices a [N], indices b [M]) -> overlaps [N, M] of ``boxes`` [K, 4] float64."""
    if kind == "diou":
        return lambda a, b: PAIRWISE["diou"](boxes[a], boxes[b], beta)
    return _IoUTable(boxes)


class _IoUTable:
    """``boxes.box_iou`` over rows of one box set, with its coordinates and areas taken once:
    the same float64 operations in the same order (so the same values, ties included), without
    converting and measuring every box again for every row NMS asks for."""

    def __init__(self, boxes: np.ndarray):
        self.x1, self.y1, self.x2, self.y2 = (np.ascontiguousarray(boxes[:, i]) for i in range(4))
        self.area = (self.x2 - self.x1).clip(0) * (self.y2 - self.y1).clip(0)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        iw = np.minimum(self.x2[a][:, None], self.x2[b][None]) - np.maximum(self.x1[a][:, None], self.x1[b][None])
        ih = np.minimum(self.y2[a][:, None], self.y2[b][None]) - np.maximum(self.y1[a][:, None], self.y1[b][None])
        inter = np.maximum(iw, 0, out=iw) * np.maximum(ih, 0, out=ih)
        union = self.area[a][:, None] + self.area[b][None] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _nms_matrix(order: np.ndarray, class_ids: np.ndarray | None, iou_thres: float, max_det: int | None,
                overlap) -> np.ndarray:
    """Greedy NMS over one pairwise overlap matrix of the boxes in score ``order``: the same boxes
    as one row per kept box, several times faster for the few hundred candidates a frame has."""
    over = overlap(order, order) > iou_thres
    np.fill_diagonal(over, False)  # DIoU of a box with itself is 1: harmless, but explicit
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


def greedy_nmm(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None,
               match_thres: float = 0.5, max_det: int | None = None, *, cut: np.ndarray | None = None,
               iou_thres: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum merging: boxes [K, 4] xyxy, scores [K] -> (kept indices [K'] int64,
    best score first; their merged boxes [K', 4] float32).

    In score order, each box not yet taken takes every later one of its class (all, without
    ``class_ids``) that it *matches*: intersection over the smaller box above ``match_thres``.

    Without ``cut`` this is SAHI's GREEDYNMM: the kept box grows, one taken box after another,
    into the union of itself and each match that still matches the grown box.

    With ``cut`` [K, 4] bool (the box touches an inner tile side: left, top, right, bottom), a
    match needs the smaller box to be cut (a part of the object, not a larger box around it),
    ``iou_thres`` adds plain NMS for the other pairs, and a kept box that was cut is extended
    across its cut sides only, as far as the best-scoring box it took reaches there: the object's part
    beyond a tile edge is all a neighbour can tell, and low-score boxes around an object (at
    ``conf_thres`` 0.001) then cannot inflate it. One overlap row per kept box (no K x K matrix):
    tiles at ``conf_thres`` 0.001 give tens of thousands of candidates.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores).reshape(-1)
    if len(scores) != len(boxes) or any(v is not None and len(v) != len(boxes) for v in (class_ids, cut)):
        raise ValueError(f"greedy_nmm: {len(boxes)} boxes, {len(scores)} scores must match (and class_ids, cut)")
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    is_cut = None if cut is None else np.asarray(cut, bool).reshape(-1, 4).any(1)
    keep, merged = [], []
    while order.size and (max_det is None or len(keep) < max_det):
        i, rest = order[0], order[1:]
        merge = PAIRWISE["ios"](boxes[i:i + 1], boxes[rest])[0] > match_thres
        if is_cut is not None:
            merge &= np.where(area[rest] <= area[i], is_cut[rest], is_cut[i])
        take = merge if iou_thres is None else merge | (box_iou(boxes[i:i + 1], boxes[rest])[0] > iou_thres)
        if class_ids is not None:
            same = class_ids[rest] == class_ids[i]
            take, merge = take & same, merge & same
        keep.append(i)
        # a cut box is pushed out by the best box it took, whether by overlap or by IoU
        merged.append(_grow(boxes, i, rest[merge if cut is None else take], match_thres,
                            None if cut is None else cut[i]))
        order = rest[~take]
    return np.asarray(keep, dtype=np.int64), np.asarray(merged, np.float32).reshape(-1, 4)


def _grow(boxes: np.ndarray, i: int, matches: np.ndarray, match_thres: float, sides) -> np.ndarray:
    """Box ``i`` merged with its ``matches`` (best first): the union with each that still matches
    (``sides`` None), else only its cut ``sides`` [4] pushed out to the best match's."""
    box = boxes[i].copy()
    if sides is None:
        for j in matches:  # as SAHI: re-checked against the box grown so far
            if PAIRWISE["ios"](box[None], boxes[j:j + 1])[0, 0] > match_thres:
                box[:2], box[2:] = np.minimum(box[:2], boxes[j, :2]), np.maximum(box[2:], boxes[j, 2:])
    elif len(matches) and sides.any():
        best = boxes[matches[0]]
        box[:2] = np.where(sides[:2], np.minimum(box[:2], best[:2]), box[:2])
        box[2:] = np.where(sides[2:], np.maximum(box[2:], best[2:]), box[2:])
    return box


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
                max_nms: int = 30000, nms_kind: str = "iou", beta_nms: float = 1.0) -> list[Detections]:
    """Decoded predictions [B, N, 5 + nc] (cx, cy, w, h, obj, class probs) -> per image
    Detections(boxes [K, 4] xyxy float32, scores [K], class_ids [K] int64), best first.

    Thresholds ``score > conf_thres`` first, keeps the ``max_nms`` best candidates, then runs
    greedy NMS (class-aware unless ``agnostic``; ``nms_kind`` iou or diou with ``beta_nms``, see
    ``nms``) and keeps at most ``max_det``. With ``multi_label`` one row may yield a box for
    every class above the threshold.
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
        keep = nms(boxes, scores, None if agnostic else cls, iou_thres, max_det, nms_kind, beta_nms)
        out.append(Detections(boxes[keep], scores[keep], cls[keep]))
    return out

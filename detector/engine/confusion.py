"""The detection confusion matrix yolov5's val saves, from COCO ground truth and result dicts."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..geometry.boxes import box_iou, ltwh2xyxy


def match_pairs(iou: np.ndarray, iou_thres: float) -> np.ndarray:
    """iou [G, D] -> matched (gt, detection) index pairs [K, 2]: pairs over ``iou_thres``, best
    IoU first, each detection and each ground truth used once (yolov5's order of uniquing)."""
    g, d = np.nonzero(iou > iou_thres)
    if not len(g):
        return np.zeros((0, 2), np.int64)
    m = np.stack([g, d, iou[g, d]], 1)
    m = m[np.argsort(-m[:, 2], kind="stable")]
    m = m[np.unique(m[:, 1], return_index=True)[1]]
    m = m[np.argsort(-m[:, 2], kind="stable")]
    m = m[np.unique(m[:, 0], return_index=True)[1]]
    return m[:, :2].astype(np.int64)


def confusion_matrix(gt: Mapping, detections: Sequence[Mapping], *, conf: float = 0.25,
                     iou_thres: float = 0.45) -> np.ndarray:
    """[nc + 1, nc + 1] counts, row = predicted class, column = true class, index nc the
    background, classes in ascending category id. Detections scoring over ``conf`` are matched
    to ground truths of any class at IoU > ``iou_thres`` (yolov5's defaults). Crowd regions are
    not objects: they count nowhere, nor do unmatched detections inside one (COCO ignores those).
    Unlike yolov5, an image whose detections match nothing still counts them as background."""
    ids = sorted(c["id"] for c in gt["categories"])
    index, nc = {c: i for i, c in enumerate(ids)}, len(ids)
    matrix = np.zeros((nc + 1, nc + 1), np.int64)
    gts: dict[int, list] = {im["id"]: [] for im in gt["images"]}
    for ann in gt["annotations"]:
        if ann["category_id"] in index and ann["image_id"] in gts:
            gts[ann["image_id"]].append(ann)
    dets: dict[int, list] = {}
    for d in detections:
        if d["score"] > conf and d["category_id"] in index:
            dets.setdefault(d["image_id"], []).append(d)
    for image_id, anns in gts.items():
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], bool)
        boxes = ltwh2xyxy([a["bbox"] for a in anns])
        true = np.array([index[a["category_id"]] for a in anns], np.int64)[~crowd]
        found = dets.get(image_id, [])
        pred = np.array([index[d["category_id"]] for d in found], np.int64)
        det_boxes = ltwh2xyxy([d["bbox"] for d in found])
        pairs = match_pairs(box_iou(boxes[~crowd], det_boxes), iou_thres)
        np.add.at(matrix, (pred[pairs[:, 1]], true[pairs[:, 0]]), 1)
        missed = np.setdiff1d(np.arange(len(true)), pairs[:, 0])
        np.add.at(matrix, (nc, true[missed]), 1)
        extra = np.setdiff1d(np.arange(len(pred)), pairs[:, 1])
        if crowd.any() and len(extra):
            extra = extra[(box_iou(det_boxes[extra], boxes[crowd], np.ones(crowd.sum(), bool)) < iou_thres).all(1)]
        np.add.at(matrix, (pred[extra], nc), 1)
    return matrix

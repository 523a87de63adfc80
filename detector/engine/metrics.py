"""Per-class precision / recall and AP in numpy, matched and interpolated the way COCOeval does it.

Matching (per image and class, detections best score first): a detection takes the unmatched
ground truth with the highest IoU >= ``iou_thres``; a detection that finds none but overlaps a
crowd region (IoU = intersection / detection area) by that much is ignored, neither TP nor FP.
AP is COCO's 101-point interpolation of the precision envelope, so at IoU 0.5 the mean over
classes equals pycocotools' AP50 (area "all", 100 detections), which the tests check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry.boxes import box_iou

RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def match_detections(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, gt_boxes: np.ndarray,
                     gt_classes: np.ndarray, iou_thres: float = 0.5,
                     gt_crowd: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One image: detections boxes [N, 4] xyxy, scores [N], classes [N] against ground truths
    gt_boxes [M, 4] xyxy, gt_classes [M] (gt_crowd [M] bool marks crowd regions).

    Returns (tp [N] bool, ignored [N] bool), in the detections' own order.
    """
    n = len(scores)
    gt_crowd = np.zeros(len(gt_classes), bool) if gt_crowd is None else np.asarray(gt_crowd, bool)
    tp, ignored = np.zeros(n, bool), np.zeros(n, bool)
    if n == 0 or len(gt_classes) == 0:
        return tp, ignored
    iou = box_iou(boxes, gt_boxes, gt_crowd)
    same = np.asarray(classes)[:, None] == np.asarray(gt_classes)[None]
    iou = np.where(same, iou, -1.0)
    taken = np.zeros(len(gt_classes), bool)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        free = np.where(~gt_crowd & ~taken, iou[i], -1.0)
        j = int(free.argmax())
        if free[j] >= iou_thres:
            tp[i], taken[j] = True, True
        elif gt_crowd.any() and iou[i][gt_crowd].max() >= iou_thres:
            ignored[i] = True
    return tp, ignored


def interpolated_precision(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Cumulative recall [n] and precision [n] (score order) -> precision [101] at RECALL_POINTS
    from the envelope (best precision at any higher recall); 0 beyond the last recall reached."""
    if len(recall) == 0:
        return np.zeros(len(RECALL_POINTS))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    return np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0)


@dataclass
class PRCurves:
    """Per class c (only classes with ground truth), in ``class_ids`` order:

    ``num_gt`` [C]; ``ap`` [C]; ``precision101`` [C, 101] interpolated precision at RECALL_POINTS
    (ap is its mean); ``curves[c]`` = (recall [n_c], precision [n_c], scores [n_c]) raw cumulative
    values over that class's detections, best score first.
    """

    class_ids: np.ndarray
    num_gt: np.ndarray
    ap: np.ndarray
    precision101: np.ndarray
    curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    iou_thres: float = 0.5

    @property
    def map(self) -> float:
        """Mean AP over classes with ground truth (0.0 when there are none)."""
        return float(self.ap.mean()) if len(self.ap) else 0.0

    def by_confidence(self, points: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(score thresholds [G] in [0, 1], precision [C, G], recall [C, G], f1 [C, G]): each
        class's curves against the score threshold, sampled as yolov5 does (precision 1 above a
        class's best score, recall 0)."""
        grid = np.linspace(0, 1, points)
        p, r = np.zeros((len(self.ap), len(grid))), np.zeros((len(self.ap), len(grid)))
        for c, (rec, prec, conf) in enumerate(self.curves):
            if len(conf):  # xp must increase for np.interp: scores fall along the curve
                r[c] = np.interp(-grid, -conf, rec, left=0)
                p[c] = np.interp(-grid, -conf, prec, left=1)
        return grid, p, r, 2 * p * r / np.maximum(p + r, 1e-16)

    def at_best_f1(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(conf, precision [C], recall [C], f1 [C]) at the score threshold that maximises the
        mean F1 over classes, smoothed by a box filter a tenth of the range wide (yolov5's)."""
        grid, p, r, f1 = self.by_confidence()
        best = int(smooth(f1.mean(0), 0.1).argmax()) if len(self.ap) else 0
        return float(grid[best]), p[:, best], r[:, best], f1[:, best]


def smooth(y: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """``y`` [n] averaged over a window of ``fraction`` * n (odd) points, its ends padded with
    the end values: yolov5's box filter."""
    nf = round(len(y) * fraction * 2) // 2 + 1
    pad = np.ones(nf // 2)
    return np.convolve(np.concatenate([pad * y[0], y, pad * y[-1]]), np.ones(nf) / nf, mode="valid")


def ap_per_class(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray,
                 iou_thres: float = 0.5) -> PRCurves:
    """Pooled detections over a data set, tp [N] bool, conf [N], pred_cls [N], and the classes of
    all non-crowd ground truths target_cls [M] -> PRCurves. Detections are ranked by score
    (stable: ties keep input order, as COCOeval's mergesort does)."""
    tp, conf, pred_cls = np.asarray(tp, bool), np.asarray(conf, np.float64), np.asarray(pred_cls)
    if not len(tp) == len(conf) == len(pred_cls):
        raise ValueError(f"ap_per_class: tp, conf, pred_cls lengths differ: {len(tp)}, {len(conf)}, {len(pred_cls)}")
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    classes, num_gt = np.unique(np.asarray(target_cls), return_counts=True)
    ap, p101, curves = np.zeros(len(classes)), np.zeros((len(classes), len(RECALL_POINTS))), []
    for c, (cls, n_gt) in enumerate(zip(classes, num_gt)):
        sel = pred_cls == cls
        tps = np.cumsum(tp[sel])
        fps = np.cumsum(~tp[sel])
        recall = tps / n_gt
        precision = tps / np.maximum(tps + fps, np.spacing(1))
        p101[c] = interpolated_precision(recall, precision)
        ap[c] = p101[c].mean()
        curves.append((recall, precision, conf[sel]))
    return PRCurves(classes, num_gt, ap, p101, curves, iou_thres)

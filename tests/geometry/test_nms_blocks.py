"""Blocked greedy NMS keeps exactly the boxes of the textbook one-row-per-kept-box
loop, over many random cases: ties, duplicates, zero-area boxes, IoU exactly at the threshold."""
import importlib

import numpy as np
import pytest

from detector.geometry.boxes import box_iou

nms_module = importlib.import_module("detector.geometry.nms")


def reference(boxes, scores, class_ids, iou_thres, max_det):
    boxes = np.asarray(boxes, np.float64)
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order and (max_det is None or len(keep) < max_det):
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if not (box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] > iou_thres
                                          and (class_ids is None or class_ids[i] == class_ids[j]))]
    return keep


def case(rng, n):
    """Boxes on a coarse grid (so exact ties of IoU, duplicates and zero-area boxes happen)."""
    xy = rng.integers(0, 40, (n, 2)) * 4.0
    wh = rng.integers(0, 12, (n, 2)) * 4.0  # zero width or height too
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.choice(np.linspace(0.05, 1, 12), n).astype(np.float32)  # many equal scores
    dup = rng.integers(0, n, n // 10)
    boxes[dup[1:]] = boxes[dup[0]]
    return boxes, scores, rng.integers(0, 3, n)


@pytest.mark.parametrize("seed", range(12))
def test_blocks_and_classes_keep_the_reference_boxes(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(nms_module, "BLOCK", int(rng.integers(2, 40)))
    boxes, scores, cls = case(rng, int(rng.integers(10, 300)))
    for thr in (0.0, 0.25, 0.5, 0.45, 1.0):  # 0.25 / 0.5: IoUs exactly at the threshold on this grid
        for c in (cls, None):
            for max_det in (None, 1, 7):
                got = nms_module.nms(boxes, scores, c, thr, max_det).tolist()
                assert got == reference(boxes, scores, c, thr, max_det), (thr, c is None, max_det)

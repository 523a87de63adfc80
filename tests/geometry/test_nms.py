"""NMS against a brute-force reference, and postprocess's thresholds, filters and formats."""
import importlib

import numpy as np
import pytest

from detector.geometry import Detections, box_iou, nms, postprocess, xywh2xyxy


def iou_py(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def brute_force_nms(boxes, scores, classes, thr):
    """Per class: take the best remaining box, drop every other one overlapping it above thr,
    repeat; then merge all classes by score (ties: lower index first)."""
    keep = []
    for c in sorted(set(classes)):
        todo = sorted((i for i in range(len(boxes)) if classes[i] == c), key=lambda i: (-scores[i], i))
        while todo:
            best = todo.pop(0)
            keep.append(best)
            todo = [i for i in todo if iou_py(boxes[best].tolist(), boxes[i].tolist()) <= thr]
    return sorted(keep, key=lambda i: (-scores[i], i))


def random_boxes(rng, n, spread=100.0):
    """Clustered boxes, so that many pairs overlap at every threshold."""
    centres = rng.uniform(0, spread, (4, 2))[rng.integers(0, 4, n)] + rng.normal(0, 8, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([centres - wh / 2, centres + wh / 2], 1).astype(np.float32)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("thr", [0.3, 0.45, 0.7])
def test_nms_equals_brute_force(seed, thr):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    boxes, scores = random_boxes(rng, n), rng.uniform(0, 1, n).astype(np.float32)
    classes = rng.integers(0, 3, n)
    keep = nms(boxes, scores, classes, thr)
    assert keep.dtype == np.int64
    assert keep.tolist() == brute_force_nms(boxes, scores, classes.tolist(), thr)
    agnostic = nms(boxes, scores, None, thr)
    assert agnostic.tolist() == brute_force_nms(boxes, scores, [0] * n, thr)
    assert len(agnostic) <= len(keep)
    assert nms(boxes, scores, classes, thr, max_det=5).tolist() == keep[:5].tolist()


@pytest.mark.parametrize("thr", [0.3, 0.7])
def test_the_matrix_and_the_row_strategies_keep_the_same_boxes(monkeypatch, thr):
    # Few candidates go through one IoU matrix, many through one IoU row per kept box.
    module = importlib.import_module("detector.geometry.nms")  # the package exports the function as nms

    rng = np.random.default_rng(7)
    n = 600
    boxes, scores = random_boxes(rng, n, spread=300.0), rng.uniform(0, 1, n).astype(np.float32)
    scores[::7] = scores[0]  # ties keep input order on both paths
    classes = rng.integers(0, 4, n)
    matrix = [module.nms(boxes, scores, c, thr, m) for c in (classes, None) for m in (None, 9)]
    monkeypatch.setattr(module, "BLOCK", 16)
    rows = [module.nms(boxes, scores, c, thr, m) for c in (classes, None) for m in (None, 9)]
    assert [k.tolist() for k in matrix] == [k.tolist() for k in rows]
    assert 50 < len(matrix[0]) < n


def test_nms_ties_keep_input_order_and_degenerate_boxes_are_harmless():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 20, 30], [20, 20, 20, 30]], np.float32)
    scores = np.array([0.5, 0.5, 0.9, 0.9], np.float32)
    assert nms(boxes, scores, None, 0.5).tolist() == [2, 3, 0]  # zero-area boxes overlap nothing
    assert np.isfinite(box_iou(boxes[2:3], boxes)).all()
    assert nms(np.zeros((0, 4)), np.zeros(0), None).tolist() == []
    with pytest.raises(ValueError, match="4 boxes, 3 scores"):
        nms(boxes, scores[:3])


def make_pred(rows, nc):
    """rows of (cx, cy, w, h, obj, {class: prob}) -> [1, N, 5 + nc]."""
    pred = np.zeros((1, len(rows), 5 + nc), np.float32)
    for i, (cx, cy, w, h, obj, probs) in enumerate(rows):
        pred[0, i, :5] = cx, cy, w, h, obj
        for c, p in probs.items():
            pred[0, i, 5 + c] = p
    return pred


def test_postprocess_scores_are_obj_times_class_and_thresholds_are_strict():
    pred = make_pred([(50, 50, 20, 10, 0.9, {1: 0.8}),     # 0.72
                      (200, 50, 20, 20, 0.9, {0: 0.2}),    # 0.18: objectness alone would pass
                      (300, 50, 10, 10, 0.5, {2: 0.5}),    # 0.25: equal to the threshold, dropped
                      (400, 50, 10, 10, 0.6, {2: 0.9})], 3)  # 0.54
    det = postprocess(pred, conf_thres=0.25)[0]
    assert isinstance(det, Detections)
    np.testing.assert_allclose(det.scores, [0.72, 0.54], rtol=1e-6)
    assert det.class_ids.tolist() == [1, 2] and det.class_ids.dtype == np.int64
    np.testing.assert_allclose(det.boxes, [[40, 45, 60, 55], [395, 45, 405, 55]])
    assert det.boxes.dtype == np.float32 and det.scores.dtype == np.float32
    only2 = postprocess(pred, conf_thres=0.25, classes=[2])[0]
    assert only2.class_ids.tolist() == [2]


def test_postprocess_class_aware_agnostic_and_multi_label():
    pred = make_pred([(50, 50, 20, 20, 0.9, {0: 0.9, 1: 0.5}),
                      (51, 50, 20, 20, 0.9, {1: 0.8}),
                      (52, 50, 20, 20, 0.9, {1: 0.7})], 2)
    aware = postprocess(pred, 0.1, 0.45)[0]
    assert aware.class_ids.tolist() == [0, 1]  # the third is a duplicate of the second, same class
    agnostic = postprocess(pred, 0.1, 0.45, agnostic=True)[0]
    assert agnostic.class_ids.tolist() == [0]
    alone = make_pred([(50, 50, 20, 20, 0.9, {0: 0.9, 1: 0.5})], 2)
    multi = postprocess(alone, 0.1, 0.45, multi_label=True)[0]
    assert multi.class_ids.tolist() == [0, 1] and np.allclose(multi.scores, [0.81, 0.45])
    np.testing.assert_array_equal(multi.boxes[0], multi.boxes[1])  # one row, a box per class
    assert postprocess(alone, 0.1, 0.45)[0].class_ids.tolist() == [0]
    assert postprocess(pred, 0.1, 0.45, max_det=1)[0].class_ids.tolist() == [0]


def test_postprocess_empty_results_and_bad_input():
    det = postprocess(np.zeros((2, 10, 7), np.float32))
    assert len(det) == 2
    assert det[0].boxes.shape == (0, 4) and det[0].scores.shape == (0,) and det[0].class_ids.shape == (0,)
    assert det[0].boxes.dtype == np.float32 and det[0].class_ids.dtype == np.int64
    with pytest.raises(ValueError, match=r"pred must be \[B, N, 5 \+ num_classes\]"):
        postprocess(np.zeros((10, 7)))
    with pytest.raises(ValueError, match="conf_thres"):
        postprocess(np.zeros((1, 10, 7)), conf_thres=2)


@pytest.mark.parametrize("seed", range(5))
def test_postprocess_equals_a_per_class_reference(seed):
    rng = np.random.default_rng(seed)
    n, nc = 300, 4
    xy = rng.uniform(0, 200, (n, 2))
    pred = np.concatenate([xy, rng.uniform(5, 60, (n, 2)), rng.uniform(0, 1, (n, 1 + nc))], 1)[None]
    pred = pred.astype(np.float32)
    det = postprocess(pred, conf_thres=0.3, iou_thres=0.5)[0]
    scores = pred[0, :, 4:5] * pred[0, :, 5:]
    cls, best = scores.argmax(1), scores.max(1)
    idx = np.flatnonzero(best > 0.3)
    boxes = xywh2xyxy(pred[0, idx, :4])
    keep = brute_force_nms(boxes, best[idx], cls[idx].tolist(), 0.5)
    np.testing.assert_array_equal(det.boxes, boxes[keep])
    np.testing.assert_array_equal(det.class_ids, cls[idx][keep])
    assert (np.diff(det.scores) <= 0).all()

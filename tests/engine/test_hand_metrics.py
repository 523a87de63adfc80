"""Precision, recall and AP on cases small enough to work out by hand, and the per-class table
and metrics.json that carry them: a swapped pair or an off-by-one shows as a wrong number here,
where a comparison of two implementations could drift together."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from detector.engine import ap_per_class, match_detections
from detector.engine.confusion import confusion_matrix, match_pairs
from detector.engine.report import class_rows, format_rows, summary
from detector.engine.validate import validate


def test_ap_per_class_by_hand():
    """Class 0: 4 objects; detections by score TP, FP, TP, TP -> recall 1/4, 1/4, 2/4, 3/4 and
    precision 1, 1/2, 2/3, 3/4. The envelope (best precision at any higher recall) is 1, 3/4,
    3/4, 3/4: COCO's 101 recall points 0.00..0.25 take 1 (26 points), 0.26..0.75 take 3/4 (50
    points; without the envelope 0.26..0.50 would take 2/3), 0.76..1 nothing: AP = 63.5 / 101.
    Class 1: 1 object found by its best detection, then an FP: AP 1."""
    tp = np.array([True, False, True, True, True, False])
    conf = np.array([0.9, 0.8, 0.7, 0.65, 0.6, 0.5])
    cls = np.array([0, 0, 0, 0, 1, 1])
    curves = ap_per_class(tp[::-1], conf[::-1], cls[::-1], np.array([0, 0, 0, 0, 1]))  # any input order
    assert curves.class_ids.tolist() == [0, 1] and curves.num_gt.tolist() == [4, 1]
    rec, prec, scores = curves.curves[0]
    np.testing.assert_allclose(rec, [1 / 4, 1 / 4, 2 / 4, 3 / 4])
    np.testing.assert_allclose(prec, [1, 1 / 2, 2 / 3, 3 / 4])
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.7, 0.65])
    np.testing.assert_allclose(curves.precision101[0, [0, 25, 26, 50, 51, 75, 76, 100]],
                               [1, 1, 3 / 4, 3 / 4, 3 / 4, 3 / 4, 0, 0])
    np.testing.assert_allclose(curves.ap, [63.5 / 101, 1.0])
    np.testing.assert_allclose(curves.curves[1][1], [1, 1 / 2])
    assert curves.map == pytest.approx((63.5 / 101 + 1) / 2)


def test_matching_by_hand():
    """One object of class 0 at [0, 0, 10, 10]; the best-scoring overlapping detection takes it
    even when a later one overlaps more; IoU exactly 0.5 counts; another class never matches."""
    gt, gt_cls = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float), np.array([0, 0])
    boxes = np.array([[0, 0, 10, 12],    # IoU 100/120: the first by score, takes object 0
                      [0, 0, 10, 10],    # IoU 1 with object 0, already taken: FP
                      [20, 0, 30, 20],   # IoU 100/200 = 0.5 exactly with object 1: TP
                      [0, 0, 10, 10]], float)  # class 1: no object of its class
    scores, cls = np.array([0.9, 0.8, 0.7, 0.95]), np.array([0, 0, 0, 1])
    tp, ignored = match_detections(boxes, scores, cls, gt, gt_cls, 0.5)
    assert tp.tolist() == [True, False, True, False] and not ignored.any()
    tp, _ = match_detections(boxes, scores, cls, gt, gt_cls, 0.51)
    assert tp.tolist() == [True, False, False, False]


def test_confusion_pairs_by_hand():
    """match_pairs: best IoU first, each detection and each object once."""
    iou = np.array([[0.9, 0.6, 0.0],
                    [0.8, 0.7, 0.0]])  # object 1's best (detection 0) is object 0's: it takes detection 1
    assert match_pairs(iou, 0.45).tolist() == [[0, 0], [1, 1]]
    assert match_pairs(iou, 0.75).tolist() == [[0, 0]]


def tiny_set():
    """One 100 x 100 image: class 'a' (id 1) has 2 objects, one found at IoU 100/190 = 0.53
    (score 0.9); class 'b' (id 2) has 4 objects, one found exactly (score 0.9), plus one 'b'
    detection on background as sure."""
    objects = [(1, [0, 0, 10, 10]), (1, [50, 0, 10, 10]),
               (2, [0, 50, 10, 10]), (2, [20, 50, 10, 10]), (2, [40, 50, 10, 10]), (2, [60, 50, 10, 10])]
    gt = {"images": [{"id": 7, "width": 100, "height": 100}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": [{"id": k + 1, "image_id": 7, "category_id": c, "bbox": b, "area": 100, "iscrowd": 0}
                          for k, (c, b) in enumerate(objects)]}
    dets = [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 19], "score": 0.9},
            {"image_id": 7, "category_id": 2, "bbox": [0, 50, 10, 10], "score": 0.9},
            {"image_id": 7, "category_id": 2, "bbox": [80, 80, 10, 10], "score": 0.9}]
    return gt, dets


def validated(gt: dict, dets: list[dict], tmp_path):
    """``engine.validate`` as ``cspdet val`` runs it, on a COCO JSON split of ``gt`` whose one
    batch the model answers with ``dets``."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(gt))
    ds = SimpleNamespace(records=[SimpleNamespace(image_id=im["id"]) for im in gt["images"]], annotations=path)
    metas = [SimpleNamespace(image_id=im["id"], error=None) for im in gt["images"]]
    return validate(lambda inputs, metas: [dict(d) for d in dets], [([None] * len(metas), metas)], ds)


def test_the_per_class_table_by_hand(tmp_path):
    """Every detection scores 0.9, so P and R are the same at any threshold under it: 'a' P 1,
    R 1/2; 'b' P 1/2, R 1/4. AP50: 'a' has precision 1 up to recall 1/2 = 51 of COCO's 101
    points, 'b' up to 1/4 = 26 points (its FP ranks after its TP: ties keep input order). AP
    over IoU 0.5:0.95: 'a' counts at 0.5 only (its IoU is 0.53), 1 of 10 thresholds; 'b' at all."""
    gt, dets = tiny_set()
    result = validated(gt, dets, tmp_path)
    assert (result.metrics["P"], result.metrics["R"]) == pytest.approx((0.75, 0.375))
    rows = class_rows(result)
    got = [(r.name, r.images, r.instances, r.P, r.R, r.AP50, r.AP) for r in rows]
    want = [("all", 1, 6, 0.75, 0.375, (51 / 101 + 26 / 101) / 2, (51 / 1010 + 26 / 101) / 2),
            ("a", 1, 2, 1.0, 0.5, 51 / 101, 51 / 1010), ("b", 1, 4, 0.5, 0.25, 26 / 101, 26 / 101)]
    for g, w in zip(got, want):
        assert g[:3] == w[:3] and g[3:] == pytest.approx(w[3:], abs=1e-9), (g, w)
    assert len(got) == len(want)
    text = format_rows(rows, per_class=True).splitlines()
    assert text[0].split()[3:5] == ["P", "R"]
    assert text[2].split()[:5] == ["a", "1", "2", "1", "0.5"] and text[3].split()[:5] == ["b", "1", "4", "0.5", "0.25"]
    body = json.loads(json.dumps(summary(result, rows, {"pre": 0, "inference": 0, "nms": 0})))
    assert (body["P"], body["R"]) == pytest.approx((0.75, 0.375))
    assert [(c["name"], c["P"], c["R"]) for c in body["classes"]] == [("a", 1.0, 0.5), ("b", 0.5, 0.25)]


def test_the_confusion_matrix_of_the_tiny_set():
    """Rows predicted a, b, background; columns true a, b, background."""
    gt, dets = tiny_set()
    assert confusion_matrix(gt, dets).tolist() == [[1, 0, 0], [0, 1, 1], [1, 3, 0]]

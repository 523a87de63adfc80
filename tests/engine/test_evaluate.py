"""COCO evaluation: YOLO -> COCO ground truth, pycocotools AP on known cases, our PR curve vs COCOeval."""
import json

import numpy as np
import pytest

from detector.engine import (PRCurves, ap_per_class, match_detections, category_ids_of, coco_evaluate, coco_gt_to_yolo,
                             detections_to_coco, format_table, plot_pr_curve, pr_curve, read_yolo_labels,
                             yolo_to_coco_gt)
from detector.geometry import Detections, letterbox, letterbox_boxes

SIZES = {1: (640, 480), 2: (500, 375), 3: (320, 320)}  # image_id: (width, height)


def make_boxes(seed=0, per_image=6, classes=3):
    """{image_id: (pixel boxes [K, 4] x, y, w, h, classes [K])}, sizes spread over small/medium/large
    and every class in every image."""
    rng = np.random.default_rng(seed)
    out = {}
    for image_id, (w, h) in SIZES.items():
        wh = rng.uniform(10, 0.6 * min(w, h), (per_image, 2))
        xy = rng.uniform(0, 1, (per_image, 2)) * (np.array([w, h]) - wh)
        out[image_id] = (np.concatenate([xy, wh], 1), rng.permutation(np.arange(per_image) % classes))
    return out


def to_items(boxes):
    """Pixel boxes -> YOLO items (labels normalised to each image)."""
    items = []
    for image_id, (b, cls) in boxes.items():
        w, h = SIZES[image_id]
        labels = np.stack([cls, (b[:, 0] + b[:, 2] / 2) / w, (b[:, 1] + b[:, 3] / 2) / h, b[:, 2] / w, b[:, 3] / h], 1)
        items.append({"image_id": image_id, "width": w, "height": h, "labels": labels, "file_name": f"{image_id}.jpg"})
    return items


def dets_from(boxes, shift=0.0, score=None):
    """One detection per GT box (category = class, the default numbering), shifted right by shift * width."""
    out = []
    for image_id, (b, cls) in boxes.items():
        for i, ((x, y, w, h), c) in enumerate(zip(b.tolist(), cls.tolist())):
            out.append({"image_id": image_id, "category_id": c, "bbox": [x + shift * w, y, w, h],
                        "score": score if score is not None else 0.9 - 0.01 * i})
    return out


def test_yolo_to_coco_round_trips_boxes():
    boxes = make_boxes()
    gt = yolo_to_coco_gt(to_items(boxes), names=["a", "b", "c"])
    assert [c["id"] for c in gt["categories"]] == [0, 1, 2] and gt["categories"][2]["name"] == "c"
    assert [(im["id"], im["width"], im["height"], im["file_name"]) for im in gt["images"]] == \
        [(i, w, h, f"{i}.jpg") for i, (w, h) in SIZES.items()]
    anns = gt["annotations"]
    expected = np.concatenate([b for b, _ in boxes.values()])
    np.testing.assert_allclose([a["bbox"] for a in anns], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose([a["area"] for a in anns], expected[:, 2] * expected[:, 3], rtol=1e-12)
    assert [a["category_id"] for a in anns] == np.concatenate([c for _, c in boxes.values()]).tolist()
    assert all(a["iscrowd"] == 0 for a in anns) and len({a["id"] for a in anns}) == len(anns)
    back = coco_gt_to_yolo(gt)
    for item, original in zip(back, to_items(boxes)):
        np.testing.assert_allclose(item["labels"], original["labels"], rtol=0, atol=1e-12)


def test_category_mapping_and_json_file(tmp_path):
    boxes = make_boxes(1)
    gt = yolo_to_coco_gt(to_items(boxes), category_ids=[1, 3, 90])
    assert category_ids_of(gt) == [1, 3, 90]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(gt))
    mapping = {0: 1, 1: 3, 2: 90}
    dets = [dict(d, category_id=mapping[d["category_id"]]) for d in dets_from(boxes)]
    stats = coco_evaluate(str(path), dets, table=False)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)


def test_perfect_detections_score_one_and_the_output_is_a_clean_table(capsys):
    boxes = make_boxes()
    stats = coco_evaluate(yolo_to_coco_gt(to_items(boxes)), dets_from(boxes))
    for key in ("AP", "AP50", "AP75", "AR100"):
        assert stats[key] == pytest.approx(1.0), key
    out = capsys.readouterr().out
    assert out == format_table(stats) + "\n"
    assert "AP50" in out and "Average Precision" not in out and "index" not in out


def test_shifted_boxes_score_lower():
    boxes = make_boxes()
    gt = yolo_to_coco_gt(to_items(boxes))
    # Shifted by 20% of the width: IoU = 0.8 / 1.2 = 0.67, a hit at 0.5 but a miss at 0.75.
    stats = coco_evaluate(gt, dets_from(boxes, shift=0.2), table=False)
    assert stats["AP50"] == pytest.approx(1.0)
    assert stats["AP75"] == pytest.approx(0.0)
    assert 0.0 < stats["AP"] < 1.0
    outside = [dict(d, bbox=[-d["bbox"][2] - 1, *d["bbox"][1:]]) for d in dets_from(boxes)]  # left of the image
    assert coco_evaluate(gt, outside, table=False)["AP50"] == 0.0


def test_zero_detections_give_zero_not_a_crash(capsys):
    gt = yolo_to_coco_gt(to_items(make_boxes()))
    stats = coco_evaluate(gt, [], verbose=False)
    assert stats["AP"] == 0.0 and stats["AP50"] == 0.0 and stats["AR100"] == 0.0
    assert "Loading" not in capsys.readouterr().out
    curves = pr_curve(gt, [])
    assert curves.map == 0.0 and len(curves.class_ids) == 3


def hand_case():
    """One class; image 1 holds GT A, image 2 GT B. Detections: A exactly (0.9), a miss in image 1
    (0.8), B exactly (0.7). Precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: the envelope is 1 up to
    recall 0.5 (51 of COCO's 101 points) and 2/3 above (50 points): AP = (51 + 100/3) / 101,
    at every IoU threshold since the hits are exact and the miss overlaps nothing."""
    items = [{"image_id": 1, "width": 100, "height": 100, "labels": [[0, 0.3, 0.3, 0.2, 0.2]]},
             {"image_id": 2, "width": 100, "height": 100, "labels": [[0, 0.5, 0.5, 0.4, 0.2]]}]
    dets = [{"image_id": 1, "category_id": 0, "bbox": [20, 20, 20, 20], "score": 0.9},
            {"image_id": 1, "category_id": 0, "bbox": [70, 70, 20, 20], "score": 0.8},
            {"image_id": 2, "category_id": 0, "bbox": [30, 40, 40, 20], "score": 0.7}]
    return yolo_to_coco_gt(items), dets, (51 + 100 / 3) / 101


def test_hand_computable_ap():
    gt, dets, expected = hand_case()
    stats = coco_evaluate(gt, dets, table=False)
    assert stats["AP50"] == pytest.approx(expected, abs=1e-9)
    assert stats["AP"] == pytest.approx(expected, abs=1e-9)
    curves = pr_curve(gt, dets)
    assert curves.ap.tolist() == pytest.approx([expected], abs=1e-12)
    recall, precision, scores = curves.curves[0]
    assert recall.tolist() == pytest.approx([0.5, 0.5, 1.0]) and precision.tolist() == pytest.approx([1, 0.5, 2 / 3])
    _, p, r, f1 = curves.at_best_f1()
    assert (p[0], r[0], f1[0]) == pytest.approx((2 / 3, 1.0, 0.8), abs=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_pr_curve_map_equals_cocoeval_ap50(seed):
    rng = np.random.default_rng(seed)
    boxes = make_boxes(seed, per_image=8, classes=4)
    gt = yolo_to_coco_gt(to_items(boxes), names=list("abcd"))
    # A crowd region in image 1 and a class with ground truth but no detections exercise the
    # cases where our matching could drift from COCOeval's.
    gt["annotations"].append({"id": 999, "image_id": 1, "category_id": 0, "bbox": [0, 0, 300, 300],
                              "area": 90000.0, "iscrowd": 1})
    dets = []
    for d in dets_from(boxes, score=0.0):
        x, y, w, h = d["bbox"]
        if rng.random() < 0.8 and d["category_id"] != 3:
            jitter = rng.normal(0, 0.15, 4) * [w, h, w, h]
            dets.append(dict(d, bbox=[x + jitter[0], y + jitter[1], w + jitter[2], h + jitter[3]], score=rng.random()))
        if rng.random() < 0.5:  # false positives, some landing in the crowd region
            dets.append(dict(d, bbox=rng.uniform(0, 250, 4).tolist(), score=rng.random(),
                             category_id=int(rng.integers(0, 3))))
    stats = coco_evaluate(gt, dets, table=False)
    curves = pr_curve(gt, dets)
    assert curves.class_ids.tolist() == [0, 1, 2, 3] and curves.ap[3] == 0.0
    assert curves.map == pytest.approx(stats["AP50"], abs=1e-12)
    ap75 = coco_evaluate(gt, dets, table=False)["AP75"]
    assert pr_curve(gt, dets, iou_thres=0.75).map == pytest.approx(ap75, abs=1e-12)
    subset = coco_evaluate(gt, dets, image_ids=[1, 3], table=False)["AP50"]
    assert subset != stats["AP50"] and pr_curve(gt, dets, image_ids=[1, 3]).map == pytest.approx(subset, abs=1e-12)


def test_matching_duplicates_and_crowd_regions():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [100, 100, 200, 200]], float)
    gt_cls, crowd = np.array([1, 1, 1]), np.array([False, False, True])
    boxes = np.array([[0, 0, 10, 10],       # GT 0 exactly
                      [0, 0, 10, 11],       # GT 0 again, lower score: a duplicate -> FP
                      [21, 21, 40, 40],     # GT 1
                      [110, 110, 150, 150], # inside the crowd region: ignored
                      [120, 120, 160, 160], # crowd regions match any number of times
                      [0, 0, 10, 10]], float)  # right place, wrong class -> FP
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.95])
    tp, ignored = match_detections(boxes, scores, np.array([1, 1, 1, 1, 1, 2]), gt_boxes, gt_cls, 0.5, crowd)
    assert tp.tolist() == [True, False, True, False, False, False]
    assert ignored.tolist() == [False, False, False, True, True, False]


def test_ap_per_class_direct_and_classes_without_ground_truth():
    # Class 7 has detections but no ground truth: COCO leaves it out of the mean, so do we.
    curves = ap_per_class(tp=[True, False, True], conf=[0.9, 0.8, 0.7], pred_cls=[1, 7, 1], target_cls=[1, 1, 1, 1])
    assert curves.class_ids.tolist() == [1] and curves.num_gt.tolist() == [4]
    # Recall 1/4 and 1/2 at precision 1: 51 of 101 points -> 51 / 101.
    assert curves.map == pytest.approx(51 / 101)


@pytest.mark.parametrize("classes", [3, 30])
def test_plot_pr_curve_writes_a_png(tmp_path, classes):
    boxes = make_boxes(2, per_image=40, classes=classes)
    gt = yolo_to_coco_gt(to_items(boxes), category_ids=list(range(classes)))
    curves = pr_curve(gt, dets_from(boxes, shift=0.3))
    path = tmp_path / "pr.png"
    plot_pr_curve(curves, path, names={i: f"class{i}" for i in range(classes)})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    plot_pr_curve(PRCurves(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 101))), tmp_path / "empty.png")


def test_detections_to_coco_undoes_the_letterbox():
    img = np.zeros((300, 500, 3), np.uint8)
    _, info = letterbox(img, 416)
    orig = np.array([[50.0, 60.0, 150.0, 200.0]])
    det = Detections(letterbox_boxes(orig, info), np.array([0.8], np.float32), np.array([4]))
    out = detections_to_coco([det], [7], infos=[info])
    assert out[0]["image_id"] == 7 and out[0]["category_id"] == 4 and out[0]["score"] == pytest.approx(0.8)
    assert out[0]["bbox"] == pytest.approx([50, 60, 100, 140], abs=1e-3)
    plain = detections_to_coco([Detections(orig, np.array([0.5]), np.array([0]))], [7], category_ids=[42])
    assert plain[0]["bbox"] == [50.0, 60.0, 100.0, 140.0] and plain[0]["category_id"] == 42


def test_read_yolo_labels(tmp_path):
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.3\n3 0.1 0.2 0.05 0.04\n")
    (tmp_path / "empty.txt").write_text("")
    assert read_yolo_labels(tmp_path / "a.txt").tolist() == [[0, 0.5, 0.5, 0.2, 0.3], [3, 0.1, 0.2, 0.05, 0.04]]
    assert read_yolo_labels(tmp_path / "empty.txt").shape == (0, 5)
    assert read_yolo_labels(tmp_path / "missing.txt").shape == (0, 5)
    (tmp_path / "bad.txt").write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(ValueError, match="columns"):
        read_yolo_labels(tmp_path / "bad.txt")


def test_mismatched_ids_are_refused_in_one_line():
    gt, dets, _ = hand_case()
    with pytest.raises(ValueError, match="image_id"):
        coco_evaluate(gt, [dict(dets[0], image_id=5)], table=False)
    with pytest.raises(ValueError, match="category_id"):
        coco_evaluate(gt, [dict(dets[0], category_id=7)], table=False)
    with pytest.raises(ValueError, match="class 2"):
        yolo_to_coco_gt([{"image_id": 1, "width": 10, "height": 10, "labels": [[2, 0.5, 0.5, 0.1, 0.1]]}], names=["a"])

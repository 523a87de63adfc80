"""What ``cspdet val`` reports beside COCO's table: the per-class rows, the confusion matrix, the
F1/P/R and confusion-matrix charts, yolov5's smoothing of the best-F1 threshold."""
import numpy as np
import pytest

from detector.engine import coco_eval, per_class_ap, plot_confusion_matrix, plot_metric_curve, pr_curve, yolo_to_coco_gt
from detector.engine.confusion import confusion_matrix
from detector.engine.evaluate import coco_stats, evaluable_gt
from detector.engine.metrics import smooth
from detector.engine.report import class_rows, format_rows, mean_speed, speed_line
from detector.engine.validate import Validation

from .test_evaluate import dets_from, make_boxes, to_items


def box(x, y, w=10, h=10):
    return [x, y, w, h]


def test_confusion_matrix_counts_hits_confusions_misses_and_background():
    gt = {"images": [{"id": i, "width": 200, "height": 200} for i in (1, 2, 3)],
          "categories": [{"id": 5, "name": "b"}, {"id": 0, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": box(0, 0), "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 5, "bbox": box(20, 20), "iscrowd": 0},
                          {"id": 3, "image_id": 1, "category_id": 0, "bbox": box(50, 50, 40, 40), "iscrowd": 1},
                          {"id": 4, "image_id": 2, "category_id": 5, "bbox": box(0, 0), "iscrowd": 0}]}
    dets = [{"image_id": 1, "category_id": 0, "bbox": box(0, 0), "score": 0.9},       # a as a
            {"image_id": 1, "category_id": 0, "bbox": box(20, 20), "score": 0.8},     # b taken for a
            {"image_id": 1, "category_id": 5, "bbox": box(60, 60), "score": 0.7},     # inside the crowd: nothing
            {"image_id": 1, "category_id": 5, "bbox": box(100, 100), "score": 0.6},   # b on background
            {"image_id": 1, "category_id": 5, "bbox": box(0, 0), "score": 0.1},       # under conf 0.25
            {"image_id": 3, "category_id": 0, "bbox": box(0, 0), "score": 0.5}]       # a where nothing is
    # rows predicted a, b, background; columns true a, b, background (image 2's b is missed)
    assert confusion_matrix(gt, dets).tolist() == [[1, 1, 1], [0, 0, 1], [0, 1, 0]]


def validation(gt, dets) -> Validation:
    evaluator = coco_eval(gt, dets)
    curves = pr_curve(gt, dets)
    _, p, r, _ = curves.at_best_f1()
    return Validation({**coco_stats(evaluator), "P": p.mean(), "R": r.mean()}, dets, gt, evaluator, curves)


def test_class_rows_are_cocoeval_per_class_and_count_images_and_instances():
    rng = np.random.default_rng(0)
    boxes = make_boxes(3, per_image=8, classes=4)
    gt = yolo_to_coco_gt(to_items(boxes), names=list("abcd"))
    gt["annotations"].append({"id": 99, "image_id": 1, "category_id": 2, "bbox": [0, 0, 50, 50], "area": 10.0,
                              "iscrowd": 1})
    dets = [dict(d, bbox=(np.array(d["bbox"]) + rng.normal(0, 3, 4)).tolist(), score=float(rng.random()))
            for d in dets_from(boxes)]
    result = validation(gt, dets)
    ids, ap50, ap = per_class_ap(result.evaluator)
    assert ids.tolist() == [0, 1, 2, 3]
    assert ap.mean() == pytest.approx(result.metrics["AP"], abs=1e-12)
    assert ap50.mean() == pytest.approx(result.metrics["AP50"], abs=1e-12)
    np.testing.assert_allclose(ap50, result.curves.ap, atol=1e-12)  # COCOeval's per class = ours
    rows = class_rows(result)
    assert [r.name for r in rows] == ["all", "a", "b", "c", "d"]
    assert rows[0].images == 3 and rows[0].instances == 24 and [r.instances for r in rows[1:]] == [6] * 4
    assert [r.images for r in rows[1:]] == [3] * 4  # every class in every image; the crowd region is none
    assert rows[0].AP == result.metrics["AP"] and rows[0].P == result.metrics["P"]
    text = format_rows(rows, per_class=True).splitlines()
    assert text[0].split() == ["Class", "Images", "Instances", "P", "R", "AP50", "AP"] and len(text) == 6
    assert text[1].split()[:3] == ["all", "3", "24"] and len(text[1]) == 22 + 6 * 11
    assert len(format_rows(rows, per_class=False).splitlines()) == 2


def test_speed_line_is_yolov5s():
    ms = mean_speed([{"pre": 1.0, "inference": 4.0, "post": 0.5}, {"pre": 3.0, "inference": 6.0, "post": 1.5}])
    assert speed_line(ms, (32, 3, 640, 640)) == \
        "Speed: 2.0ms pre-process, 5.0ms inference, 1.0ms NMS per image at shape (32, 3, 640, 640)"


def test_best_f1_threshold_is_taken_on_the_smoothed_mean_as_yolov5():
    y = np.zeros(1000)
    y[100] = 1.0  # a one-sample spike loses to a broad plateau once smoothed
    y[600:700] = 0.8
    assert int(smooth(y, 0.1).argmax()) in range(600, 700) and len(smooth(y, 0.1)) == 1000


def test_crowd_regions_and_file_areas_stay_missing_keys_are_filled():
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 3}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 5], "area": 7.5, "iscrowd": 1},
                          {"id": 2, "image_id": 2, "category_id": 3, "bbox": [0, 0, 4, 5]},
                          {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, float("nan"), 5]}, "junk"]}
    assert evaluable_gt(gt, {1}) == {**gt, "images": [{"id": 1}], "annotations": [gt["annotations"][0]]}
    full = evaluable_gt(gt)
    assert [(a["area"], a["iscrowd"]) for a in full["annotations"]] == [(7.5, 1), (20, 0)]
    clean = {**gt, "annotations": gt["annotations"][:1]}
    assert evaluable_gt(clean) is clean  # nothing to change: the file's own dict


@pytest.mark.parametrize("classes", [3, 80])
def test_metric_curves_and_confusion_matrix_write_pngs(tmp_path, classes):
    boxes = make_boxes(4, per_image=max(6, classes), classes=classes)
    gt = yolo_to_coco_gt(to_items(boxes), names=[f"class{i}" for i in range(classes)])
    dets = dets_from(boxes, shift=0.3)
    curves = pr_curve(gt, dets)
    for metric in ("F1", "Precision", "Recall"):
        plot_metric_curve(curves, tmp_path / f"{metric}.png", metric, names={i: f"class{i}" for i in range(classes)})
    plot_confusion_matrix(confusion_matrix(gt, dets), tmp_path / "cm.png", [f"class{i}" for i in range(classes)])
    for name in ("F1", "Precision", "Recall", "cm"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name

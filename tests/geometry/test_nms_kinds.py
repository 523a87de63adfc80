"""Darknet's DIoU-NMS (nms_kind=diounms, beta_nms) and greedy non-maximum merging (tiles)."""
import numpy as np
import pytest
import torch

from detector.geometry import bbox_iou, nms, postprocess
from detector.geometry.boxes import box_diou, box_ios
from detector.geometry.nms import greedy_nmm, nms_kind

from .test_nms import random_boxes


def diou_darknet(a, b, beta):
    """box.c's box_diounms, transcribed: boxes as (x, y, w, h) centres."""
    ax, ay, aw, ah = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2, a[2] - a[0], a[3] - a[1]
    bx, by, bw, bh = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]
    left, right = min(ax - aw / 2, bx - bw / 2), max(ax + aw / 2, bx + bw / 2)
    top, bot = min(ay - ah / 2, by - bh / 2), max(ay + ah / 2, by + bh / 2)
    c = (right - left) ** 2 + (bot - top) ** 2
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    iou = inter / (aw * ah + bw * bh - inter)
    if c == 0:
        return iou
    d = (ax - bx) ** 2 + (ay - by) ** 2
    return iou - (d / c) ** beta


@pytest.mark.parametrize("beta", [0.6, 1.0])
def test_pairwise_diou_is_darknets_and_equals_the_torch_loss_path_at_beta_1(beta):
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 30).astype(np.float64), random_boxes(rng, 20).astype(np.float64)
    got = box_diou(a, b, beta)
    want = np.array([[diou_darknet(x, y, beta) for y in b] for x in a])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    if beta == 1.0:  # the loss's elementwise DIoU (torch) is the same measure
        torch_diou = bbox_iou(torch.from_numpy(a)[:, None], torch.from_numpy(b)[None], "diou", xywh=False, eps=0)
        np.testing.assert_allclose(got, torch_diou.numpy(), rtol=1e-9, atol=1e-12)


def test_diou_nms_keeps_a_neighbour_that_iou_nms_drops():
    # Two boxes overlapping at IoU 0.5 with centres apart: IoU-NMS at 0.45 drops the second,
    # DIoU-NMS subtracts (rho^2 / c^2) ** 0.6 = (100 / 1700) ** 0.6 = 0.18 and keeps it (0.32 < 0.45).
    boxes = np.array([[0, 0, 30, 10], [10, 0, 40, 10]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, None, 0.45).tolist() == [0]
    assert nms(boxes, scores, None, 0.45, kind="diou", beta=0.6).tolist() == [0, 1]
    assert nms(boxes, scores, None, 0.10, kind="diou", beta=0.6).tolist() == [0]
    pred = np.zeros((1, 2, 6), np.float32)
    pred[0, :, :4] = [[15, 5, 30, 10], [25, 5, 30, 10]]
    pred[0, :, 4], pred[0, :, 5] = scores, 1
    assert len(postprocess(pred, nms_kind="diounms", beta_nms=0.6)[0].scores) == 2
    assert len(postprocess(pred)[0].scores) == 1


@pytest.mark.parametrize("seed", range(4))
def test_diou_nms_matrix_and_row_paths_agree(monkeypatch, seed):
    import importlib

    module = importlib.import_module("detector.geometry.nms")
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 300), rng.uniform(0, 1, 300).astype(np.float32)
    cls = rng.integers(0, 3, 300)
    matrix = module.nms(boxes, scores, cls, 0.3, kind="diou", beta=0.6)
    monkeypatch.setattr(module, "BLOCK", 16)
    assert module.nms(boxes, scores, cls, 0.3, kind="diou", beta=0.6).tolist() == matrix.tolist()
    assert len(matrix) > len(module.nms(boxes, scores, cls, 0.3))  # DIoU keeps more of a crowd


def test_nms_kind_names_and_refusal():
    assert [nms_kind(k) for k in ("greedynms", "default", "iou", "diounms", "diou")] == ["iou"] * 3 + ["diou"] * 2
    with pytest.raises(ValueError, match="cornersnms"):
        nms_kind("cornersnms")


def test_ios_is_one_for_a_box_inside_another():
    big, small = np.array([[0, 0, 100, 100]]), np.array([[10, 10, 30, 30], [90, 90, 110, 110]])
    np.testing.assert_allclose(box_ios(big, small), [[1.0, 0.25]])


def test_sahi_greedy_nmm_grows_the_union():
    boxes = np.array([[0, 0, 60, 40], [40, 0, 100, 40], [200, 200, 220, 220]], np.float32)
    keep, merged = greedy_nmm(boxes, np.array([0.9, 0.8, 0.7]), None, 0.3)
    assert keep.tolist() == [0, 2]
    np.testing.assert_array_equal(merged, [[0, 0, 100, 40], [200, 200, 220, 220]])


def test_cut_boxes_extend_only_across_their_cut_side():
    # An object [40, 0, 100, 40] seen cut at a tile edge x=60 (box 0, right side cut), whole
    # from the neighbour tile (box 1), and a larger low-score box around it (box 2).
    boxes = np.array([[40, 0, 60, 40], [40, 0, 100, 40], [30, -10, 110, 50]], np.float32)
    cut = np.zeros((3, 4), bool)
    cut[0, 2] = True
    keep, merged = greedy_nmm(boxes, np.array([0.9, 0.6, 0.05]), None, 0.5, cut=cut, iou_thres=0.9)
    assert keep.tolist() == [0]  # both contain the cut part: taken
    # the right side pushed out to the best match's (the whole view), not to the big box's
    np.testing.assert_array_equal(merged[0], [40, 0, 100, 40])
    # The best match reaching out on every side pushes out only the cut one.
    wider = np.array([[40, 0, 60, 40], [35, -2, 100, 42]], np.float32)
    keep, merged = greedy_nmm(wider, np.array([0.9, 0.6]), None, 0.5, cut=cut[:2], iou_thres=0.9)
    assert keep.tolist() == [0] and merged[0].tolist() == [40, 0, 100, 40]
    # A whole box never grows, and takes only boxes smaller than itself that were cut.
    keep, merged = greedy_nmm(boxes[[1, 2]], np.array([0.9, 0.5]), None, 0.5, cut=np.zeros((2, 4), bool),
                              iou_thres=0.9)
    assert keep.tolist() == [0, 1] and merged[0].tolist() == [40, 0, 100, 40]
    keep, _ = greedy_nmm(boxes[[1, 0]], np.array([0.9, 0.5]), None, 0.5, cut=cut[[1, 0]], iou_thres=0.9)
    assert keep.tolist() == [0]  # the cut part inside it is taken
    keep, _ = greedy_nmm(boxes[[1, 0]], np.array([0.9, 0.5]), np.array([0, 1]), 0.5, cut=cut[[1, 0]])
    assert keep.tolist() == [0, 1]  # other class: kept


def test_greedy_nmm_stops_at_max_det_and_checks_lengths():
    rng = np.random.default_rng(1)
    boxes, scores = random_boxes(rng, 200, spread=2000.0), rng.uniform(0, 1, 200)
    keep, merged = greedy_nmm(boxes, scores, None, 0.5, max_det=7)
    assert len(keep) == len(merged) == 7 and np.all(np.diff(scores[keep]) <= 0)
    with pytest.raises(ValueError, match="3 boxes, 2 scores"):
        greedy_nmm(boxes[:3], scores[:2])

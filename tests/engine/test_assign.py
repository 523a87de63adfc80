"""Darknet's assignment: best anchor over all levels plus every anchor above iou_thresh, one cell."""
import pytest
import torch

from detector.engine import assign_targets, check_targets

from .helpers import YOLOV3

IMG = 416
GRIDS = [(IMG // s, IMG // s) for s in YOLOV3.strides]
ANCHORS = [torch.tensor(a) for a in YOLOV3.anchors]


def assign(rows, iou_thresh=0.213, img=(IMG, IMG)):
    t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
    grids = [(img[0] // s, img[1] // s) for s in YOLOV3.strides]
    return assign_targets(t, ANCHORS, YOLOV3.strides, grids, img, iou_thresh)


def summary(levels):
    """{(level, anchor, gy, gx, image, gt)} of every assignment."""
    return {(lv, *(int(v[i]) for v in (t.a, t.gy, t.gx, t.b, t.gt)))
            for lv, t in enumerate(levels) for i in range(len(t))}


def test_gt_matching_one_anchor_goes_to_that_anchor_level_and_cell():
    # 4x5 px: IoU with 10x13 is 20/130 = 0.154, lower with the rest -> anchor 0 of stride 8 alone.
    # Centre (0.3, 0.7) * 416 = (124.8, 291.2) px -> cell (15, 36) at stride 8.
    levels = assign([[0, 5, 0.3, 0.7, 4 / IMG, 5 / IMG]])
    assert summary(levels) == {(0, 0, 36, 15, 0, 0)}
    t = levels[0]
    assert t.cls.tolist() == [5]
    assert t.anchor.tolist() == [[10.0, 13.0]]
    assert t.box.tolist()[0] == pytest.approx([124.8, 291.2, 4.0, 5.0], abs=1e-4)


def test_gt_above_threshold_goes_to_every_such_anchor_on_every_level():
    # 8x50 px: IoU 104/426 = 0.244 with 10x13, 240/640 = 0.375 with 16x30 (best), 400/1830 = 0.219
    # with 30x61 (stride 16), 184/975 = 0.189 with 33x23; all others lower.
    # Centre (0.5, 0.25) * 416 = (208, 104) -> cells (26, 13) at stride 8, (13, 6) at stride 16.
    levels = assign([[1, 2, 0.5, 0.25, 8 / IMG, 50 / IMG]])
    assert summary(levels) == {(0, 0, 13, 26, 1, 0), (0, 1, 13, 26, 1, 0), (1, 0, 6, 13, 1, 0)}


def test_largest_gt_takes_both_large_anchors():
    # 373x326: the anchor itself (IoU 1) and 156x198 (30888 / 121598 = 0.254); 116x90 is 0.086.
    levels = assign([[0, 0, 0.5, 0.5, 373 / IMG, 326 / IMG]])
    assert summary(levels) == {(2, 1, 6, 6, 0, 0), (2, 2, 6, 6, 0, 0)}


def test_no_threshold_keeps_only_the_best_anchor():
    levels = assign([[1, 2, 0.5, 0.25, 8 / IMG, 50 / IMG]], iou_thresh=None)
    assert summary(levels) == {(0, 1, 13, 26, 1, 0)}


def test_centre_on_the_far_edge_stays_in_the_grid_and_rectangular_inputs():
    # Input 320 high x 416 wide: a centre at x = 1.0 belongs to the last column, y uses the height.
    levels = assign([[0, 0, 1.0, 0.5, 373 / 416, 326 / 320]], img=(320, 416))
    assert {(lv, gy, gx) for lv, _, gy, gx, _, _ in summary(levels)} == {(2, 5, 12)}


def test_several_targets_keep_their_rows_and_zero_sized_ones_are_skipped():
    rows = [[0, 1, 0.5, 0.5, 0.0, 0.1], [0, 3, 0.3, 0.7, 4 / IMG, 5 / IMG], [1, 4, 0.5, 0.5, 373 / IMG, 326 / IMG]]
    s = summary(assign(rows))
    assert {gt for *_, gt in s} == {1, 2}
    assert (0, 0, 36, 15, 0, 1) in s and (2, 2, 6, 6, 1, 2) in s


def test_empty_targets_assign_nothing():
    levels = assign_targets(check_targets(torch.zeros(0), 2, 80), ANCHORS, YOLOV3.strides, GRIDS, (IMG, IMG))
    assert [len(t) for t in levels] == [0, 0, 0]


@pytest.mark.parametrize("row, match", [([2, 0, 0.5, 0.5, 0.1, 0.1], "image index"),
                                        ([0, 80, 0.5, 0.5, 0.1, 0.1], "class"),
                                        ([0, 1.5, 0.5, 0.5, 0.1, 0.1], "class")])
def test_bad_targets_are_refused(row, match):
    with pytest.raises(ValueError, match=match):
        check_targets(torch.tensor([row]), 2, 80)
    with pytest.raises(ValueError, match=r"\[M, 6\]"):
        check_targets(torch.zeros(3, 5), 2, 80)

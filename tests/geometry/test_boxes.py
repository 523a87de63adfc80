"""IoU, GIoU, DIoU and CIoU against values worked out by hand."""
import pytest
import torch

import numpy as np

from detector.geometry import bbox_iou, box_iou, ltwh2xyxy, wh_iou, xywh2xyxy, xyxy2xywh


def xyxy(*b):
    return torch.tensor(b, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
def test_identical_boxes_score_one(kind):
    box = xyxy(3.0, 4.0, 10.0, 20.0)
    assert bbox_iou(box, box, kind, xywh=False).item() == pytest.approx(1.0, abs=1e-6)


def test_disjoint_boxes():
    # [0,1]x[0,1] and [2,3]x[0,1]: union 2, enclosing box 3 x 1 -> GIoU = 0 - (3 - 2) / 3.
    a, b = xyxy(0, 0, 1, 1), xyxy(2, 0, 3, 1)
    assert bbox_iou(a, b, "iou", xywh=False).item() == pytest.approx(0.0, abs=1e-9)
    assert bbox_iou(a, b, "giou", xywh=False).item() == pytest.approx(-1 / 3, abs=1e-6)
    # Centres 2 apart, enclosing diagonal^2 = 9 + 1 -> DIoU = -4/10; same shape, so CIoU = DIoU.
    assert bbox_iou(a, b, "diou", xywh=False).item() == pytest.approx(-0.4, abs=1e-6)
    assert bbox_iou(a, b, "ciou", xywh=False).item() == pytest.approx(-0.4, abs=1e-6)


def test_known_overlap_same_shape():
    # [0,2]^2 and [1,3]^2: intersection 1, union 7, enclosing 3 x 3 = 9.
    a, b = xyxy(0, 0, 2, 2), xyxy(1, 1, 3, 3)
    assert bbox_iou(a, b, "iou", xywh=False).item() == pytest.approx(1 / 7, abs=1e-6)
    assert bbox_iou(a, b, "giou", xywh=False).item() == pytest.approx(1 / 7 - 2 / 9, abs=1e-6)  # -5/63
    # rho^2 = 1 + 1, c^2 = 9 + 9: DIoU = 1/7 - 1/9 = 2/63; equal aspect ratios, CIoU the same.
    assert bbox_iou(a, b, "diou", xywh=False).item() == pytest.approx(2 / 63, abs=1e-6)
    assert bbox_iou(a, b, "ciou", xywh=False).item() == pytest.approx(2 / 63, abs=1e-6)


def test_ciou_aspect_term():
    # 2x2 at the origin inside 4x2: IoU 1/2; centres (1,1), (2,1): rho^2 = 1; c^2 = 16 + 4 = 20.
    # v = 4/pi^2 (atan 2 - atan 1)^2 = 0.0419565, alpha = v / (1 - 1/2 + v) = 0.0774166,
    # CIoU = 0.5 - 1/20 - alpha v = 0.4467519.
    a, b = xyxy(0, 0, 2, 2), xyxy(0, 0, 4, 2)
    assert bbox_iou(a, b, "ciou", xywh=False).item() == pytest.approx(0.4467519, abs=1e-6)
    assert bbox_iou(a, b, "diou", xywh=False).item() == pytest.approx(0.45, abs=1e-6)


def test_xywh_and_xyxy_agree_and_broadcast():
    a = torch.tensor([[1.0, 1.0, 2.0, 2.0]])  # cx, cy, w, h = [0,2]^2
    b = torch.tensor([[2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]])
    out = bbox_iou(a, b, "giou")
    assert out.shape == (2,)
    assert out.tolist() == pytest.approx([1 / 7 - 2 / 9, 1.0], abs=1e-6)


def test_ciou_gradient_is_finite_and_points_towards_the_target():
    pred = torch.tensor([[5.0, 5.0, 2.0, 3.0]], requires_grad=True)
    target = torch.tensor([[6.0, 5.0, 4.0, 3.0]])
    (1 - bbox_iou(pred, target, "ciou")).sum().backward()
    g = pred.grad[0]
    assert torch.isfinite(g).all()
    assert g[0] < 0 and g[2] < 0  # moving right and widening lowers the loss


def test_wh_iou_centred_shapes():
    # 8x50 against 10x13: intersection 8 x 13 = 104, union 400 + 130 - 104 = 426.
    out = wh_iou(torch.tensor([[8.0, 50.0]]), torch.tensor([[10.0, 13.0], [8.0, 50.0]]))
    assert out.tolist()[0] == pytest.approx([104 / 426, 1.0])


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        bbox_iou(torch.zeros(4), torch.zeros(4), "eiou")


def random_xyxy(rng, n):
    lo = rng.uniform(0, 50, (n, 2))
    return np.concatenate([lo, lo + rng.uniform(0.5, 30, (n, 2))], 1)


def test_conversions_are_inverse_and_the_same_in_numpy_and_torch():
    xyxy = random_xyxy(np.random.default_rng(0), 50)
    xywh = xyxy2xywh(xyxy)
    np.testing.assert_allclose(xywh2xyxy(xywh), xyxy, atol=1e-9)
    np.testing.assert_allclose(xyxy2xywh(torch.from_numpy(xyxy)).numpy(), xywh, atol=1e-12)
    np.testing.assert_allclose(xywh2xyxy(torch.from_numpy(xywh)).numpy(), xyxy, atol=1e-12)
    assert xywh2xyxy(xywh.astype(np.float32)).dtype == np.float32  # labels stay float32
    ltwh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], 1)  # COCO's bbox
    np.testing.assert_allclose(ltwh2xyxy(ltwh.tolist()), xyxy, atol=1e-9)


def test_pairwise_numpy_iou_equals_the_torch_iou_of_every_pair():
    # NMS and AP matching use box_iou, the loss uses bbox_iou: one IoU, whichever path asks.
    rng = np.random.default_rng(1)
    a, b = random_xyxy(rng, 7), random_xyxy(rng, 9)
    pairwise = box_iou(a, b)
    elementwise = bbox_iou(torch.from_numpy(a)[:, None], torch.from_numpy(b)[None], "iou", xywh=False, eps=0)
    np.testing.assert_allclose(pairwise, elementwise.numpy(), atol=1e-12)
    np.testing.assert_allclose(box_iou(b, a), pairwise.T)


def test_crowd_regions_count_the_detection_area_alone():
    det = np.array([[0.0, 0.0, 10.0, 10.0]])
    crowd = np.array([[0.0, 0.0, 10.0, 40.0], [0.0, 0.0, 10.0, 40.0]])
    assert box_iou(det, crowd, np.array([True, False])).tolist() == [[1.0, 0.25]]
    assert box_iou(det, np.array([[5.0, 5.0, 5.0, 9.0]])).tolist() == [[0.0]]  # no area, no overlap

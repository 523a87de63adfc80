"""YOLOLoss: hand-computed values, decoder parity, learning, edge cases, determinism."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from detector.engine import YOLOLoss, assign_targets, decode_cells
from detector.geometry import bbox_iou
from detector.models import build_model
from detector.geometry import HeadSpec, decode, postprocess

from .helpers import SMALL, anchor_view, random_maps, zero_maps

# One level, one anchor 16x16 at stride 8 on a 64x64 input: every number below is hand-computable.
ONE = HeadSpec(strides=(8,), anchors=(((16, 16),),), scale_x_y=(1.0,), num_classes=2)
UNIT = dict(box_gain=1.0, obj_gain=1.0, cls_gain=1.0, balance=[1.0])


def gt(cx_px, cy_px, w_px, h_px, cls=1, image=0, img=64):
    return torch.tensor([[image, cls, cx_px / img, cy_px / img, w_px / img, h_px / img]])


@pytest.mark.parametrize("box, expected_box", [("ciou", 0.75), ("giou", 0.75), ("mse", None)])
def test_zero_maps_give_hand_computed_terms(box, expected_box):
    # Zero maps predict a 16x16 box at each cell centre and logit 0 everywhere. The GT is 32x32
    # at the centre of cell (2, 3): same centre and shape, a quarter of the area -> IoU = GIoU =
    # CIoU = 1/4. Every BCE at logit 0 is log 2 whatever its target.
    # MSE: offsets 0.5 match, log(32 / 16) = log 2 on w and h: (2 - 32 * 32 / 64^2) * 2 log^2 2.
    loss = YOLOLoss(ONE, box=box, **UNIT)
    total, items = loss(zero_maps(ONE), gt(2.5 * 8, 3.5 * 8, 32, 32))
    if expected_box is None:
        expected_box = (2 - 0.25) * 2 * math.log(2) ** 2
    assert items.tolist() == pytest.approx([expected_box, math.log(2), math.log(2)], rel=1e-5)
    assert total.item() == pytest.approx(items.sum().item(), rel=1e-6)  # batch of 1


def test_total_is_scaled_by_batch_size_and_gains():
    maps = [m.requires_grad_() for m in random_maps(SMALL, batch=3)]
    targets = torch.tensor([[0, 1, 0.4, 0.4, 0.3, 0.2], [2, 0, 0.6, 0.3, 0.1, 0.4]])
    base_total, base = YOLOLoss(SMALL, box_gain=1, obj_gain=1, cls_gain=1)(maps, targets)
    total, items = YOLOLoss(SMALL, box_gain=0.05, obj_gain=2.0, cls_gain=0.5)(maps, targets)
    assert items.tolist() == pytest.approx((base * torch.tensor([0.05, 2.0, 0.5])).tolist(), rel=1e-6)
    assert total.item() == pytest.approx(3 * items.sum().item(), rel=1e-6)
    assert not items.requires_grad and total.requires_grad


@pytest.mark.parametrize("new_coords", [False, True])
def test_loss_box_path_matches_the_runtime_decoder(new_coords):
    # Every (level, anchor, cell) of random maps through decode_cells equals detector.geometry.decode;
    # new_coords (YOLOv4-CSP) maps are logistic values, as its conv's activation makes them.
    spec = replace(SMALL, new_coords=new_coords)
    maps = random_maps(spec, batch=2, std=1.5)
    maps = [m.sigmoid() for m in maps] if new_coords else maps
    ref = decode([m.numpy() for m in maps], spec)  # [B, N, 5 + nc], rows (level, anchor, y, x)
    ours = []
    for level, (p, anchors) in enumerate(zip(maps, spec.anchors)):
        v = anchor_view(p, spec, level)
        b, a, gy, gx = (i.reshape(-1) for i in torch.meshgrid(*(torch.arange(n) for n in v.shape[:4]), indexing="ij"))
        boxes = decode_cells(v[b, a, gy, gx, :4], gx, gy, torch.tensor(anchors)[a], spec.strides[level],
                             spec.scale_x_y[level], new_coords)
        ours.append(boxes.view(v.shape[0], -1, 4))
    np.testing.assert_allclose(torch.cat(ours, 1).numpy(), ref[..., :4], rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("box", ["ciou", "mse"])
def test_new_coords_maps_that_encode_the_gt_have_no_box_loss(box):
    # new_coords: v_xy = 0.5 is the cell centre and v_wh = sqrt(32 / 16) / 2 gives (2 v)^2 * 16 = 32 px.
    spec = replace(ONE, new_coords=True)
    maps = torch.full((1, 7, 8, 8), 0.5)
    maps[0, 2:4, 3, 2] = math.sqrt(2) / 2
    _, items = YOLOLoss(spec, box=box, **UNIT)([maps], gt(2.5 * 8, 3.5 * 8, 32, 32))
    assert items[0].item() == pytest.approx(0.0, abs=1e-6)


def test_new_coords_objectness_and_classes_equal_the_logit_losses():
    # With target 1 (obj_iou_ratio=0) the obj and cls terms of logistic maps v = sigmoid(t) are
    # those of the classic head on t: the same BCE, reached through probabilities.
    maps = random_maps(SMALL, batch=2, std=1.5)
    targets = torch.tensor([[0, 1, 0.4, 0.4, 0.3, 0.2], [1, 2, 0.6, 0.3, 0.1, 0.4]])
    _, classic = YOLOLoss(SMALL, obj_iou_ratio=0.0)(maps, targets)
    _, new = YOLOLoss(replace(SMALL, new_coords=True), obj_iou_ratio=0.0)([m.sigmoid() for m in maps], targets)
    assert new[1:].tolist() == pytest.approx(classic[1:].tolist(), rel=1e-4)


def test_empty_targets_give_only_objectness_loss():
    maps = zero_maps(SMALL, batch=2, requires_grad=True)
    total, items = YOLOLoss(SMALL)(maps, torch.zeros(0, 6))
    assert items[0] == 0 and items[2] == 0 and items[1] > 0
    total.backward()
    for level, p in enumerate(maps):
        g = anchor_view(p.grad, SMALL, level)
        assert (g[..., 4] > 0).all()  # every objectness logit is pushed down...
        assert (g[..., :4] == 0).all() and (g[..., 5:] == 0).all()  # ...and nothing else moves


@pytest.mark.parametrize("box", ["ciou", "giou", "mse"])
@pytest.mark.parametrize("ignore", [None, 0.7])
def test_gradients_are_finite_even_for_extreme_maps(box, ignore):
    maps = [(m * 40).requires_grad_() for m in random_maps(SMALL, batch=2)]  # |t| up to ~150: exp overflows
    targets = torch.tensor([[0, 1, 0.4, 0.4, 0.3, 0.2], [1, 2, 0.6, 0.3, 0.01, 0.9], [1, 0, 0.6, 0.3, 0.2, 0.2]])
    total, items = YOLOLoss(SMALL, box=box, ignore_thresh=ignore)(maps, targets)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(items).all()
    assert all(torch.isfinite(m.grad).all() for m in maps)


@pytest.mark.parametrize("box", ["ciou", "giou", "mse"])
def test_a_few_steps_drive_the_loss_down_and_the_box_onto_the_gt(box):
    # Raw maps of one 64x64 image as free parameters. Only the assigned cell learns its box; the
    # decoded, post-processed best detection must end up on the GT with the right class.
    maps = [torch.nn.Parameter(m) for m in random_maps(SMALL, batch=1, std=0.1)]
    target = torch.tensor([[0, 2, 0.41, 0.56, 0.30, 0.45]])
    loss = YOLOLoss(SMALL, box=box)
    opt = torch.optim.Adam(maps, lr=0.05)
    first = None
    for _ in range(150):
        opt.zero_grad()
        total, _ = loss(maps, target)
        total.backward()
        opt.step()
        first = total.item() if first is None else first
    assert total.item() < 0.1 * first
    det = postprocess(decode([m.detach().numpy() for m in maps], SMALL), conf_thres=0.3)[0]
    assert len(det.boxes) >= 1 and det.class_ids[0] == 2
    gt_xyxy = torch.tensor([[0.26, 0.335, 0.56, 0.785]]) * 64
    assert bbox_iou(torch.from_numpy(det.boxes[:1]), gt_xyxy, xywh=False).item() > 0.9


def test_objectness_target_is_the_iou_or_one():
    # After fitting, objectness at the GT's cell tends to the target: 1/4 (IoU) or 1 (ratio 0).
    for ratio, expected in [(1.0, 0.25), (0.0, 1.0)]:
        maps = [torch.zeros(1, 7, 8, 8, requires_grad=True)]
        loss = YOLOLoss(ONE, obj_iou_ratio=ratio, **UNIT)
        _, obj_grad = torch.autograd.grad(loss(maps, gt(20, 28, 32, 32))[0], maps)[0][0, 3:5, 3, 2]
        # d BCE / d logit at logit 0 = (sigmoid(0) - target) / (number of cells = 64).
        assert obj_grad.item() == pytest.approx((0.5 - expected) / 64, rel=1e-5)


def test_label_smoothing_targets():
    # With eps = 0.2 the class targets are 0.9 and 0.1: at logit 0 the gradients are -0.4 and +0.4
    # over the 2 classes of 1 target.
    maps = [torch.zeros(1, 7, 8, 8, requires_grad=True)]
    total, _ = YOLOLoss(ONE, label_smoothing=0.2, **UNIT)(maps, gt(20, 28, 32, 32, cls=1))
    g = torch.autograd.grad(total, maps)[0][0, 5:7, 3, 2]
    assert g.tolist() == pytest.approx([0.4 / 2, -0.4 / 2], rel=1e-5)


def test_ignore_thresh_silences_good_unassigned_predictions():
    # A 16x16 GT centred at (24, 24), the corner of cells (2..3, 2..3): only cell (3, 3) is
    # assigned, but with zero maps each of the other three predicts a 16x16 box 4 px off in x and
    # y: IoU 144 / 368 = 0.39, so above 0.3 they are ignored and 61 of 64 cells remain.
    target = gt(24, 24, 16, 16)
    grads = {}
    for thresh in (None, 0.3):
        maps = [torch.zeros(1, 7, 8, 8, requires_grad=True)]
        grads[thresh] = torch.autograd.grad(YOLOLoss(ONE, ignore_thresh=thresh, **UNIT)(maps, target)[0], maps)[0][0, 4]
    assert grads[None][2, 2] > 0 and grads[0.3][2, 2] == 0 and grads[0.3][2, 3] == 0 and grads[0.3][3, 2] == 0
    assert grads[0.3][6, 6] == pytest.approx(grads[None][6, 6].item() * 64 / 61, rel=1e-5)  # background
    # The assigned cell overlaps by the same 0.39, yet it must still learn its target.
    assert grads[0.3][3, 3] == pytest.approx(grads[None][3, 3].item() * 64 / 61, rel=1e-5)


def test_deterministic_and_free_of_target_order():
    # Two GTs in the same cell and anchor with different IoUs: the objectness target must not
    # depend on which row comes last.
    maps = [m.requires_grad_() for m in random_maps(SMALL, batch=2, seed=3)]
    rows = torch.tensor([[0, 1, 0.40, 0.40, 0.20, 0.25], [0, 2, 0.41, 0.41, 0.25, 0.20],
                         [1, 0, 0.70, 0.20, 0.05, 0.10], [1, 1, 0.20, 0.80, 0.60, 0.50]])
    assigned = assign_targets(rows, [torch.tensor(a) for a in SMALL.anchors], SMALL.strides, [(8, 8), (4, 4)], (64, 64))
    keys = [(int(t.b[i]), int(t.a[i]), int(t.gy[i]), int(t.gx[i])) for t in assigned[:1] for i in range(len(t))]
    assert len(keys) != len(set(keys))  # the case under test really occurs
    loss = YOLOLoss(SMALL)
    runs = []
    for order in ([0, 1, 2, 3], [0, 1, 2, 3], [3, 1, 0, 2]):
        total, items = loss(maps, rows[order])
        runs.append((total.detach(), items, torch.autograd.grad(total, maps)))
    assert torch.equal(runs[0][0], runs[1][0]) and all(torch.equal(a, b) for a, b in zip(runs[0][2], runs[1][2]))
    torch.testing.assert_close(runs[2][1], runs[0][1], rtol=1e-6, atol=1e-7)


def test_real_model_trains_end_to_end():
    model = build_model("csppeleenet-efm")
    maps = model(torch.rand(2, 3, 64, 64))
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.4, 0.6], [1, 79, 0.2, 0.3, 0.1, 0.1], [1, 17, 0.7, 0.7, 0.9, 0.8]])
    total, items = YOLOLoss(model)(maps, targets)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert items.shape == (3,) and (items > 0).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="box"):
        YOLOLoss(SMALL, box="eiou")
    with pytest.raises(ValueError, match="balance"):
        YOLOLoss(SMALL, balance=[1.0])
    with pytest.raises(ValueError, match=r"maps\[1\]"):
        YOLOLoss(SMALL)([torch.zeros(1, 24, 8, 8), torch.zeros(1, 99, 4, 4)], torch.zeros(0, 6))

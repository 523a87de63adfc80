"""--loss darknet: Darknet's sums, target-1 objectness and the cfg's [yolo] keys."""
import math

import pytest
import torch

from detector.darknet.detector import DarknetDetector
from detector.engine import YOLOLoss
from detector.engine.loss import darknet_loss, model_iou_thresh
from detector.geometry import HeadSpec
from detector.models import build_model

from .helpers import zero_maps

ONE = HeadSpec(strides=(8,), anchors=(((16, 16),),), scale_x_y=(1.0,), num_classes=2)


def test_darknet_reduction_sums_cells_targets_and_classes_per_nominal_batch():
    # Zero maps on a 64x64 input: 8 x 8 cells, every BCE log 2; the GT 32x32 at a cell centre
    # has CIoU 1/4 with the 16x16 box there. Darknet sums: box 0.75 x gain, objectness 64 cells,
    # classes 2; per image in the items, the total divided by the nominal batch.
    gt = torch.tensor([[0, 1, 2.5 * 8 / 64, 3.5 * 8 / 64, 0.5, 0.5], [1, 0, 36 / 64, 36 / 64, 0.25, 0.25]])
    loss = YOLOLoss(ONE, box="ciou", box_gain=0.07, obj_gain=1.0, cls_gain=1.0, balance=[1.0], obj_iou_ratio=0.0,
                    reduction="darknet", nominal_batch=4)
    total, items = loss(zero_maps(ONE, batch=2), gt)
    # image 1: a 16x16 GT at the centre of cell (4, 4) is the prediction there exactly: CIoU 1
    box, obj, cls = 0.07 * (0.75 + 0.0) / 2, 64 * 2 * math.log(2) / 2, 2 * 2 * math.log(2) / 2
    assert items.tolist() == pytest.approx([box, obj, cls], rel=1e-5)
    assert total.item() == pytest.approx(items.sum().item() * 2 / 4, rel=1e-6)
    # Target 1 on an assigned cell: a logit of +inf there zeroes that cell's BCE.
    maps = zero_maps(ONE, batch=2)
    maps[0][0, 4, 3, 2] = 30.0
    _, items2 = loss(maps, gt)
    assert items2[1].item() == pytest.approx(obj - math.log(2) / 2, rel=1e-4)


def test_darknet_loss_reads_the_yolo_keys_of_yolov4_tiny(shared):
    model = DarknetDetector((shared / "darknet" / "yolov4-tiny.cfg").read_text(), "yolov4-tiny.cfg")
    loss = darknet_loss(model, nominal_batch=64)
    assert (loss.box, loss.iou_thresh, loss.ignore_thresh, loss.obj_iou_ratio) == ("ciou", 1.0, 0.7, 0.0)
    assert loss.gains == (0.07, 1.0, 1.0) and loss.balance == [1.0, 1.0] and loss.reduction == "darknet"
    v4 = darknet_loss(DarknetDetector((shared / "darknet" / "yolov4.cfg").read_text(), "yolov4.cfg"))
    assert v4.iou_thresh == 0.213
    with pytest.raises(ValueError, match="--loss darknet: reads a Darknet cfg's"):
        darknet_loss(build_model("csppeleenet-efm-nano"))


def test_the_assignment_follows_a_darknet_cfgs_own_iou_thresh_unless_given(shared):
    tiny = DarknetDetector((shared / "darknet" / "yolov4-tiny.cfg").read_text(), "yolov4-tiny.cfg")
    v4 = DarknetDetector((shared / "darknet" / "yolov4.cfg").read_text(), "yolov4.cfg")
    yaml_model = build_model("csppeleenet-efm-nano")
    assert [model_iou_thresh(m, None) for m in (tiny, v4, yaml_model)] == [1.0, 0.213, 0.213]
    assert model_iou_thresh(tiny, None, continued=False) == 0.213  # from scratch or new classes: more positives
    assert model_iou_thresh(tiny, 0.3) == 0.3

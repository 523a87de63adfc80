"""The YOLOv3 training objective as the CSPNet / YOLOv4 cfgs use it, normalised the yolov5 way.

Choices, each one of the options those sources offer:

- Assignment: Darknet's (``assign.py``): best anchor over all levels plus every anchor with shape
  IoU > ``iou_thresh`` (0.213), at the cell holding the centre.
- Box: CIoU (yolov4 cfg, default), GIoU, or the paper's MSE on (tx, ty, tw, th) weighted by
  (2 - w * h). Boxes are decoded exactly as ``detector.geometry.decode`` decodes them, with
  ``scale_x_y`` and, for ``new_coords`` heads (YOLOv4-CSP), maps that are logistic already.
- Objectness: BCE on every cell and anchor; an assigned one's target is
  ``(1 - obj_iou_ratio) + obj_iou_ratio * IoU`` with the box loss's IoU (CIoU/GIoU, plain IoU for
  MSE) detached and clamped to >= 0 -- yolov5's choice (ratio 1) because it ties the confidence
  to box quality; ``obj_iou_ratio=0`` gives Darknet's target 1. Darknet's ``ignore_thresh``
  (0.7 in the paper's cfg) is off by default, as in yolov5, and can be turned on.
- Class: BCE per class with yolov5's label smoothing (positive 1 - eps / 2, negative eps / 2),
  also for one class, as Darknet does.
- Reduction: per level, box and class losses are means over assigned targets, objectness a mean
  over all cells weighted by ``balance``; the sum of the three, each times its gain, is multiplied
  by the batch size (yolov5). ``reduction="darknet"`` (``--loss darknet``, ``darknet_loss``):
  sums over targets, cells and classes, divided by the nominal batch, as Darknet's deltas are.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..geometry.boxes import bbox_iou, xywh2xyxy
from ..geometry.decode import HeadSpec, decode_boxes
from .assign import LevelTargets, assign_targets, check_targets

BOX_LOSSES = ("ciou", "giou", "mse")
REDUCTIONS = ("yolov5", "darknet")
# yolov5's per-level objectness weights for P3, P4, P5, keyed by stride so that a two-level head
# (tiny-PRN at strides 16, 32) gets the weights of those strides, not of P3 and P4.
BALANCE_BY_STRIDE = {8: 4.0, 16: 1.0, 32: 0.4, 64: 0.1, 128: 0.02}
# exp(t_wh) is clamped here in value only (gradients pass): a box 1000 x its anchor is already
# useless, and beyond exp overflows to inf, which would turn CIoU into NaN.
MAX_T_WH = math.log(1e3)


def head_spec(model) -> HeadSpec:
    """A detector (``strides``, ``anchors``, ``num_classes``, optionally ``scale_x_y`` and
    ``new_coords``: a YOLODetector or DarknetDetector) or a HeadSpec -> HeadSpec."""
    if isinstance(model, HeadSpec):
        return model
    for name in ("strides", "anchors", "num_classes"):
        if not hasattr(model, name):
            raise ValueError(f"YOLOLoss: model has no '{name}'; pass a YOLODetector or a HeadSpec")
    return HeadSpec.from_model(model)


def decode_cells(t: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor, anchor: torch.Tensor,
                 stride: float, scale_x_y: float, new_coords: bool = False) -> torch.Tensor:
    """Raw (tx, ty, tw, th) [n, 4] at cells (gx, gy) [n] with anchors [n, 2] -> cx, cy, w, h [n, 4]
    in input pixels, through the decoder's own formula (``geometry.decode.decode_boxes``) with
    t_wh bounded in value at MAX_T_WH."""
    cell = torch.stack([gx, gy], 1).to(t.dtype)
    gain = torch.full_like(cell, scale_x_y * stride)
    offset = (cell - (scale_x_y - 1) / 2) * stride
    return decode_boxes(t[None], gain[None], offset[None], anchor[None], new_coords, MAX_T_WH)[0]


def prob_logit(v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Probabilities -> logits, so a new_coords map's objectness and classes go through the same
    BCE-with-logits as everyone else's: its gradient in v is Darknet's (v - t) / (v (1 - v)),
    and the clamp keeps a saturated v finite (its logistic passes no gradient there anyway)."""
    v = v.clamp(eps, 1 - eps)
    return torch.log(v) - torch.log1p(-v)


class YOLOLoss(nn.Module):
    """YOLOv3 / CSPNet loss: ``loss(maps, targets) -> (total, items)``.

    ``model``: a YOLODetector or HeadSpec (strides, anchors, scale_x_y, num_classes).
    ``box``: "ciou", "giou" or "mse". ``iou_thresh``: extra anchors above this shape IoU also get
    the GT (None: best anchor only). ``ignore_thresh``: if set, unassigned predictions whose box
    overlaps a GT of their image with IoU > it get no objectness loss (Darknet). ``balance``:
    objectness weight per level (default by stride, yolov5's 4.0 / 1.0 / 0.4 for 8 / 16 / 32).
    Gains default to yolov5's hyp.scratch (box 0.05, obj 1.0, cls 0.5); yolov5 rescales them by
    3 / levels, (img / 640)^2 and classes / 80 -- left to the caller.
    """

    def __init__(self, model, *, box: str = "ciou", iou_thresh: float | None = 0.213,
                 ignore_thresh: float | None = None, label_smoothing: float = 0.0,
                 box_gain: float = 0.05, obj_gain: float = 1.0, cls_gain: float = 0.5,
                 balance: Sequence[float] | None = None, obj_iou_ratio: float = 1.0,
                 reduction: str = "yolov5", nominal_batch: int = 64):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"YOLOLoss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        # darknet: sums over cells, targets and classes, times the gains (the cfg's normalizers),
        # divided by the nominal batch: Darknet's deltas and its learning_rate / batch.
        self.reduction, self.nominal_batch = reduction, int(nominal_batch)
        self.spec = head_spec(model)
        n = len(self.spec.strides)
        if box not in BOX_LOSSES:
            raise ValueError(f"YOLOLoss: box must be one of {BOX_LOSSES}, got {box!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"YOLOLoss: label_smoothing must lie in [0, 1), got {label_smoothing}")
        if not 0.0 <= obj_iou_ratio <= 1.0:
            raise ValueError(f"YOLOLoss: obj_iou_ratio must lie in [0, 1], got {obj_iou_ratio}")
        if balance is None:
            balance = [BALANCE_BY_STRIDE.get(s, 1.0) for s in self.spec.strides]
        if len(balance) != n:
            raise ValueError(f"YOLOLoss: balance has {len(balance)} values for {n} levels")
        self.box, self.iou_thresh, self.ignore_thresh = box, iou_thresh, ignore_thresh
        self.gains = (float(box_gain), float(obj_gain), float(cls_gain))
        self.balance = [float(b) for b in balance]
        self.obj_iou_ratio = float(obj_iou_ratio)
        self.cls_pos, self.cls_neg = 1.0 - label_smoothing / 2, label_smoothing / 2
        self.anchors = [torch.tensor(a, dtype=torch.float32) for a in self.spec.anchors]

    def forward(self, maps: Sequence[torch.Tensor], targets: torch.Tensor,
                img_size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """maps: raw [B, A * (5 + nc), H_l, W_l] per level; targets [M, 6] (image, class, cx, cy,
        w, h normalised to the input); img_size: input (H, W), default first map's size x stride.

        Returns (total, items): total [] = (box + obj + cls, each times its gain) * B, and items
        [3] = the gained box, obj and cls terms, detached.
        """
        maps = self.check_maps(maps)
        bs, device = maps[0].shape[0], maps[0].device
        if img_size is None:
            img_size = (maps[0].shape[2] * self.spec.strides[0], maps[0].shape[3] * self.spec.strides[0])
        targets = check_targets(targets.detach().to(device, torch.float32), bs, self.spec.num_classes)
        assigned = assign_targets(targets, self.anchors, self.spec.strides,
                                  [tuple(p.shape[2:]) for p in maps], img_size, self.iou_thresh)
        lbox, lobj, lcls = (torch.zeros((), device=device) for _ in range(3))
        for level, (p, t) in enumerate(zip(maps, assigned)):
            p = p.reshape(bs, len(self.anchors[level]), self.spec.num_outputs, *p.shape[2:]).permute(0, 1, 3, 4, 2)
            if self.spec.new_coords:
                p = torch.cat([p[..., :4], prob_logit(p[..., 4:])], -1)
            tobj = torch.zeros(p.shape[:4], device=device)
            if len(t):
                ps = p[t.b, t.a, t.gy, t.gx].float()  # [n, 5 + nc]
                box_l, quality = self.box_loss(ps, t, level, img_size)
                lbox = lbox + self._reduce(box_l)
                lcls = lcls + self._reduce(self.class_loss(ps[:, 5:], t.cls))
                # Two GTs may share a cell and anchor: keep the higher target, which is
                # order-free (a plain scatter would keep whichever write lands last).
                target = (1.0 - self.obj_iou_ratio) + self.obj_iou_ratio * quality.detach().clamp(min=0)
                flat = ((t.b * tobj.shape[1] + t.a) * tobj.shape[2] + t.gy) * tobj.shape[3] + t.gx
                tobj.view(-1).scatter_reduce_(0, flat, target, reduce="amax")
            weight = None if self.ignore_thresh is None else self.obj_weight(p, t, targets, level, img_size)
            lobj = lobj + self.objectness_loss(p[..., 4].float(), tobj, weight, self.reduction) * self.balance[level]
        items = torch.stack([lbox * self.gains[0], lobj * self.gains[1], lcls * self.gains[2]])
        if self.reduction == "darknet":  # items per image, for the progress bar; the total per nominal batch
            return items.sum() / self.nominal_batch, items.detach() / bs
        return items.sum() * bs, items.detach()

    def _reduce(self, values: torch.Tensor) -> torch.Tensor:
        return values.sum() if self.reduction == "darknet" else values.mean()

    def check_maps(self, maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """One map per level, each [B, A_l * (5 + nc), H_l, W_l] with the same B."""
        maps = list(maps)
        if len(maps) != len(self.spec.strides):
            raise ValueError(f"YOLOLoss: maps has {len(maps)} levels, the head has {len(self.spec.strides)}")
        for i, (p, a) in enumerate(zip(maps, self.anchors)):
            expected = len(a) * self.spec.num_outputs
            if p.ndim != 4 or p.shape[1] != expected or p.shape[0] != maps[0].shape[0]:
                raise ValueError(f"YOLOLoss: maps[{i}] has shape {tuple(p.shape)}, expected "
                                 f"[{maps[0].shape[0]}, {expected}, H, W]")
        return maps

    def box_loss(self, ps: torch.Tensor, t: LevelTargets, level: int,
                 img_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Assigned predictions ps [n, 5 + nc] -> (box loss per target [n], box quality [n] for objectness)."""
        stride, k, new = self.spec.strides[level], self.spec.scale_x_y[level], self.spec.new_coords
        anchor = t.anchor.to(ps.dtype)
        pbox = decode_cells(ps[:, :4], t.gx, t.gy, anchor, stride, k, new)
        if self.box != "mse":
            iou = bbox_iou(pbox, t.box, self.box)
            return 1.0 - iou, iou
        # Darknet's delta_yolo_box: xy compared after the logistic (and scale_x_y) as offsets in
        # the cell, wh as raw logs of size / anchor (new_coords: v = sqrt(size / anchor) / 2, the
        # inverse of (2 v)^2); weight 2 - w * h favours small boxes.
        cell = torch.stack([t.gx, t.gy], 1).to(ps.dtype)
        txy = t.box[:, :2] / stride - cell
        twh = (t.box[:, 2:] / anchor).sqrt() / 2 if new else torch.log(t.box[:, 2:] / anchor)
        pxy = (ps[:, 0:2] if new else ps[:, 0:2].sigmoid()) * k - (k - 1) / 2
        area = t.box[:, 2] * t.box[:, 3] / (img_size[0] * img_size[1])  # normalised, as Darknet's truth.w * truth.h
        err = ((pxy - txy) ** 2).sum(1) + ((ps[:, 2:4] - twh) ** 2).sum(1)
        with torch.no_grad():
            iou = bbox_iou(pbox, t.box, "iou")
        half = 0.5 if self.reduction == "darknet" else 1.0  # Darknet's delta is the gradient of err / 2
        return half * (2.0 - area) * err, iou

    def class_loss(self, logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """Class logits [n, nc] and indices [n] -> BCE [n, nc] with label smoothing."""
        target = torch.full_like(logits, self.cls_neg)
        target[torch.arange(len(cls), device=logits.device), cls] = self.cls_pos
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")

    @staticmethod
    def objectness_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                        reduction: str = "yolov5") -> torch.Tensor:
        """Objectness logits and targets [B, A, H, W] -> BCE [] over the cells kept by weight: their
        mean (yolov5) or sum (darknet)."""
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if weight is not None:
            bce = bce * weight
        if reduction == "darknet":
            return bce.sum()
        return bce.mean() if weight is None else bce.sum() / weight.sum().clamp(min=1)

    def obj_weight(self, p: torch.Tensor, t: LevelTargets, targets: torch.Tensor, level: int,
                   img_size: tuple[int, int]) -> torch.Tensor:
        """[B, A, H, W] 0/1: 0 where an unassigned prediction overlaps a GT of its image with
        IoU > ignore_thresh (Darknet's ignore_thresh), 1 elsewhere."""
        bs, na, gh, gw = p.shape[:4]
        with torch.no_grad():
            gy, gx = torch.meshgrid(torch.arange(gh, device=p.device), torch.arange(gw, device=p.device), indexing="ij")
            anchor = self.anchors[level].to(p.device)[None, :, None, None].expand(bs, na, gh, gw, 2)
            cells = [c[None, None].expand(bs, na, gh, gw).reshape(-1) for c in (gx, gy)]
            boxes = decode_cells(p[..., :4].reshape(-1, 4).float(), *cells, anchor.reshape(-1, 2),
                                 self.spec.strides[level], self.spec.scale_x_y[level],
                                 self.spec.new_coords).view(bs, -1, 4)
            scale = torch.tensor([img_size[1], img_size[0]] * 2, device=p.device, dtype=torch.float32)
            gt_xyxy = xywh2xyxy(targets[:, 2:6] * scale)
            weight = torch.ones(bs, na * gh * gw, device=p.device)
            for b in range(bs):
                gts = gt_xyxy[targets[:, 0] == b]
                if len(gts):
                    best = bbox_iou(xywh2xyxy(boxes[b])[:, None], gts[None], "iou", xywh=False).amax(1)
                    weight[b] = (best <= self.ignore_thresh).float()
            weight = weight.view(bs, na, gh, gw)
            weight[t.b, t.a, t.gy, t.gx] = 1.0  # assigned predictions always learn
        return weight


def model_iou_thresh(model, given: float | None, continued: bool = True) -> float | None:
    """The assignment's ``iou_thresh``: ``given``, else, when a Darknet model goes on training
    on classes it knows (``continued``), its cfg's own (1, best anchor only, where it has none:
    yolov4-tiny's other anchors never learned those truths, and assigning them cost
    continued training AP75; docs/training.md), else 0.213 (yolov4.cfg: more positives, which
    a model learning new classes or starting from scratch needs)."""
    if given is not None:
        return given
    if continued and hasattr(model, "loss_settings"):
        return model.loss_settings()["iou_thresh"]  # 1 (Darknet's default): no shape IoU exceeds it
    return 0.213


def darknet_loss(model, nominal_batch: int = 64) -> YOLOLoss:
    """``--loss darknet``: the loss a Darknet model's own ``[yolo]`` keys ask for (docs/training.md).

    Darknet's deltas are sums over cells, targets and classes divided by the batch; box by
    ``iou_loss`` times ``iou_normalizer``, objectness target 1 (not the IoU) times
    ``obj_normalizer``, no weight per level; ``iou_thresh`` < 1 adds anchors, ``ignore_thresh``
    silences good unassigned predictions, ``label_smooth_eps`` smooths as yolov5 does. Not
    reproduced: ``max_delta`` clipping, ``cls_normalizer`` (Darknet applies it only with
    ``counters_per_class``), and Darknet's box deltas, which skip the logistic's derivative."""
    if not hasattr(model, "loss_settings"):
        raise ValueError("--loss darknet: reads a Darknet cfg's [yolo] keys; this model is a YAML model "
                         "(use --loss yolov5)")
    s = model.loss_settings()
    if s["iou_loss"] not in BOX_LOSSES:
        raise ValueError(f"--loss darknet: the cfg's iou_loss={s['iou_loss']} is not one of {BOX_LOSSES}")
    return YOLOLoss(model, box=s["iou_loss"], iou_thresh=model_iou_thresh(model, None),
                    ignore_thresh=s["ignore_thresh"], label_smoothing=s["label_smooth_eps"],
                    box_gain=s["iou_normalizer"], obj_gain=s["obj_normalizer"], cls_gain=1.0,
                    balance=[1.0] * len(model.strides), obj_iou_ratio=0.0, reduction="darknet",
                    nominal_batch=nominal_batch)

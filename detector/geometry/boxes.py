"""Box conversion and the IoU family: pairwise IoU, DIoU and IoS in numpy (NMS, tile merging, AP
matching); elementwise IoU / GIoU / DIoU / CIoU and anchor-shape IoU in torch (the loss, target
assignment)."""
from __future__ import annotations

import math

import numpy as np
import torch

IOU_KINDS = ("iou", "giou", "diou", "ciou")


def xywh2xyxy(boxes):
    """[..., 4] cx, cy, w, h -> [..., 4] x1, y1, x2, y2: a new numpy array or tensor, same type."""
    xy, half = boxes[..., 0:2], boxes[..., 2:4] / 2
    if isinstance(boxes, torch.Tensor):
        return torch.cat([xy - half, xy + half], -1)
    return np.concatenate([xy - half, xy + half], -1)


def xyxy2xywh(boxes):
    """[..., 4] x1, y1, x2, y2 -> [..., 4] cx, cy, w, h: a new numpy array or tensor, same type."""
    lo, hi = boxes[..., 0:2], boxes[..., 2:4]
    if isinstance(boxes, torch.Tensor):
        return torch.cat([(lo + hi) / 2, hi - lo], -1)
    return np.concatenate([(lo + hi) / 2, hi - lo], -1)


def ltwh2xyxy(boxes) -> np.ndarray:
    """COCO boxes (left, top, w, h), any [K, 4]-shaped sequence -> [K, 4] xyxy float64."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)


def _pairwise(a: np.ndarray, b: np.ndarray):
    """(a [N, 4], b [M, 4] as float64, intersections [N, M], areas of a [N, 1], areas of b [1, M])."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = (np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
    ih = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])).clip(0)
    area_a = ((a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0))[:, None]
    area_b = ((b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0))[None]
    return a, b, iw * ih, area_a, area_b


def box_iou(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of a [N, 4] with b [M, 4] (xyxy, float64) -> [N, M]; empty unions give 0, inverted
    boxes have area 0. Where ``crowd`` [M] is set the union is a's area alone (COCO's rule for
    crowd regions)."""
    _, _, inter, area_a, area_b = _pairwise(a, b)
    union = area_a + area_b - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, bool)[None], np.broadcast_to(area_a, union.shape), union)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller area of a [N, 4] and b [M, 4] (xyxy) -> [N, M] float64:
    1 when one box lies inside the other, so a box cut at a tile edge matches the whole one."""
    _, _, inter, area_a, area_b = _pairwise(a, b)
    smaller = np.minimum(area_a, area_b)
    return np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)


def box_diou(a: np.ndarray, b: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """Darknet's DIoU for NMS (``box_diounms`` in box.c) of a [N, 4] and b [M, 4] (xyxy) -> [N, M]:
    IoU - (rho^2 / c^2) ** beta, rho the centre distance, c the enclosing box's diagonal (IoU
    alone where c is 0). ``beta`` is the cfg's ``beta_nms``; at 1 this is ``bbox_iou(kind="diou")``."""
    a, b, inter, area_a, area_b = _pairwise(a, b)
    union = area_a + area_b - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    cw = np.maximum(a[:, None, 2], b[None, :, 2]) - np.minimum(a[:, None, 0], b[None, :, 0])
    ch = np.maximum(a[:, None, 3], b[None, :, 3]) - np.minimum(a[:, None, 1], b[None, :, 1])
    c2 = cw ** 2 + ch ** 2
    rho2 = (((a[:, None, 0] + a[:, None, 2]) - (b[None, :, 0] + b[None, :, 2])) ** 2
            + ((a[:, None, 1] + a[:, None, 3]) - (b[None, :, 1] + b[None, :, 3])) ** 2) / 4
    ratio = np.divide(rho2, c2, out=np.zeros_like(rho2), where=c2 > 0)
    return iou - ratio ** beta


PAIRWISE = {"iou": box_iou, "diou": box_diou, "ios": box_ios}


def bbox_iou(box1: torch.Tensor, box2: torch.Tensor, kind: str = "iou", xywh: bool = True,
             eps: float = 1e-7) -> torch.Tensor:
    """Elementwise overlap of box1 [..., 4] and box2 [..., 4] (broadcast) -> [...].

    ``kind``: "iou"; "giou" (IoU - (C - U) / C, C the enclosing box's area; in (-1, 1]);
    "diou" (IoU - rho^2 / c^2, rho the centre distance, c the enclosing box's diagonal);
    "ciou" (DIoU - alpha * v, v = 4 / pi^2 * (atan(w2 / h2) - atan(w1 / h1))^2 the aspect
    term, alpha = v / (1 - IoU + v)). Boxes are cx, cy, w, h with ``xywh``, else x1, y1, x2, y2.
    """
    if kind not in IOU_KINDS:
        raise ValueError(f"bbox_iou: kind must be one of {IOU_KINDS}, got {kind!r}")
    if xywh:
        box1, box2 = xywh2xyxy(box1), xywh2xyxy(box2)
    b1x1, b1y1, b1x2, b1y2 = box1.unbind(-1)
    b2x1, b2y1, b2x2, b2y2 = box2.unbind(-1)
    w1, h1 = b1x2 - b1x1, b1y2 - b1y1
    w2, h2 = b2x2 - b2x1, b2y2 - b2y1
    inter = ((torch.minimum(b1x2, b2x2) - torch.maximum(b1x1, b2x1)).clamp(min=0)
             * (torch.minimum(b1y2, b2y2) - torch.maximum(b1y1, b2y1)).clamp(min=0))
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou
    cw = torch.maximum(b1x2, b2x2) - torch.minimum(b1x1, b2x1)  # enclosing box
    ch = torch.maximum(b1y2, b2y2) - torch.minimum(b1y1, b2y1)
    if kind == "giou":
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    if kind == "diou":
        return iou - rho2 / c2
    v = (4 / math.pi ** 2) * (torch.atan(w2 / (h2 + eps)) - torch.atan(w1 / (h1 + eps))) ** 2
    with torch.no_grad():  # the CIoU paper treats alpha as a trade-off weight, not a function to differentiate
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def wh_iou(wh1: torch.Tensor, wh2: torch.Tensor) -> torch.Tensor:
    """IoU of box shapes with their centres aligned: wh1 [N, 2], wh2 [M, 2] -> [N, M].

    This is how Darknet and YOLOv3 pick anchors for a ground truth: by shape only.
    """
    inter = torch.minimum(wh1[:, None], wh2[None]).prod(2)
    return inter / (wh1.prod(1)[:, None] + wh2.prod(1)[None] - inter)

"""Ground truth -> (anchor, level, grid cell) assignment, as Darknet's yolo_layer.c does it.

Each ground truth goes to the anchor, over all levels, whose shape (both boxes centred) overlaps
it best, and also to every other anchor on any level whose shape IoU exceeds ``iou_thresh``
(0.213 in the CSPNet "optimal" and yolov4 cfgs). On each chosen level it goes to one cell, the
one holding its centre; unlike yolov5 no neighbouring cells are added.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..geometry.boxes import wh_iou


@dataclass
class LevelTargets:
    """The ground truths assigned to one level, n of them (a GT may appear on several levels).

    ``b``, ``a``, ``gy``, ``gx`` [n] int64: image, anchor within the level, cell row, cell column;
    ``box`` [n, 4]: target cx, cy, w, h in input pixels; ``anchor`` [n, 2]: the anchor's (w, h)
    pixels; ``cls`` [n] int64: class index; ``gt`` [n] int64: row of the targets tensor.
    Rows are ordered by (gt, anchor), so the order never depends on the device.
    """

    b: torch.Tensor
    a: torch.Tensor
    gy: torch.Tensor
    gx: torch.Tensor
    box: torch.Tensor
    anchor: torch.Tensor
    cls: torch.Tensor
    gt: torch.Tensor

    def __len__(self) -> int:
        return self.b.numel()


def check_targets(targets: torch.Tensor, batch_size: int, num_classes: int) -> torch.Tensor:
    """Validate targets [M, 6] = (image, class, cx, cy, w, h), cx..h normalised to the input;
    an empty tensor of any shape is read as [0, 6]. Returns [M, 6]."""
    if targets.numel() == 0:
        return targets.reshape(0, 6)
    if targets.ndim != 2 or targets.shape[1] != 6:
        raise ValueError(f"targets must be [M, 6] (image, class, cx, cy, w, h), got shape {tuple(targets.shape)}")
    b, c = targets[:, 0], targets[:, 1]
    if (b < 0).any() or (b >= batch_size).any() or (b != b.round()).any():
        raise ValueError(f"targets: column 0 (image index) must be integers in [0, {batch_size}), "
                         f"got {sorted(set(b.tolist()))[:8]}")
    if (c < 0).any() or (c >= num_classes).any() or (c != c.round()).any():
        raise ValueError(f"targets: column 1 (class) must be integers in [0, {num_classes}), "
                         f"got {sorted(set(c.tolist()))[:8]}")
    if not torch.isfinite(targets).all():
        raise ValueError("targets: holds NaN or inf")
    return targets


def assign_targets(targets: torch.Tensor, anchors: Sequence[torch.Tensor], strides: Sequence[int],
                   grid_shapes: Sequence[tuple[int, int]], img_size: tuple[int, int],
                   iou_thresh: float | None = 0.213) -> list[LevelTargets]:
    """Assign targets [M, 6] (checked by ``check_targets``) to anchors; one LevelTargets per level.

    ``anchors``: per level [A_l, 2] (w, h) pixels; ``grid_shapes``: per level (H_l, W_l);
    ``img_size``: the network input (H, W) in pixels the targets are normalised to.
    ``iou_thresh=None`` keeps only the best anchor. Ground truths with w or h <= 0 are skipped,
    as Darknet skips them. Everything stays on the targets' device.
    """
    device = targets.device
    kept = ((targets[:, 4] > 0) & (targets[:, 5] > 0)).nonzero()[:, 0]
    targets = targets[kept]
    h_in, w_in = img_size
    scale = torch.tensor([w_in, h_in], dtype=targets.dtype, device=device)
    wh = targets[:, 4:6] * scale
    all_anchors = torch.cat([a.to(device, targets.dtype) for a in anchors])
    ious = wh_iou(wh, all_anchors)  # [M, sum A_l]
    match = ious > iou_thresh if iou_thresh is not None else torch.zeros_like(ious, dtype=torch.bool)
    if len(targets):
        match[torch.arange(len(targets), device=device), ious.argmax(1)] = True  # argmax: first of ties
    out, start = [], 0
    for level_anchors, stride, (gh, gw) in zip(anchors, strides, grid_shapes):
        n_a = len(level_anchors)
        g, a = match[:, start:start + n_a].nonzero(as_tuple=True)  # row-major: ordered by (gt, anchor)
        start += n_a
        t = targets[g]
        gxy = t[:, 2:4] * scale / stride  # centre in cells of this level
        gx = gxy[:, 0].floor().long().clamp(0, gw - 1)  # a centre on the far edge belongs to the last cell
        gy = gxy[:, 1].floor().long().clamp(0, gh - 1)
        out.append(LevelTargets(b=t[:, 0].long(), a=a, gy=gy, gx=gx,
                                box=torch.cat([t[:, 2:4] * scale, t[:, 4:6] * scale], 1),
                                anchor=level_anchors.to(device, targets.dtype)[a],
                                cls=t[:, 1].long(), gt=kept[g]))
    return out

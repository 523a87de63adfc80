"""YOLOv3 head: one 1x1 conv per level, raw maps out (decoding, loss and NMS live elsewhere)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..specs import FeatureSpec

YOLOV3_ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))


@torch.no_grad()
def prior_bias(conv: nn.Conv2d, num_anchors: int, num_classes: int, stride: float, img_size: int = 640) -> None:
    """Set an output conv's bias [A * (5 + nc)] so objectness starts near 8 objects per image
    and classes near 1 / num_classes (yolov5's prior): early training is then not swamped by
    background. Box biases are left alone."""
    b = conv.bias.view(num_anchors, 5 + num_classes)
    b[:, 4] = math.log(8 / (img_size / stride) ** 2)
    b[:, 5:] = math.log(0.6 / (num_classes - 0.99))


class YOLOHead(nn.Module):
    """Per level: [B, C_k, H_k, W_k] -> [B, A_k * (5 + num_classes), H_k, W_k].

    Channel layout per anchor is Darknet's: tx, ty, tw, th, objectness, class logits.
    ``anchors`` holds, for each neck output in order, a flat list of (w, h) pixel pairs.
    """

    def __init__(self, in_specs: list[FeatureSpec], *, num_classes: int = 80,
                 anchors=YOLOV3_ANCHORS, scale_x_y: float | list[float] = 1.0):
        super().__init__()
        if len(anchors) != len(in_specs):
            raise ValueError(f"yolo head: {len(anchors)} anchor groups for {len(in_specs)} neck outputs "
                             f"{[s.name for s in in_specs]}")
        for a in anchors:
            if len(a) % 2 or not a:
                raise ValueError(f"yolo head: anchors {list(a)} must be (w, h) pairs")
        self.num_classes = num_classes
        self.anchors = [torch.tensor(a, dtype=torch.float32).view(-1, 2) for a in anchors]
        self.strides = [s.stride for s in in_specs]
        n = len(in_specs)
        self.scale_x_y = list(scale_x_y) if isinstance(scale_x_y, (list, tuple)) else [float(scale_x_y)] * n
        self.no = 5 + num_classes
        self.convs = nn.ModuleList(nn.Conv2d(s.channels, len(a) * self.no, 1)
                                   for s, a in zip(in_specs, self.anchors))
        self.reset_bias()

    def reset_bias(self, img_size: int = 640) -> None:
        """yolov5's objectness and class prior on every output conv (see ``prior_bias``)."""
        for conv, stride, a in zip(self.convs, self.strides, self.anchors):
            prior_bias(conv, len(a), self.num_classes, stride, img_size)

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [conv(x) for conv, x in zip(self.convs, feats.values())]

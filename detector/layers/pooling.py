"""Spatial pyramid pooling as YOLOv4 uses it."""
from __future__ import annotations

import torch
import torch.nn as nn


class SPP(nn.Module):
    """Stride-1 max pools of several sizes concatenated with the input.

    The order ``[pool13, pool9, pool5, x]`` is Darknet's (``route=-1,-3,-5,-6`` in yolov4.cfg),
    so weights trained in Darknet see channels where they expect them.
    Input [B, C, H, W] -> output [B, C * (len(sizes) + 1), H, W].
    """

    def __init__(self, sizes: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in reversed(self.pools)] + [x], 1)

"""Darknet53 (YOLOv3) and CSPDarknet53 (CSPNet / YOLOv4 backbone).

Layer for layer these follow ``darknet53.cfg`` and ``csdarknet53-omega.cfg`` (layers 0-104 are
YOLOv4's backbone), so Darknet weights map onto them in order.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...layers import ConvBNAct
from .base import Backbone

WIDTHS = (64, 128, 256, 512, 1024)
DEPTHS = (1, 2, 8, 8, 4)


class Residual(nn.Module):
    """x + 3x3(1x1(x)), no activation after the add (Darknet ``shortcut activation=linear``)."""

    def __init__(self, c: int, hidden: int, act: str):
        super().__init__()
        self.conv1 = ConvBNAct(c, hidden, 1, act=act)
        self.conv2 = ConvBNAct(hidden, c, 3, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class DarkStage(nn.Module):
    """3x3/2 downsample C_in -> C, then n residual blocks (hidden C/2). [B,C_in,H,W] -> [B,C,H/2,W/2]."""

    def __init__(self, c_in: int, c: int, n: int, act: str):
        super().__init__()
        self.down = ConvBNAct(c_in, c, 3, 2, act=act)
        self.blocks = nn.Sequential(*(Residual(c, c // 2, act) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.down(x))


class CSPDarkStage(nn.Module):
    """CSP stage: 3x3/2 down, bypass 1x1 and main 1x1 from it, n residuals, post 1x1, then
    concat[main, bypass] and a 1x1 fuse. The first stage keeps full width in its halves and a
    C/2 hidden width in its block, as the cfg does. [B,C_in,H,W] -> [B,C,H/2,W/2]."""

    def __init__(self, c_in: int, c: int, n: int, act: str, first: bool):
        super().__init__()
        half = c if first else c // 2
        self.down = ConvBNAct(c_in, c, 3, 2, act=act)
        self.bypass = ConvBNAct(c, half, 1, act=act)
        self.main = ConvBNAct(c, half, 1, act=act)
        self.blocks = nn.Sequential(*(Residual(half, c // 2 if first else half, act) for _ in range(n)))
        self.post = ConvBNAct(half, half, 1, act=act)
        self.fuse = ConvBNAct(2 * half, c, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        y = self.post(self.blocks(self.main(x)))
        # Darknet's route order is [main, bypass] ("layers=-1,-7").
        return self.fuse(torch.cat([y, self.bypass(x)], 1))


class _Darknet(Backbone):
    def __init__(self, stage_fn, act: str):
        super().__init__()
        self.stages["stem"] = ConvBNAct(3, 32, 3, act=act)
        c, stride = 32, 1
        for i, (w, n) in enumerate(zip(WIDTHS, DEPTHS)):
            self.stages[f"stage{i + 1}"] = stage_fn(c, w, n, act, i == 0)
            c, stride = w, stride * 2
            if i >= 1:
                self.tap(f"stage{i + 1}", f"c{i + 1}", c, stride)


class Darknet53(_Darknet):
    """YOLOv3's Darknet53: stages of [1, 2, 8, 8, 4] residual blocks; c2..c5 = 128..1024 channels."""

    def __init__(self, act: str = "leaky"):
        super().__init__(lambda c_in, c, n, a, first: DarkStage(c_in, c, n, a), act)


class CSPDarknet53(_Darknet):
    """CSPDarknet53 with Mish, as csdarknet53-omega.cfg and YOLOv4 (27.61M / 13.07 BF at 256)."""

    def __init__(self, act: str = "mish"):
        super().__init__(CSPDarkStage, act)

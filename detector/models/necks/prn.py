"""Partial Residual Network head of yolov3-tiny-prn.cfg, on a backbone's c4 and c5."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ...layers import ConvBNAct, make_act, partial_add
from ..specs import FeatureSpec
from .base import Neck, upsample


class PRN(Neck):
    """Two outputs, p4 (stride 16) and p5 (stride 32), joined by Darknet partial adds (the first
    min(C1, C2) channels are summed, the rest pass through; yolov3-tiny-prn.cfg layers 14-26).

    p5 = act(3x3(1x1(c5)) + 1x1(c5)); p4 = act(act(3x3(u) + u) + c4) with
    u = act(up(1x1(3x3 branch)) + c4). Widths 256 / 128 as in the cfg.
    """

    def __init__(self, in_specs: list[FeatureSpec], *, width: int = 256, act: str = "leaky"):
        super().__init__()
        s4, s5 = self.require(in_specs, ("c4", "c5"), "prn")
        w4 = width // 2
        self.reduce5 = ConvBNAct(s5.channels, width, 1, act=act)
        self.conv5 = ConvBNAct(width, width, 3, act=act)
        self.reduce4 = nn.Sequential(ConvBNAct(width, w4, 1, act=act), upsample())
        self.conv4 = ConvBNAct(w4, w4, 3, act=act)
        self.act = make_act(act)
        self.out_specs = [FeatureSpec("p4", w4, s4.stride), FeatureSpec("p5", width, s5.stride)]

    def forward(self, feats):
        c4 = feats["c4"]
        r5 = self.reduce5(feats["c5"])
        y5 = self.conv5(r5)
        p5 = self.act(partial_add(r5, y5))
        u = self.reduce4(y5)
        u1 = self.act(partial_add(c4, u))
        p4 = self.act(partial_add(c4, self.act(partial_add(u, self.conv4(u1)))))
        return OrderedDict(p4=p4, p5=p5)

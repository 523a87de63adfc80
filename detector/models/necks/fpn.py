"""YOLOv3's feature pyramid (yolov3.cfg) and YOLOv4's PANet with SPP (yolov4.cfg)."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ...layers import SPP, ConvBNAct
from ..specs import FeatureSpec
from .base import Neck, upsample


def conv_set(c_in: int, c: int, act: str, n: int = 5, spp: bool = False) -> nn.Sequential:
    """YOLO's alternating 1x1 c / 3x3 2c stack of ``n`` convs ending on a 1x1 to c.

    With ``spp`` an SPP sits after the third conv and is followed by a 1x1 that takes the
    4c-wide pooled concat back to c (yolov4.cfg's layers 107-116)."""
    layers, ch = [], c_in
    for i in range(n):
        k, out = (1, c) if i % 2 == 0 else (3, 2 * c)
        layers.append(ConvBNAct(ch, out, k, act=act))
        ch = out
        if spp and i == 2:
            layers += [SPP(), ConvBNAct(4 * c, c, 1, act=act)]
            ch = c
    return nn.Sequential(*layers)


class FPN(Neck):
    """YOLOv3 top-down pyramid over c3, c4, c5 -> p3, p4, p5 (the 3x3 conv before each YOLO
    layer is part of the neck; the head is only the 1x1 output conv)."""

    def __init__(self, in_specs: list[FeatureSpec], *, width: int = 512, act: str = "leaky"):
        super().__init__()
        s3, s4, s5 = self.require(in_specs, ("c3", "c4", "c5"), "fpn")
        w5 = width  # 512 in yolov3.cfg, yolov4.cfg and csresnext50-panet-spp.cfg, whatever C5 is
        w4, w3 = w5 // 2, w5 // 4
        self.set5 = conv_set(s5.channels, w5, act)
        self.lat4 = nn.Sequential(ConvBNAct(w5, w4, 1, act=act), upsample())
        self.set4 = conv_set(w4 + s4.channels, w4, act)
        self.lat3 = nn.Sequential(ConvBNAct(w4, w3, 1, act=act), upsample())
        self.set3 = conv_set(w3 + s3.channels, w3, act)
        self.out5, self.out4, self.out3 = (ConvBNAct(w, 2 * w, 3, act=act) for w in (w5, w4, w3))
        self.out_specs = [FeatureSpec("p3", 2 * w3, s3.stride), FeatureSpec("p4", 2 * w4, s4.stride),
                          FeatureSpec("p5", 2 * w5, s5.stride)]

    def forward(self, feats):
        x5 = self.set5(feats["c5"])
        x4 = self.set4(torch.cat([self.lat4(x5), feats["c4"]], 1))  # yolov3.cfg: route -1, 61
        x3 = self.set3(torch.cat([self.lat3(x4), feats["c3"]], 1))
        return OrderedDict(p3=self.out3(x3), p4=self.out4(x4), p5=self.out5(x5))


class PANetSPP(Neck):
    """YOLOv4 neck: SPP on c5, top-down path, then bottom-up path (PANet) -> p3, p4, p5."""

    # Sub-modules in yolov4.cfg's (and csresnext50-panet-spp.cfg's) layer order, which
    # copy_darknet_weights follows; "p3" stands for the head conv reading p3.
    darknet_order = ("set5", "up5", "lat4", "set4", "up4", "lat3", "set3", "out3", "p3",
                     "down3", "pan4", "out4", "p4", "down4", "pan5", "out5", "p5")

    def __init__(self, in_specs: list[FeatureSpec], *, width: int = 512, act: str = "leaky"):
        super().__init__()
        s3, s4, s5 = self.require(in_specs, ("c3", "c4", "c5"), "panet_spp")
        w5 = width  # 512 in yolov3.cfg, yolov4.cfg and csresnext50-panet-spp.cfg, whatever C5 is
        w4, w3 = w5 // 2, w5 // 4
        self.set5 = conv_set(s5.channels, w5, act, n=6, spp=True)[:-1]  # 1x1, 3x3, 1x1, SPP, 1x1, 3x3, 1x1
        self.up5 = nn.Sequential(ConvBNAct(w5, w4, 1, act=act), upsample())
        self.lat4 = ConvBNAct(s4.channels, w4, 1, act=act)
        self.set4 = conv_set(2 * w4, w4, act)
        self.up4 = nn.Sequential(ConvBNAct(w4, w3, 1, act=act), upsample())
        self.lat3 = ConvBNAct(s3.channels, w3, 1, act=act)
        self.set3 = conv_set(2 * w3, w3, act)
        self.down3 = ConvBNAct(w3, w4, 3, 2, act=act)
        self.pan4 = conv_set(2 * w4, w4, act)
        self.down4 = ConvBNAct(w4, w5, 3, 2, act=act)
        self.pan5 = conv_set(2 * w5, w5, act)
        self.out3, self.out4, self.out5 = (ConvBNAct(w, 2 * w, 3, act=act) for w in (w3, w4, w5))
        self.out_specs = [FeatureSpec("p3", 2 * w3, s3.stride), FeatureSpec("p4", 2 * w4, s4.stride),
                          FeatureSpec("p5", 2 * w5, s5.stride)]

    def forward(self, feats):
        x5 = self.set5(feats["c5"])
        x4 = self.set4(torch.cat([self.lat4(feats["c4"]), self.up5(x5)], 1))  # yolov4.cfg order
        x3 = self.set3(torch.cat([self.lat3(feats["c3"]), self.up4(x4)], 1))
        y4 = self.pan4(torch.cat([self.down3(x3), x4], 1))
        y5 = self.pan5(torch.cat([self.down4(y4), x5], 1))
        return OrderedDict(p3=self.out3(x3), p4=self.out4(y4), p5=self.out5(y5))

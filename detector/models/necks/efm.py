"""Exact Fusion Model (CSPNet section 3.2, Fig. 6(c)), reconstructed.

Each output level s in {8, 16, 32} fuses the backbone maps of scales s-1, s and s+1 (the
coarser one through the top-down path), Maxout-compressing every map before the concat so the
fused pyramid stays small; a bottom-up path of stride-2 3x3 convs then links the three
prediction blocks (pred8 -> pred16 -> pred32), each of which feeds one YOLO output.

The paper publishes the totals, not the wiring (ARCHITECTURE.md section 8.4). Choices, each
kept because the published totals follow from it (tests/test_counts.py holds them):
- s-1 maps come down through a 2x2/2 max pool (zero FLOPs: Fig. 7 shows about 12 zero-FLOP
  max/maxout layers = 3 pools + 8 Maxouts + the SPP-free head);
- Maxout keeps 1 of every 2 channels (``ratio=2``);
- each same-scale map passes a lateral conv before its Maxout: 1x1 at full width for C3 and
  C4, and for C5 1x1 640->256 then 3x3 256->256 (the two C5 bars of Fig. 7);
- fused widths 128/256/256 at strides 8/16/32, so the optional SAM (1x1 gate on each fused
  map) costs exactly the +0.200 BFLOPs of Table 2;
- prediction widths 64/128/128 and bottom-up convs 64->128 and 128->256 (Fig. 7's bars);
- the result: CSPPeleeNet-EFM 4.854 BFLOPs at 416 (paper 4.868), EFM(SAM) 5.053 / 7.654 at
  416 / 512 (paper 5.068 / 7.68) with 4.28M weights (paper 4.31M).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ...layers import SAM, ConvBNAct, Maxout
from ..specs import FeatureSpec
from .base import Neck, upsample


class Compress(nn.Module):
    """Maxout keeping ``1/ratio`` of the channels: [B, C, H, W] -> [B, C / ratio, H, W]."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        if channels % ratio:
            raise ValueError(f"EFM: {channels} channels cannot be Maxout-compressed by {ratio}")
        self.maxout = Maxout(channels // ratio)
        self.out_channels = channels // ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxout(x)


class FusionNode(nn.Module):
    """concat[Maxout(pool(finer)), Maxout(lateral(same)), Maxout(up(coarser))] -> 1x1 -> [SAM].

    The coarser map is Maxout-compressed before the nearest 2x upsampling, which only repeats
    pixels: the same values, with the max taken on a quarter of the pixels.
    """

    def __init__(self, finer: int, lateral: nn.Module, lateral_channels: int, coarser: int | None,
                 width: int, ratio: int, act: str, sam: bool):
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.lateral = lateral
        self.c_finer = Compress(finer, ratio)
        self.c_same = Compress(lateral_channels, ratio)
        self.c_coarser = Compress(coarser, ratio) if coarser else None
        self.up = upsample()
        c = self.c_finer.out_channels + self.c_same.out_channels
        c += self.c_coarser.out_channels if self.c_coarser else 0
        self.fuse = ConvBNAct(c, width, 1, act=act)
        self.sam = SAM(width) if sam else nn.Identity()

    def forward(self, finer, same, coarser=None):
        parts = [self.c_finer(self.pool(finer)), self.c_same(self.lateral(same))]
        if self.c_coarser is not None:
            parts.append(self.up(self.c_coarser(coarser)))
        return self.sam(self.fuse(torch.cat(parts, 1)))


class EFM(Neck):
    """Exact Fusion Model over backbone maps c2..c5 -> p3 (stride 8), p4 (16), p5 (32)."""

    def __init__(self, in_specs: list[FeatureSpec], *, widths=(128, 256, 256), pred_widths=(64, 128, 128),
                 c5_width: int = 256, ratio: int = 2, sam: bool = False, act: str = "leaky"):
        super().__init__()
        c2, c3, c4, c5 = (s.channels for s in self.require(in_specs, ("c2", "c3", "c4", "c5"), "efm"))
        s3 = self.require(in_specs, ("c3",), "efm")[0].stride
        w3, w4, w5 = widths
        q3, q4, q5 = pred_widths
        lateral5 = nn.Sequential(ConvBNAct(c5, c5_width, 1, act=act), ConvBNAct(c5_width, c5_width, 3, act=act))
        self.node5 = FusionNode(c4, lateral5, c5_width, None, w5, ratio, act, sam)
        self.node4 = FusionNode(c3, ConvBNAct(c4, c4, 1, act=act), c4, w5, w4, ratio, act, sam)
        self.node3 = FusionNode(c2, ConvBNAct(c3, c3, 1, act=act), c3, w4, w3, ratio, act, sam)
        self.pred3 = ConvBNAct(w3, q3, 3, act=act)
        self.down3 = ConvBNAct(q3, 2 * q3, 3, 2, act=act)
        self.pred4 = nn.Sequential(ConvBNAct(2 * q3 + w4, q4, 1, act=act), ConvBNAct(q4, q4, 3, act=act))
        self.down4 = ConvBNAct(q4, 2 * q4, 3, 2, act=act)
        self.pred5 = nn.Sequential(ConvBNAct(2 * q4 + w5, q5, 1, act=act), ConvBNAct(q5, q5, 3, act=act))
        self.out_specs = [FeatureSpec("p3", q3, s3), FeatureSpec("p4", q4, 2 * s3), FeatureSpec("p5", q5, 4 * s3)]

    def forward(self, feats: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, torch.Tensor]":
        c2, c3, c4, c5 = feats["c2"], feats["c3"], feats["c4"], feats["c5"]
        n5 = self.node5(c4, c5)
        n4 = self.node4(c3, c4, n5)
        n3 = self.node3(c2, c3, n4)
        p3 = self.pred3(n3)
        p4 = self.pred4(torch.cat([self.down3(p3), n4], 1))
        p5 = self.pred5(torch.cat([self.down4(p4), n5], 1))
        return OrderedDict(p3=p3, p4=p4, p5=p5)

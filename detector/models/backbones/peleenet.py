"""PeleeNet (Wang et al. 2018) and CSPPeleeNet (CSPNet Fig. 3(b), gamma = 0.5).

CSPPeleeNet was never released; ARCHITECTURE.md section 2 reconstructs it from three published
figures at once (2.83M weights / 0.888 BFLOPs at 224, 3.590 BFLOPs with the tiny-PRN head at
416, and the per-layer bars of Fig. 7). The choices that reconstruction leaves open are noted
where they are made below.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...layers import ConvBNAct
from ..specs import FeatureSpec
from .base import Backbone

GROWTH = 32  # each two-way dense layer adds 32 channels (16 per branch) at width 1


def bottleneck_width(c_in: int, width_mult: int, growth: int = GROWTH) -> int:
    """PeleeNet's inner width ``int(k/2 * bw / 4) * 4``, cut down if it exceeds c_in / 2."""
    inner = int(growth // 2 * width_mult / 4) * 4
    if inner > c_in / 2:
        inner = int(c_in / 8) * 4
    return max(inner, 4)


class DenseLayer(nn.Module):
    """Two-way dense layer: concat[x, 1x1->3x3, 1x1->3x3->3x3]; [B, C, H, W] -> [B, C + k, H, W]."""

    def __init__(self, c_in: int, width_mult: int, act: str, growth: int = GROWTH):
        super().__init__()
        inner, half = bottleneck_width(c_in, width_mult, growth), growth // 2
        self.branch_a = nn.Sequential(ConvBNAct(c_in, inner, 1, act=act),
                                      ConvBNAct(inner, half, 3, act=act))
        self.branch_b = nn.Sequential(ConvBNAct(c_in, inner, 1, act=act),
                                      ConvBNAct(inner, half, 3, act=act),
                                      ConvBNAct(half, half, 3, act=act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.branch_a(x), self.branch_b(x)], 1)


def dense_block(c_in: int, n: int, width_mult: int, act: str, growth: int = GROWTH) -> tuple[nn.Sequential, int]:
    layers = [DenseLayer(c_in + i * growth, width_mult, act, growth) for i in range(n)]
    return nn.Sequential(*layers), c_in + n * growth


class StemBlock(nn.Module):
    """PeleeNet stem: 3x3/2 conv, then a conv branch (1x1, 3x3/2) beside a 2x2 max pool.

    ``csp=True`` is the CSPPeleeNet stem: no final 1x1 fuse, and a 1x1 32->32 on the pool
    branch. That 1x1 is inferred (ARCHITECTURE.md section 8.1): without it the classifier is
    0.881 BFLOPs, with it 0.888 as published. [B, 3, H, W] -> [B, out_channels, H/4, W/4].
    """

    def __init__(self, act: str, csp: bool, c: int = 32):
        super().__init__()
        self.stem = ConvBNAct(3, c, 3, 2, act=act)
        self.branch_conv = nn.Sequential(ConvBNAct(c, c // 2, 1, act=act), ConvBNAct(c // 2, c, 3, 2, act=act))
        pool = [nn.MaxPool2d(2, 2, ceil_mode=True)]
        if csp:
            pool.append(ConvBNAct(c, c, 1, act=act))
        self.branch_pool = nn.Sequential(*pool)
        self.fuse = nn.Identity() if csp else ConvBNAct(2 * c, c, 1, act=act)
        self.out_channels = 2 * c if csp else c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.fuse(torch.cat([self.branch_conv(x), self.branch_pool(x)], 1))


class PeleeStage(nn.Module):
    """Dense block then transition 1x1 (C -> C), optionally followed by 2x2 average pooling."""

    def __init__(self, c_in: int, n: int, width_mult: int, pool: bool, act: str, growth: int = GROWTH):
        super().__init__()
        self.dense, c = dense_block(c_in, n, width_mult, act, growth)
        self.transition = ConvBNAct(c, c, 1, act=act)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if pool else nn.Identity()
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.transition(self.dense(x)))


class CSPPeleeStage(nn.Module):
    """CSP dense stage, Fig. 3(b) with both transitions.

    Two 1x1 convs split the input (C -> C/2 each; the paper's figures need convs, not a channel
    slice); the dense block and a partial transition (PT, 1x1 same width) run on part 2; the
    concat [part1, PT] is pooled, then the transition T (1x1) runs *after* the pool, which is
    what the per-layer FLOPs of Fig. 7 show. Pooling is 2x2 max: the 2019 Darknet the paper was
    trained in had no local average pool (ARCHITECTURE.md section 8.1).
    """

    def __init__(self, c_in: int, n: int, width_mult: int, pool: bool, act: str, growth: int = GROWTH):
        super().__init__()
        half = c_in // 2
        self.part1 = ConvBNAct(c_in, half, 1, act=act)
        self.part2 = ConvBNAct(c_in, half, 1, act=act)
        self.dense, c = dense_block(half, n, width_mult, act, growth)
        self.partial_transition = ConvBNAct(c, c, 1, act=act)
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True) if pool else nn.Identity()
        self.out_channels = half + c
        self.transition = ConvBNAct(self.out_channels, self.out_channels, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.partial_transition(self.dense(self.part2(x)))
        return self.transition(self.pool(torch.cat([self.part1(x), y], 1)))


class _Pelee(Backbone):
    """Shared skeleton: stem (c2, stride 4) and four stages; c3 and c4 are stages 1-2, c5 the
    last stage (stages 3 and 4 both run at stride 32: the last stage has no pool)."""

    def __init__(self, depths, width_mults, stage_cls, csp: bool, act: str, width: float = 1.0):
        super().__init__()
        if width <= 0 or len(depths) != len(width_mults) or not all(d >= 1 for d in depths):
            raise ValueError(f"peleenet: width must be > 0 and depths {list(depths)} four positive counts")
        growth = max(8, int(round(GROWTH * width / 8)) * 8)  # keeps both branches a multiple of 4
        stem = StemBlock(act, csp, max(8, int(round(32 * width / 8)) * 8))
        self.stages["stem"] = stem
        c, stride = stem.out_channels, 4
        self.tap("stem", "c2", c, stride)
        levels = {0: "c3", 1: "c4", len(depths) - 1: "c5"}
        for i, (n, bw) in enumerate(zip(depths, width_mults)):
            pool = i < len(depths) - 1
            stage = stage_cls(c, n, bw, pool, act, growth)
            self.stages[f"stage{i + 1}"] = stage
            c, stride = stage.out_channels, stride * (2 if pool else 1)
            if i in levels:
                self.tap(f"stage{i + 1}", levels[i], c, stride)


class PeleeNet(_Pelee):
    """PeleeNet: dense layers [3, 4, 8, 6], 704 channels at stride 32, ReLU (official).

    ``width`` scales the stem and the growth rate, ``depths`` the dense layers per stage; the
    defaults are the published model."""

    def __init__(self, act: str = "relu", width: float = 1.0, depths=(3, 4, 8, 6)):
        super().__init__(tuple(depths), (1, 2, 4, 4), PeleeStage, csp=False, act=act, width=width)


class CSPPeleeNet(_Pelee):
    """CSPPeleeNet: CSP stages with dense layers [2, 4, 8, 4], 640 channels at stride 32, leaky.

    ``width`` and ``depths`` as for PeleeNet; the defaults are the paper's model."""

    def __init__(self, act: str = "leaky", width: float = 1.0, depths=(2, 4, 8, 4)):
        super().__init__(tuple(depths), (1, 2, 4, 4), CSPPeleeStage, csp=True, act=act, width=width)

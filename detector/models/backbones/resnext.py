"""ResNeXt50 (32 groups) and CSPResNeXt50, as Darknet builds them.

Darknet's ``resnext50.cfg`` has no projection convs: a block whose input differs in width or
resolution from its output adds the input's first channels, sampled at the block stride
(Darknet's ``shortcut`` partial add). That is why its counts (22.19M / 10.11 BF at 256) sit
below torchvision's ResNeXt50.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...layers import ConvBNAct, make_act, partial_add
from .base import Backbone

GROUPS = 32


class Bottleneck(nn.Module):
    """1x1 -> 3x3 grouped (stride s) -> 1x1 linear, Darknet shortcut, then leaky."""

    def __init__(self, c_in: int, width: int, c_out: int, s: int = 1):
        super().__init__()
        self.conv1 = ConvBNAct(c_in, width, 1)
        self.conv2 = ConvBNAct(width, width, 3, s, groups=GROUPS)
        self.conv3 = ConvBNAct(width, c_out, 1, act="linear")
        self.act = make_act("leaky")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(partial_add(x, self.conv3(self.conv2(self.conv1(x)))))


class Stem(nn.Sequential):
    """7x7/2 conv to 64 and a 2x2/2 max pool: [B, 3, H, W] -> [B, 64, H/4, W/4]."""

    def __init__(self):
        super().__init__(ConvBNAct(3, 64, 7, 2), nn.MaxPool2d(2, 2))


class ResNeXt50(Backbone):
    """ResNeXt50 in Darknet form: blocks [3, 4, 6, 3], widths 128..1024, outputs 256..2048."""

    def __init__(self):
        super().__init__()
        self.stages["stem"] = Stem()
        c = 64
        for i, n in enumerate((3, 4, 6, 3)):
            width = 128 << i
            blocks = [Bottleneck(c if j == 0 else 2 * width, width, 2 * width, 2 if i and j == 0 else 1)
                      for j in range(n)]
            self.stages[f"stage{i + 1}"] = nn.Sequential(*blocks)
            c = 2 * width
            self.tap(f"stage{i + 1}", f"c{i + 2}", c, 4 << i)


class CSPResNeXtStage(nn.Module):
    """CSP stage of csresnext50.cfg: [3x3/2 grouped down], bypass 1x1 and main 1x1, n blocks,
    post 1x1, concat[main, bypass], 1x1 fuse to 2C. Both split 1x1s (bypass and main) are linear
    in stages 2-3, as in the cfg; the first stage's first block adds its 64-channel input into 128
    (partial add)."""

    def __init__(self, c_in: int, c: int, n: int, down: bool, split_act: str):
        super().__init__()
        self.down = ConvBNAct(c_in, c_in, 3, 2, groups=GROUPS) if down else nn.Identity()
        main_c = c_in if not down else c
        self.bypass = ConvBNAct(c_in, c, 1, act=split_act)
        self.main = ConvBNAct(c_in, main_c, 1, act=split_act)
        self.blocks = nn.Sequential(*(Bottleneck(main_c if j == 0 else c, c, c) for j in range(n)))
        self.post = ConvBNAct(c, c, 1)
        self.fuse = ConvBNAct(2 * c, 2 * c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        y = self.post(self.blocks(self.main(x)))
        return self.fuse(torch.cat([y, self.bypass(x)], 1))


class CSPResNeXt50(Backbone):
    """CSPResNeXt50 (csresnext50.cfg): blocks [3, 3, 5, 2]; c2..c5 = 256..2048 channels."""

    def __init__(self):
        super().__init__()
        self.stages["stem"] = Stem()
        c_in = 64
        for i, n in enumerate((3, 3, 5, 2)):
            c = 128 << i
            split_act = "linear" if i in (1, 2) else "leaky"
            self.stages[f"stage{i + 1}"] = CSPResNeXtStage(c_in, c, n, down=i > 0, split_act=split_act)
            c_in = 2 * c
            self.tap(f"stage{i + 1}", f"c{i + 2}", c_in, 4 << i)

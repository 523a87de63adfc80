"""Spatial attention module (SAM) in Darknet's form."""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv import ConvBNAct


class SAM(nn.Module):
    """``y = x * sigmoid(conv(x))`` with a C -> C conv (Darknet ``[convolutional]
    activation=logistic`` followed by ``[sam] from=-2``, ``src/sam_layer.c``).

    Input and output [B, C, H, W].
    """

    def __init__(self, channels: int, k: int = 1):
        super().__init__()
        self.gate = ConvBNAct(channels, channels, k, act="logistic")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)

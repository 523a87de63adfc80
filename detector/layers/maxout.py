"""Maxout channel compression, as Darknet's ``[maxpool] maxpool_depth=1 out_channels=N``."""
from __future__ import annotations

import torch
import torch.nn as nn


class Maxout(nn.Module):
    """Channel-wise max over interleaved groups; no parameters, H x W unchanged.

    ``out[:, g] = max_m x[:, g + m * N]`` for N = ``out_channels`` (Darknet's
    ``maxpool_layer.c`` loop ``for (k = g; k < c; k += out_c)``). Those are contiguous chunks of
    N channels, so the max is taken over chunk slices: this exports to ONNX as constant-index
    ``Slice`` + ``Max``, which every backend (OpenCV DNN, TensorRT 8.2) accepts, unlike a
    reshape to 5-D followed by ``ReduceMax``.

    Input [B, C, H, W] with C a multiple of N -> output [B, N, H, W].
    """

    def __init__(self, out_channels: int):
        super().__init__()
        if out_channels < 1:
            raise ValueError(f"Maxout out_channels must be >= 1, got {out_channels}")
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.out_channels
        c = int(x.shape[1])
        if c % n:
            raise ValueError(f"Maxout: {c} input channels is not a multiple of out_channels={n}")
        y = x[:, :n]
        for start in range(n, c, n):
            y = torch.maximum(y, x[:, start:start + n])
        return y

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}"

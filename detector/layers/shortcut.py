"""Darknet's shortcut add, the one implementation every model here uses."""
from __future__ import annotations

import torch


def partial_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Add ``x`` into ``y``'s first min(Cx, Cy) channels; the rest of ``y`` passes through.

    A larger ``x`` is first sampled at ``y``'s resolution (``x[..., ::s, ::s]``, pjreddie's
    ``shortcut_cpu``), which is how Darknet's resnext50.cfg joins blocks without projection
    convs. No empty channel slice is ever built: OpenCV DNN refuses zero-size tensors in ONNX.
    [B, Cx, H*s, W*s], [B, Cy, H, W] -> [B, Cy, H, W].
    """
    s = x.shape[-1] // y.shape[-1]
    if s > 1:
        x = x[..., ::s, ::s]
    c = min(x.shape[1], y.shape[1])
    if x.shape[1] > c:
        x = x[:, :c]
    if c == y.shape[1]:
        return y + x
    return torch.cat([y[:, :c] + x, y[:, c:]], 1)

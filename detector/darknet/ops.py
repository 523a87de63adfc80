"""PyTorch modules for the Darknet layer types that have no equivalent in ``detector.layers``.

Every module here takes its inputs positionally: the previous layer's output first, then the
outputs of the layers named by ``layers=`` / ``from=`` in cfg order. Shapes are NCHW throughout;
layers that Darknet treats as flat vectors (connected, softmax) keep a [B, N, 1, 1] layout.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from detector.layers import make_act, partial_add


class Route(nn.Module):
    """Concatenate inputs along channels; with ``groups`` keep slice ``group_id`` of *each* input.

    Darknet (``route_layer.c``) slices every input before concatenating, not the concatenation,
    so ``layers=-1,-2 groups=2 group_id=1`` is ``cat(a[:, Ca/2:], b[:, Cb/2:])``.
    Inputs [B, Ci, H, W] -> [B, sum(Ci) / groups, H, W].
    """

    def __init__(self, groups: int = 1, group_id: int = 0):
        super().__init__()
        self.groups, self.group_id = groups, group_id

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.groups > 1:
            parts = []
            for x in inputs:
                step = x.shape[1] // self.groups
                parts.append(x[:, self.group_id * step:(self.group_id + 1) * step])
            inputs = tuple(parts)
        return inputs[0] if len(inputs) == 1 else torch.cat(inputs, 1)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, group_id={self.group_id}" if self.groups > 1 else ""


class Shortcut(nn.Module):
    """``act(x + sum(from_i))`` with Darknet's partial add when channel counts differ.

    Darknet adds element ``i`` of a source only where ``i`` is inside both tensors
    (``shortcut_multilayer_cpu`` in ``blas.c``); with equal H x W that is the first
    ``min(C, C_from)`` channels, and the output keeps the previous layer's C channels.
    Inputs x [B, C, H, W], from_i [B, C_i, H, W] -> [B, C, H, W].
    """

    def __init__(self, act: str = "linear"):
        super().__init__()
        self.act = make_act(act)

    def forward(self, x: torch.Tensor, *sources: torch.Tensor) -> torch.Tensor:
        for src in sources:  # equal H x W is checked when the cfg is planned
            x = partial_add(src, x)
        return self.act(x)


class _PaddedMaxPool(torch.autograd.Function):
    """Max pool after -inf padding (top, left, bottom, right) that exports as one ONNX MaxPool
    with those ``pads``, not a Pad filled with -inf: INT8 calibration reads every tensor's range,
    and a -inf in one gives infinite quantization scales."""

    @staticmethod
    def forward(ctx, x, size: int, stride: tuple, pads: tuple):
        top, left, bottom, right = pads
        return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=float("-inf")), size, stride)

    @staticmethod
    def symbolic(g, x, size: int, stride: tuple, pads: tuple):
        return g.op("MaxPool", x, kernel_shape_i=[size, size], strides_i=list(stride), pads_i=list(pads))


class MaxPool(nn.Module):
    """Darknet max pooling: window ``size``, strides (x, y), ``padding`` total pad per axis.

    Darknet starts windows at ``-padding // 2`` and reads out-of-image cells as -FLT_MAX, giving
    ``(W + padding - size) // stride_x + 1`` columns; the rest of the padding goes right/bottom.
    Input [B, C, H, W] -> [B, C, (H + p - size) // sy + 1, (W + p - size) // sx + 1].
    """

    def __init__(self, size: int, stride_x: int, stride_y: int, padding: int):
        super().__init__()
        self.size, self.stride, self.padding = size, (stride_y, stride_x), padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = self.padding // 2
        trail = self.padding - lead
        if lead == trail and lead <= self.size // 2:
            # Symmetric case: PyTorch's own -inf padding, and a plain MaxPool in ONNX exports.
            return F.max_pool2d(x, self.size, self.stride, lead)
        if torch.onnx.is_in_onnx_export() and trail < self.size:
            # Uneven (size 2: lead 0, trail 1); ONNX Runtime's MaxPool takes pads below the kernel size.
            return _PaddedMaxPool.apply(x, self.size, self.stride, (lead, lead, trail, trail))
        x = F.pad(x, (lead, trail, lead, trail), value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}, padding={self.padding}"


class Upsample(nn.Module):
    """Nearest-neighbour upsampling by an integer ``stride``, times Darknet's ``scale``.

    Input [B, C, H, W] -> [B, C, H * stride, W * stride].
    """

    def __init__(self, stride: int, scale: float = 1.0):
        super().__init__()
        self.stride, self.scale = stride, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.interpolate(x, scale_factor=float(self.stride), mode="nearest")
        return y * self.scale if self.scale != 1.0 else y


class GlobalAvgPool(nn.Module):
    """Darknet ``[avgpool]``: mean over H x W. [B, C, H, W] -> [B, C, 1, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=True)


class Softmax(nn.Module):
    """Softmax over the flattened C*H*W values, split into ``groups`` contiguous chunks.

    Darknet's ``softmax_cpu`` sees a layer as one flat vector; with ``groups`` each contiguous
    1/groups of it is normalised separately. Shape is unchanged.
    """

    def __init__(self, groups: int = 1, temperature: float = 1.0):
        super().__init__()
        self.groups, self.temperature = groups, temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], self.groups, -1)
        if self.temperature != 1.0:
            flat = flat / self.temperature
        return torch.softmax(flat, -1).reshape(x.shape)


class ScaleBy(nn.Module):
    """``act(source * x)`` with broadcasting: Darknet ``[sam]`` and ``[scale_channels]``.

    ``[sam]`` multiplies element-wise (x and source both [B, C, H, W]); ``[scale_channels]``
    scales the source [B, C, H, W] by x [B, C, 1, 1] (per channel) or, with ``scale_wh=1``,
    by x [B, 1, H, W] (per position). Output has the source's shape.
    """

    def __init__(self, act: str = "linear"):
        super().__init__()
        self.act = make_act(act)

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return self.act(source * x)


class Reorg(nn.Module):
    """Darknet ``[reorg]`` as OpenCV DNN implements it (``reorg_layer.cpp``).

    The flat C*H*W buffer is read as [C*H/s^2, s, W, s] and permuted to [s, s, C*H/s^2, W]:
    Darknet's own (quirky) space-to-depth, not a clean pixel-unshuffle.
    Input [B, C, H, W] -> [B, C * s^2, H / s, W / s].
    """

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.stride
        y = x.reshape(b, c * h // (s * s), s, w, s).permute(0, 2, 4, 1, 3)
        return y.reshape(b, c * s * s, h // s, w // s)


class Connected(nn.Module):
    """Darknet ``[connected]``: flatten C*H*W, Linear, optional BN (1-D), activation.

    As in a convolution, the Linear has a bias only without batch norm (Darknet adds its
    ``biases`` after the BN scale). Input [B, C, H, W] -> [B, out, 1, 1].
    """

    def __init__(self, in_features: int, out_features: int, *, act: str = "logistic",
                 bn: bool = False):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=not bn)
        self.bn = nn.BatchNorm1d(out_features, eps=1e-5) if bn else None
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x.flatten(1))
        if self.bn is not None:
            y = self.bn(y)
        return self.act(y)[:, :, None, None]


class YoloOutput(nn.Identity):
    """Darknet ``[yolo]``: passes the raw map through; decoding happens elsewhere.

    Carries the layer's metadata: ``anchors`` (pixels, only those of ``mask``), ``mask``,
    ``classes``, ``stride`` (at the cfg input size), ``scale_x_y`` and ``new_coords``.
    Input and output [B, len(mask) * (5 + classes), H, W].
    """

    def __init__(self, *, anchors, mask, classes, stride, scale_x_y, new_coords):
        super().__init__()
        self.anchors, self.mask, self.classes = anchors, mask, classes
        self.stride, self.scale_x_y, self.new_coords = stride, scale_x_y, new_coords

    def extra_repr(self) -> str:
        return (f"classes={self.classes}, mask={self.mask}, stride={self.stride}, "
                f"scale_x_y={self.scale_x_y}, new_coords={self.new_coords}")

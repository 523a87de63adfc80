"""``DarknetModel``: a Darknet ``.cfg`` graph as a PyTorch module with Darknet's semantics."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..limits import check_parameter_count
from .cfg import DarknetConfig, parse_cfg
from .plan import NET_INPUT, LayerSpec, plan_layers


@dataclass(frozen=True)
class YoloSpec:
    """Metadata of one ``[yolo]`` layer, in output order.

    ``anchors`` are (w, h) in input pixels for the anchors of ``mask`` only; ``stride`` is input
    size / grid size at the cfg's ``[net]`` size.
    """

    index: int
    line: int
    anchors: tuple[tuple[float, float], ...]
    mask: tuple[int, ...]
    classes: int
    stride: int | float
    scale_x_y: float
    new_coords: bool

    @property
    def num_anchors(self) -> int:
        return len(self.mask)


class DarknetModel(nn.Module):
    """Runs a Darknet cfg on NCHW float input.

    ``forward`` returns the raw maps of the ``[yolo]`` layers ([B, A * (5 + classes), H, W] each,
    in cfg order) for detectors, and the last layer's output for anything else (flattened to
    [B, N] when it is 1 x 1, e.g. a classifier's softmax probabilities).

    Metadata: ``cfg`` (the parsed config), ``in_channels`` and ``input_size`` (H, W) from
    ``[net]``, ``layers`` (one ``LayerSpec`` per cfg layer: type, cfg line, sources, [C, H, W]
    shapes at the ``[net]`` size), ``yolo`` (one ``YoloSpec`` per ``[yolo]`` layer), and
    ``weights_header`` once weights are loaded. ``blocks[i]`` is the module of cfg layer ``i``.

    ``bn_eps`` is the batch-norm epsilon: 1e-5 as in Darknet's GPU kernels and fused conv+BN
    path (some Darknet CPU builds and OpenCV's importer use 1e-6: a difference that only shows
    when a rolling variance is tiny). The model starts in eval mode, as Darknet runs at
    inference.
    """

    def __init__(self, cfg: DarknetConfig | str | os.PathLike, *, bn_eps: float = 1e-5):
        super().__init__()
        self.cfg = cfg if isinstance(cfg, DarknetConfig) else parse_cfg(cfg)
        self.in_channels, height, width = self.cfg.input_shape
        self.input_size = (height, width)
        specs, factories = plan_layers(self.cfg)
        check_parameter_count(lambda: [make() for make in factories], self.cfg.source)
        self.layers: list[LayerSpec] = specs
        self.blocks = nn.ModuleList(make() for make in factories)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eps = bn_eps
        self.yolo = [self._yolo_spec(spec) for spec in self.layers if spec.type == "yolo"]
        self.weights_header = None
        self._sources = [spec.sources for spec in self.layers]
        # Hold an output only while a later layer still has to read it (YOLO maps to the end),
        # so a forward pass needs far less than one tensor per layer.
        last_use: dict[int, int] = {}
        for spec in self.layers:
            for src in spec.sources:
                last_use[src] = spec.index
        yolo_ids = {y.index for y in self.yolo}
        self._keep = {i for i in range(len(specs)) if last_use.get(i, i) > i + 1} | yolo_ids
        self._release = [[s for s in spec.sources if last_use[s] == spec.index
                          and s not in yolo_ids] for spec in specs]
        self.eval()

    def _yolo_spec(self, spec: LayerSpec) -> YoloSpec:
        m = self.blocks[spec.index]
        return YoloSpec(spec.index, spec.line, m.anchors, m.mask, m.classes, m.stride,
                        m.scale_x_y, m.new_coords)

    @property
    def is_detector(self) -> bool:
        return bool(self.yolo)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """x [B, in_channels, H, W] -> list of YOLO maps, or the final output (see class doc)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DarknetModel({self.cfg.source}) expects input [B, "
                             f"{self.in_channels}, H, W], got {list(x.shape)}")
        saved: dict[int, torch.Tensor] = {NET_INPUT: x}
        prev = x
        for i, block in enumerate(self.blocks):
            inputs = [prev if s == i - 1 else saved[s] for s in self._sources[i]]
            prev = block(*inputs)
            for src in self._release[i]:
                saved.pop(src, None)
            if i in self._keep:
                saved[i] = prev
        if self.yolo:
            return [saved[spec.index] for spec in self.yolo]
        return prev.flatten(1) if prev.shape[2:] == (1, 1) else prev

    def extra_repr(self) -> str:
        h, w = self.input_size
        return f"cfg={self.cfg.source!r}, input={self.in_channels}x{h}x{w}"

"""What every backbone promises, and the ImageNet classifier built on any of them."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ..specs import FeatureSpec


class Backbone(nn.Module):
    """A feature extractor that declares its outputs before any forward pass.

    Subclasses fill ``self.stages`` (an ``nn.ModuleDict`` run in order) and call
    ``self.tap(stage_name, level_name, channels, stride)`` for each stage whose output they
    expose. ``forward`` returns those maps in an ordered dict
    ``{"c2": [B, C2, H/4, W/4], ..., "c5": [B, C5, H/32, W/32]}``.
    """

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleDict()
        self.out_specs: list[FeatureSpec] = []
        self._taps: dict[str, str] = {}

    def tap(self, stage: str, name: str, channels: int, stride: int) -> None:
        self._taps[stage] = name
        self.out_specs.append(FeatureSpec(name, channels, stride))

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        feats: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, stage in self.stages.items():
            x = stage(x)
            if name in self._taps:
                feats[self._taps[name]] = x
        return feats

    @property
    def last_spec(self) -> FeatureSpec:
        return self.out_specs[-1]


class Classifier(nn.Module):
    """ImageNet classifier over a backbone's deepest map: global average pool -> (dropout) -> FC.

    Used to reproduce the paper's classifier parameter and FLOP counts. [B, 3, H, W] -> [B, K].
    """

    def __init__(self, backbone: Backbone, num_classes: int = 1000, dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(backbone.last_spec.channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = next(reversed(self.backbone(x).values()))
        return self.fc(self.dropout(self.pool(x).flatten(1)))

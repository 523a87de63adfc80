"""The whole detector: backbone -> neck -> YOLO head, built from a ModelConfig."""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import ModelConfig, build_stages, config_from_dict, load_config
from .widths import apply_widths


class YOLODetector(nn.Module):
    """[B, 3, H, W] -> list of raw maps [B, A * (5 + nc), H / s, W / s], one per stride s.

    Carries what runtimes need besides weights: ``strides``, ``anchors`` (pixels, one [A, 2]
    tensor per level), ``names`` and the config it was built from.
    """

    def __init__(self, config: ModelConfig, widths: dict | None = None):
        super().__init__()
        self.config = config
        self.backbone, self.neck, self.head = build_stages(config)
        self.names = config.class_names()
        self.widths = {}
        if widths:  # a pruned model: the layers whose channel counts differ from the config's (widths.py)
            apply_widths(self, widths, f"{config.name} (widths)")
            self.widths = {k: dict(v) for k, v in widths.items()}

    @property
    def strides(self) -> list[int]:
        return list(self.head.strides)

    @property
    def anchors(self) -> list[torch.Tensor]:
        return [a.clone() for a in self.head.anchors]

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def scale_x_y(self) -> list[float]:
        return list(self.head.scale_x_y)

    @property
    def new_coords(self) -> list[bool]:
        """Per level: True where the map is already logistic and wh = (2v)^2 * anchor (YOLOv4-CSP)."""
        return [False] * len(self.strides)

    @property
    def img_size(self) -> int:
        return self.config.img_size

    def describe(self) -> dict:
        """What a checkpoint needs to rebuild this model (plain data); a pruned model adds its widths."""
        return {"type": "yaml", "config": self.config.to_dict(), **({"widths": self.widths} if self.widths else {})}

    def with_classes(self, names: list[str]) -> "YOLODetector":
        """The same config (and pruned widths) with a head for ``names``; new random weights."""
        d = self.config.to_dict()
        d.update(num_classes=len(names), names=list(names))
        heads = {f"head.convs.{i}" for i in range(len(self.head.convs))}
        widths = {k: ({"in": v["in"]} if k in heads else v) for k, v in self.widths.items()
                  if k not in heads or "in" in v}  # the head's outputs follow the class count
        return YOLODetector(config_from_dict(d, f"{self.config.name} with {len(names)} classes"), widths)

    def head_convs(self) -> list[tuple[str, nn.Module, int]]:
        """Per level: (state-dict prefix, the output conv, anchors); each conv's output rows are
        Darknet's layout, per anchor tx, ty, tw, th, objectness, then one logit per class."""
        return [(f"head.convs.{k}", conv, len(a)) for k, (conv, a) in enumerate(zip(self.head.convs, self.head.anchors))]

    def freeze_units(self) -> list[tuple[str, nn.Module]]:
        """What ``--freeze N`` counts: the backbone's stages (stem, stage1, ...)."""
        return [(f"backbone.{name}", stage) for name, stage in self.backbone.stages.items()]

    @property
    def backbone_units(self) -> int:
        return len(self.backbone.stages)

    def reset_head_bias(self) -> None:
        self.head.reset_bias()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.head(self.neck(self.backbone(x)))


def build_model(config: ModelConfig | str) -> YOLODetector:
    """Build a detector from a ModelConfig, a YAML path, or a config name in configs/models/."""
    if not isinstance(config, ModelConfig):
        config = load_config(config)
    return YOLODetector(config)

"""A Darknet model with the detector interface the rest of cspdet uses (names, strides, anchors,
checkpoints), so official weights run through detect, export, val and bench unchanged."""
from __future__ import annotations

import os

import torch

from ..data.coco import COCO_NAMES
from .cfg import parse_cfg_text
from .edit import backbone_length, set_classes
from .model import DarknetModel
from .weights import load_weights, save_weights


class DarknetDetector(DarknetModel):
    """``DarknetModel`` plus ``names``, ``strides``, ``anchors``, ``scale_x_y``, ``new_coords``,
    ``num_classes``, ``img_size`` and ``describe()`` (the cfg text, for ``.pt`` checkpoints); and
    what training needs: ``with_classes``, ``freeze_units``, ``backbone_units``, ``reset_head_bias``."""

    def __init__(self, cfg_text: str, source: str = "<cfg>", *, names: list[str] | None = None):
        super().__init__(parse_cfg_text(cfg_text, source))
        self.cfg_text = cfg_text
        n = self.num_classes
        if names is not None and self.yolo and len(names) != n:
            raise ValueError(f"{source}: {len(names)} class names for a model with {n} classes")
        self.names = list(names) if names else (list(COCO_NAMES) if n == len(COCO_NAMES)
                                                 else [f"class{i}" for i in range(n)])

    @classmethod
    def from_text(cls, text: str, source: str = "<cfg>", *, names=None) -> "DarknetDetector":
        return cls(text, source, names=names)

    @property
    def num_classes(self) -> int:
        return self.yolo[0].classes if self.yolo else 0

    @property
    def strides(self) -> list[int]:
        return [int(y.stride) for y in self.yolo]

    @property
    def anchors(self) -> list[torch.Tensor]:
        return [torch.tensor(y.anchors, dtype=torch.float32).view(-1, 2) for y in self.yolo]

    @property
    def scale_x_y(self) -> list[float]:
        return [float(y.scale_x_y) for y in self.yolo]

    @property
    def new_coords(self) -> list[bool]:
        return [bool(y.new_coords) for y in self.yolo]

    @property
    def nms_kind(self) -> str:
        """The last ``[yolo]``'s ``nms_kind`` (Darknet reads the NMS of the net's last layer):
        greedynms or default -> "iou", diounms -> "diou"."""
        from ..geometry.nms import nms_kind

        return nms_kind(self._last_yolo.get_str("nms_kind", "default")) if self.yolo else "iou"

    @property
    def beta_nms(self) -> float:
        """The exponent of DIoU-NMS's distance term (Darknet's ``beta_nms``, default 0.6)."""
        return self._last_yolo.get_float("beta_nms", 0.6) if self.yolo else 1.0

    def loss_settings(self) -> dict:
        """The training keys of the first ``[yolo]`` with Darknet's defaults (parser.c): what
        ``--loss darknet`` reads. iou_thresh 1 means no extra anchors, max_delta inf no clip."""
        sec = self.layers[self.yolo[0].index].section
        floats = {"iou_normalizer": 0.75, "cls_normalizer": 1.0, "obj_normalizer": 1.0, "iou_thresh": 1.0,
                  "ignore_thresh": 0.5, "truth_thresh": 1.0, "max_delta": float("inf"), "label_smooth_eps": 0.0}
        out = {key: sec.get_float(key, default) for key, default in floats.items()}
        return {**out, "iou_loss": sec.get_str("iou_loss", "mse").lower()}

    @property
    def _last_yolo(self):
        return self.layers[self.yolo[-1].index].section

    @property
    def img_size(self) -> int:
        return self.input_size[0]

    def describe(self) -> dict:
        return {"type": "darknet", "cfg": self.cfg_text, "source": os.path.basename(self.cfg.source)}

    def with_classes(self, names: list[str]) -> "DarknetDetector":
        """The same cfg with its ``[yolo]`` heads (and the convs feeding them) rewritten for
        ``names``; new random weights, head biases at the training prior."""
        model = DarknetDetector(set_classes(self.cfg_text, len(names), self.cfg.source), self.cfg.source, names=names)
        model.reset_head_bias()
        return model

    def head_convs(self) -> list[tuple[str, torch.nn.Module, int]]:
        """Per ``[yolo]``: (state-dict prefix, the block of the conv feeding it, its anchors);
        rows as in ``YOLODetector.head_convs``."""
        feeds = [self.layers[y.index].sources[0] for y in self.yolo]
        return [(f"blocks.{i}", self.blocks[i], y.num_anchors) for i, y in zip(feeds, self.yolo)]

    def freeze_units(self) -> list[tuple[str, torch.nn.Module]]:
        """What ``--freeze N`` counts: the cfg layers, by index."""
        return [(f"{i} {spec.type}", block) for i, (spec, block) in enumerate(zip(self.layers, self.blocks))]

    @property
    def backbone_units(self) -> int:
        """Leading layers that form the backbone (``edit.backbone_length``)."""
        return backbone_length(self.layers, self.input_size, self.cfg.source)

    def reset_head_bias(self) -> None:
        """yolov5's objectness/class prior on the conv feeding each ``[yolo]``, at the cfg's size."""
        from ..models.heads.yolo import prior_bias

        for y in self.yolo:
            prior_bias(self.blocks[self.layers[y.index].sources[0]][0], y.num_anchors, y.classes, y.stride,
                       self.img_size)

    def load_darknet_weights(self, path: str | os.PathLike):
        return load_weights(self, path)

    def save_darknet_weights(self, path: str | os.PathLike) -> None:
        save_weights(self, path)

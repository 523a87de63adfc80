"""Darknet interop: parse ``.cfg`` files, run them in PyTorch, read and write ``.weights``.

    model = DarknetModel("yolov4.cfg")          # layers, shapes and YOLO metadata from the cfg
    load_weights(model, "yolov4.weights")       # exact float count or a one-line ValueError
    maps = model(images)                        # [B, 3, H, W] -> one raw map per [yolo] layer
    save_weights(model, "copy.weights")         # byte-identical to the file loaded
    copy_darknet_weights(model, build_model("cspdarknet53-panet-spp"))  # the same weights in the YAML model
"""
from .cfg import DarknetConfig, Section, parse_cfg, parse_cfg_text
from .model import DarknetModel, YoloSpec
from .plan import LayerSpec, plan_layers
from .transfer import copy_darknet_weights
from .weights import (WeightsHeader, expected_float_count, load_weights, read_header,
                      save_weights)

__all__ = [
    "DarknetConfig", "Section", "parse_cfg", "parse_cfg_text",
    "DarknetModel", "YoloSpec", "LayerSpec", "plan_layers", "copy_darknet_weights",
    "WeightsHeader", "expected_float_count", "load_weights", "read_header", "save_weights",
]

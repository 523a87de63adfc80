"""Official Darknet weights in a YAML detector: a ``DarknetModel``'s convs copied onto the
``YOLODetector`` of the same architecture (yolov4.cfg onto ``cspdarknet53-panet-spp``,
csresnext50-panet-spp.cfg onto ``cspresnext50-panet-spp``).

    darknet = DarknetModel("yolov4.cfg")
    load_weights(darknet, "yolov4.weights")
    model = copy_darknet_weights(darknet, build_model("cspdarknet53-panet-spp"))

Conv layer i of the cfg goes to the i-th conv of ``darknet_units(model)``. Every pair is checked
(shape, stride, padding, groups, batch norm, activation), and so are the ``[yolo]`` layers'
anchors, ``scale_x_y`` and output order, before anything is copied: a mismatch is a one-line
ValueError naming the cfg layer and the module.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..layers import ConvBNAct
from .model import DarknetModel

Unit = tuple[str, nn.Module]  # (module name in the YAML model, ConvBNAct or bare head Conv2d)


def _units(module: nn.Module, prefix: str) -> list[Unit]:
    """The ConvBNAct blocks and bare convs under ``module``, in registration order."""
    if isinstance(module, (ConvBNAct, nn.Conv2d)):
        return [(prefix, module)]
    return [unit for name, child in module.named_children() for unit in _units(child, f"{prefix}.{name}")]


def darknet_units(model) -> list[Unit]:
    """A YOLODetector's convs in the order the equivalent Darknet cfg lists them.

    Backbones are built layer for layer from their cfgs, so theirs is module order. A neck
    declares ``darknet_order``, its sub-modules in cfg order, where an output name ("p3")
    stands for the head conv reading that output (Darknet puts it right after the 3x3 making it).
    """
    order = getattr(model.neck, "darknet_order", None)
    if order is None:
        raise ValueError(f"{model.config.name}: neck {model.config.neck.name!r} has no Darknet layer "
                         "order, so Darknet weights cannot be mapped onto it")
    levels = [spec.name for spec in model.neck.out_specs]
    units = _units(model.backbone, "backbone")
    for name in order:
        if name in levels:
            units.append((f"head.convs.{levels.index(name)}", model.head.convs[levels.index(name)]))
        else:
            units += _units(getattr(model.neck, name), f"neck.{name}")
    return units


def _parts(unit: nn.Module) -> tuple[nn.Conv2d, nn.BatchNorm2d | None, nn.Module]:
    """(conv, batch norm or None, activation) of a ConvBNAct or a bare conv."""
    if isinstance(unit, nn.Conv2d):
        return unit, None, nn.Identity()
    rest = list(unit)[1:]
    bn = rest.pop(0) if rest and isinstance(rest[0], nn.BatchNorm2d) else None
    return unit[0], bn, (rest[0] if rest else nn.Identity())


def _describe(unit: nn.Module) -> dict:
    conv, bn, act = _parts(unit)
    slope = getattr(act, "negative_slope", None)
    return {"weight": tuple(conv.weight.shape), "stride": conv.stride, "padding": conv.padding,
            "dilation": conv.dilation, "groups": conv.groups, "batch norm": bn is not None,
            "activation": type(act).__name__ + (f"({slope})" if slope is not None else "")}


def _check_convs(src: DarknetModel, name: str, pairs) -> None:
    for spec, (where, unit) in pairs:
        theirs, ours = _describe(src.blocks[spec.index]), _describe(unit)
        for key in theirs:
            if theirs[key] != ours[key]:
                raise ValueError(f"{src.cfg.source} layer {spec.index} (line {spec.line}) does not fit "
                                 f"{name} {where}: {key} {theirs[key]} in the cfg, {ours[key]} in the model")


def _check_heads(src: DarknetModel, model, placed: dict[int, str]) -> None:
    """Each ``[yolo]`` k reads head conv k, with the head's anchors, scale_x_y and coordinates."""
    name, head = model.config.name, model.head
    if len(src.yolo) != len(head.convs):
        raise ValueError(f"{src.cfg.source} has {len(src.yolo)} [yolo] layers but {name} has "
                         f"{len(head.convs)} head outputs")
    for k, yolo in enumerate(src.yolo):
        feed = placed.get(src.layers[yolo.index].sources[0])
        anchors = tuple(tuple(a) for a in head.anchors[k].tolist())
        ours = (f"head.convs.{k}", anchors, model.scale_x_y[k], model.new_coords[k])
        theirs = (feed, tuple(tuple(float(v) for v in a) for a in yolo.anchors), yolo.scale_x_y, yolo.new_coords)
        for key, a, b in zip(("reads", "anchors", "scale_x_y", "new_coords"), theirs, ours):
            if a != b:
                raise ValueError(f"{src.cfg.source} [yolo] at line {yolo.line} does not fit {name} "
                                 f"output {k}: {key} {a} in the cfg, {b} in the model")


def copy_darknet_weights(src: DarknetModel, model):
    """Copy every conv and batch norm of ``src`` onto ``model`` (a YOLODetector) in place and
    return it; raises ValueError at the first difference, before copying anything."""
    name = model.config.name
    convs = [spec for spec in src.layers if spec.type == "convolutional"]
    if any(spec.type == "connected" for spec in src.layers):
        raise ValueError(f"{src.cfg.source}: [connected] layers have no place in {name}")
    units = darknet_units(model)
    if len(convs) != len(units):
        raise ValueError(f"{src.cfg.source} has {len(convs)} convolutional layers but {name} has {len(units)}")
    covered = {id(p) for _, unit in units for p in unit.parameters()}
    left = [n for n, p in model.named_parameters() if id(p) not in covered]
    if left:
        raise ValueError(f"{name}: {len(left)} parameters have no Darknet layer (first: {left[0]})")
    pairs = list(zip(convs, units))
    _check_convs(src, name, pairs)
    _check_heads(src, model, {spec.index: where for spec, (where, _) in pairs})
    with torch.no_grad():
        for spec, (_, unit) in pairs:
            (conv, bn, _), (our_conv, our_bn, _) = _parts(src.blocks[spec.index]), _parts(unit)
            our_conv.load_state_dict(conv.state_dict())
            if bn is not None:
                our_bn.load_state_dict(bn.state_dict())
    return model

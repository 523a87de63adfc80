"""Channel widths that differ from what a model's config builds: how a pruned YAML model is stored.

A pruned model keeps its config, and beside it (``arch["widths"]`` in the checkpoint) the layers
whose channel counts changed: ``{"neck.pred3.0": {"in": 24, "out": 48}, "neck.pred3.1":
{"features": 48}, "neck.node3.c_same.maxout": {"out": 12}}``. Plain data, so checkpoints still
load with ``weights_only=True``; a checkpoint from the internet can name only modules the config
builds, and only shrink them. (A pruned Darknet model needs none of this: its cfg is rewritten
with the new ``filters=``.)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..layers import ConvBNAct, Maxout
from .specs import FeatureSpec

FIELDS = {nn.Conv2d: ("in", "out"), nn.BatchNorm2d: ("features",), Maxout: ("out",)}


def _widths_of(m: nn.Module) -> dict[str, int]:
    if isinstance(m, nn.Conv2d):
        return {"in": m.in_channels, "out": m.out_channels}
    if isinstance(m, nn.BatchNorm2d):
        return {"features": m.num_features}
    return {"out": m.out_channels}


def channel_widths(model: nn.Module, reference: nn.Module) -> dict[str, dict[str, int]]:
    """Module name -> the widths of ``model`` that differ from ``reference`` (the same
    architecture as built from its config)."""
    ref = dict(reference.named_modules())
    out = {}
    for name, m in model.named_modules():
        if type(m) in FIELDS and name in ref:
            now, was = _widths_of(m), _widths_of(ref[name])
            changed = {k: v for k, v in now.items() if v != was[k]}
            if changed:
                out[name] = changed
    return out


def _rebuilt(m: nn.Module, w: dict[str, int]) -> nn.Module:
    if isinstance(m, nn.Conv2d):
        c_in, c_out = w.get("in", m.in_channels), w.get("out", m.out_channels)
        if m.groups != 1:
            raise ValueError("grouped convolutions keep their width")
        new = nn.Conv2d(c_in, c_out, m.kernel_size, m.stride, m.padding, m.dilation, 1, m.bias is not None,
                        m.padding_mode)
    elif isinstance(m, nn.BatchNorm2d):
        new = nn.BatchNorm2d(w["features"], m.eps, m.momentum, m.affine, m.track_running_stats)
    else:
        m.out_channels = w["out"]
        return m
    return new.to(next(m.parameters()).device) if list(m.parameters()) else new


def apply_widths(model: nn.Module, widths, source: str = "<checkpoint>") -> nn.Module:
    """Rebuild the named modules of ``model`` to ``widths`` (in place; new modules get fresh
    weights, to be loaded from the checkpoint) -> ``model``. Raises ValueError naming ``source``
    and the entry for a module the model lacks, a wrong kind of width or one that does not shrink."""
    if not isinstance(widths, dict):
        raise ValueError(f"{source}: 'widths' must be a mapping of module names, got {type(widths).__name__}")
    modules = dict(model.named_modules())
    for name, w in widths.items():
        m = modules.get(name) if isinstance(name, str) else None
        kind = type(m) if m is not None else None
        if kind not in FIELDS or not isinstance(w, dict) or not w or set(w) - set(FIELDS[kind]):
            raise ValueError(f"{source}: widths entry {name!r}: {w!r} does not fit the model "
                             f"({'no such module' if m is None else type(m).__name__})")
        was = _widths_of(m)
        for key, value in w.items():
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= was[key]:
                raise ValueError(f"{source}: widths entry {name!r}: {key}={value!r} must be an integer in "
                                 f"[1, {was[key]}] (pruning only removes channels)")
        try:
            new = _rebuilt(m, w)
        except ValueError as e:
            raise ValueError(f"{source}: widths entry {name!r}: {e}") from None
        parent, _, leaf = name.rpartition(".")
        setattr(modules[parent] if parent else model, leaf, new)
    sync_attributes(model)
    return model


def sync_attributes(model: nn.Module) -> None:
    """Bring the width attributes of container modules (``ConvBNAct.c_in``/``c_out``, the EFM's
    ``Compress.out_channels``) and, for a YAML detector, the stages' declared ``out_specs`` in
    line with the layers inside them, after their widths changed."""
    for m in model.modules():
        if isinstance(m, ConvBNAct):
            m.c_in, m.c_out = m[0].in_channels, m[0].out_channels
        elif hasattr(m, "maxout") and isinstance(m.maxout, Maxout):
            m.out_channels = m.maxout.out_channels
    backbone, neck = getattr(model, "backbone", None), getattr(model, "neck", None)
    if backbone is None or neck is None or not hasattr(backbone, "out_specs"):
        return
    was = model.training
    model.eval()
    try:
        with torch.no_grad():  # a small forward: the real widths, whatever was changed
            feats = backbone(torch.zeros(1, 3, 64, 64, device=next(model.parameters()).device))
            outs = neck(feats)
    finally:
        model.train(was)
    for stage, maps in ((backbone, feats), (neck, outs)):
        stage.out_specs = [FeatureSpec(s.name, int(maps[s.name].shape[1]), s.stride) if s.name in maps else s
                           for s in stage.out_specs]

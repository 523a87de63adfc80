"""ONNX export: a YOLODetector (+ the torch decoder) -> one .onnx file that ONNX Runtime,
OpenCV DNN 4.x and TensorRT read.

The graph is traced with the TorchScript exporter (``dynamo=False``: the dynamo one needs
onnxscript). Batch norms are folded into their convs first (``models/fuse.py``), the decoder's
grids are constants for static shapes, and the file carries what a runtime needs to pre- and
post-process in its metadata_props (see ``build_metadata``). With ``optimize`` (the default) the traced graph gets
the exact rewrites of ``rewrite.py``: the same values, less copying in ONNX Runtime
(benchmarks/speed_experiments.py ``--only graph`` times both).
"""
from __future__ import annotations

import copy
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..version import __version__
from ..geometry.decode import HeadSpec, YOLODecoder
from ..geometry.letterbox import PAD_VALUE, as_hw
from ..models import fuse
from .rewrite import optimize_graph

# Ops OpenCV DNN 4.x / TensorRT reject or that betray a data-dependent graph.
FORBIDDEN_OPS = ("ScatterND", "NonZero")
DECODED_FORMAT = "cx,cy,w,h,obj,cls..."
LETTERBOX = {"color": PAD_VALUE, "centre": True, "scaleup": True, "rgb": True, "scale": "1/255"}
JSON_KEYS = ("names", "category_ids", "strides", "anchors", "scale_x_y", "num_classes", "new_coords", "img_size",
             "letterbox", "config", "output_names", "dynamic", "batch", "nms_kind", "beta_nms")


class ExportModel(nn.Module):
    """[B, 3, H, W] -> decoded [B, N, 5 + nc], or the tuple of raw maps when ``decoder`` is None."""

    def __init__(self, model: nn.Module, decoder: YOLODecoder | None):
        super().__init__()
        self.model, self.decoder = model, decoder

    def forward(self, x: torch.Tensor):
        maps = self.model(x)
        return self.decoder(maps) if self.decoder is not None else tuple(maps)


def build_metadata(model: nn.Module, spec: HeadSpec, hw: tuple[int, int], *, raw: bool, dynamic: bool,
                   batch: int, output_names: Sequence[str]) -> dict[str, str]:
    """metadata_props for the file: strings, JSON where structured (``read_metadata`` parses)."""
    config = getattr(model, "config", None)
    meta = {
        **{k: json.dumps(v) for k, v in spec.to_dict().items()},
        "names": json.dumps(list(getattr(model, "names", [f"class{i}" for i in range(spec.num_classes)]))),
        "img_size": json.dumps(list(hw)),
        "letterbox": json.dumps(LETTERBOX),
        "output_format": "raw" if raw else DECODED_FORMAT,
        "output_names": json.dumps(list(output_names)),
        "dynamic": json.dumps(dynamic),
        "batch": json.dumps(None if dynamic else batch),
        "cspdet_version": __version__,
    }
    if config is not None and hasattr(config, "to_dict"):
        meta["config"] = json.dumps(config.to_dict())
    if getattr(model, "category_ids", None) is not None:  # a COCO JSON's ids (see data.coco.category_ids_for)
        meta["category_ids"] = json.dumps([int(i) for i in model.category_ids])
    return meta


def read_metadata(source) -> dict[str, Any]:
    """metadata_props of an ONNX file (path, bytes or ModelProto) as a dict, JSON values parsed."""
    import onnx

    if isinstance(source, onnx.ModelProto):
        proto = source
    elif isinstance(source, bytes):
        proto = onnx.load_from_string(source)
    else:
        if not Path(source).is_file():
            raise FileNotFoundError(f"{source}: no such ONNX file")
        try:
            proto = onnx.load(str(source), load_external_data=False)
        except Exception as e:  # protobuf raises DecodeError and friends for a file that is not ONNX
            raise ValueError(f"{source}: not a readable ONNX model ({type(e).__name__})") from None
    return parse_metadata({p.key: p.value for p in proto.metadata_props},
                          str(source) if isinstance(source, (str, os.PathLike)) else "ONNX model")


def parse_metadata(props: dict[str, str], source: str = "metadata") -> dict[str, Any]:
    """The metadata's strings (ONNX metadata_props, or an OpenVINO IR's rt_info that keeps them)
    with the JSON values parsed; a value that is not JSON is a one-line ValueError naming
    ``source`` and the key."""
    out = {}
    for key, value in props.items():
        if key not in JSON_KEYS:
            out[key] = value
            continue
        try:
            out[key] = json.loads(value)
        except (ValueError, RecursionError) as e:
            why = f"{e.msg} at character {e.pos}" if isinstance(e, json.JSONDecodeError) else "nested too deeply"
            raise ValueError(f"{source}: metadata key {key!r} is not valid JSON ({why}): {value[:60]!r}") from None
    return out


def dynamic_axes(output_names: Sequence[str], raw: bool) -> dict[str, dict[int, str]]:
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    for i, name in enumerate(output_names):
        axes[name] = {0: "batch", 2: f"height{i}", 3: f"width{i}"} if raw else {0: "batch", 1: "anchors"}
    return axes


def trace_to_onnx(net: nn.Module, dummy: torch.Tensor, opset: int, output_names: list[str],
                  axes: dict | None) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter is chosen on purpose (no onnxscript); its notice is noise here.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        if axes is None:  # static shapes: "the trace might not generalize to other inputs" is moot
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(net, dummy, buf, opset_version=opset, input_names=["images"],
                          output_names=output_names, dynamic_axes=axes, do_constant_folding=True,
                          dynamo=False)
    return buf.getvalue()


def check_ops(proto, path: Path, folded: bool) -> None:
    """Refuse a graph with ops OpenCV DNN/TensorRT reject; warn about a batch norm left unfolded
    (every runtime still runs it, just slower)."""
    ops = {n.op_type for n in proto.graph.node}
    bad = sorted(ops & set(FORBIDDEN_OPS))
    if bad:
        raise RuntimeError(f"export_onnx: the graph for {path} has {bad} nodes, "
                           "which OpenCV DNN/TensorRT reject")
    if folded and "BatchNormalization" in ops:
        warnings.warn(f"export_onnx: the graph for {path} keeps a BatchNormalization that fold_bn "
                      "could not fuse (a BatchNorm2d not right after a Conv2d in an nn.Sequential)")


def export_onnx(model: nn.Module, path: str | Path, img_size: int | Sequence[int] | None = None,
                opset: int = 12, batch: int = 1, dynamic: bool = False, raw: bool = False,
                fold_bn: bool = True, optimize: bool = True) -> Path:
    """Write ``model`` as ONNX to ``path`` and return the path.

    Input ``images`` [batch, 3, h, w] (RGB 0..1, letterboxed; ``img_size`` an int or (h, w),
    default the model's). Output ``output`` [batch, N, 5 + nc] (cx, cy, w, h in input pixels,
    objectness, class probabilities), or with ``raw`` the maps ``raw0``.. [batch, A * (5 + nc),
    h / s, w / s]. ``dynamic`` frees batch, height and width (ONNX Runtime only).
    """
    import onnx

    path = Path(path)
    if opset < 11:
        raise ValueError(f"export_onnx: opset={opset} is too old; nearest Resize needs opset >= 11")
    if batch < 1:
        raise ValueError(f"export_onnx: batch must be >= 1, got {batch}")
    if img_size is None:
        config = getattr(model, "config", None)
        img_size = getattr(model, "img_size", None) or getattr(config, "img_size", None)
        if not img_size:
            raise ValueError(f"export_onnx: give img_size for {path}; the model has no default input size")
    hw = as_hw(img_size, "img_size")
    net = fuse.fold_bn(model) if fold_bn else copy.deepcopy(model).eval()
    dummy = torch.zeros(batch, 3, *hw)
    spec = HeadSpec.from_model(model)
    # Every neck keeps H / s rounded up (tests/test_contracts.py); the decoder re-checks it.
    shapes = [(-(-hw[0] // s), -(-hw[1] // s)) for s in spec.strides]
    decoder = None if raw else YOLODecoder(spec, None if dynamic else shapes)
    output_names = [f"raw{i}" for i in range(len(shapes))] if raw else ["output"]
    data = trace_to_onnx(ExportModel(net, decoder).eval(), dummy, opset, output_names,
                         dynamic_axes(output_names, raw) if dynamic else None)
    proto = onnx.load_from_string(data)
    if optimize:
        optimize_graph(proto)
    check_ops(proto, path, fold_bn)
    meta = build_metadata(model, spec, hw, raw=raw, dynamic=dynamic, batch=batch, output_names=output_names)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path

"""GFLOPs per image for everything ``cspdet bench`` measures, counted the way ``cspdet info``
counts (2 x multiply-accumulates of convs and matmuls), so achieved GFLOP/s compare across rows."""
from __future__ import annotations

import functools
import math
from pathlib import Path

from .specs import ModelSpec

# ONNX ops whose multiply-accumulates we count, and where each keeps its weight.
WEIGHT_INPUT = {"Conv": 1, "QLinearConv": 3, "ConvInteger": 1}
MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}


def _shapes(proto) -> dict[str, list]:
    """Every tensor's static shape (None entries for symbolic dims) after ONNX shape inference."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    g = inferred.graph
    shapes = {t.name: list(t.dims) for t in g.initializer}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes


def _node_flops(node, shapes: dict[str, list]) -> int | None:
    """2 x MACs of one node (0 for ops that are not counted), None when a shape is unknown."""
    def shape(name):
        s = shapes.get(name)
        return None if s is None or any(d is None for d in s) else s

    if node.op_type in WEIGHT_INPUT:
        w, out = shape(node.input[WEIGHT_INPUT[node.op_type]]), shape(node.output[0])
        return None if w is None or out is None else 2 * math.prod(out) * math.prod(w[1:])
    if node.op_type == "Gemm":
        a, out = shape(node.input[0]), shape(node.output[0])
        if a is None or out is None:
            return None
        trans_a = any(att.name == "transA" and att.i for att in node.attribute)
        return 2 * math.prod(out) * (a[0] if trans_a else a[1])
    if node.op_type in MATMUL_OPS:
        a, out = shape(node.input[MATMUL_OPS[node.op_type][0]]), shape(node.output[0])
        return None if a is None or out is None else 2 * math.prod(out) * a[-1]
    return 0


def onnx_gflops(path: str | Path) -> float | None:
    """GFLOPs per image of an ONNX graph from its Conv/Gemm/MatMul nodes and static shapes,
    None when shapes are dynamic (see ``model_gflops`` for the fallback)."""
    import onnx

    proto = onnx.load(str(path))
    shapes = _shapes(proto)
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    batch = shapes.get(inputs[0].name, [None])[0] if inputs else None
    total = 0
    for node in proto.graph.node:
        flops = _node_flops(node, shapes)
        if flops is None or not batch:
            return None
        total += flops
    return total / batch / 1e9


def _onnx_config_gflops(path: str, size: int | None) -> float | None:
    """A dynamic cspdet ONNX file: rebuild the architecture its metadata names and profile that."""
    from ..export import read_metadata
    from ..models import YOLODetector, config_from_dict, profile_model

    meta = read_metadata(path)
    if "config" not in meta or not size:
        return None
    model = YOLODetector(config_from_dict(meta["config"], f"{path} (metadata config)"))
    return profile_model(model, size).gflops


@functools.lru_cache(maxsize=None)
def model_gflops(spec: ModelSpec, size: int) -> float | None:
    """GFLOPs per image of ``spec`` at ``size`` x ``size`` (None if it cannot be counted)."""
    from ..models import BACKBONES, build_classifier, profile_model

    if spec.kind == "onnx":
        return onnx_gflops(spec.source) or _onnx_config_gflops(spec.source, size)
    if spec.kind == "classifier":
        model = build_classifier(spec.source, **spec.kwargs)
    elif spec.kind == "backbone":
        model = BACKBONES[spec.source](**spec.kwargs)
    elif spec.kind == "darknet":
        from ..darknet.detector import DarknetDetector
        from ..io.text import read_text

        model = DarknetDetector.from_text(read_text(spec.source), spec.source)
    else:
        from ..models.loading import load_detector

        model = load_detector(spec.source)
    return profile_model(model, size).gflops

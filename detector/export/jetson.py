"""ONNX for a Jetson TX2 (JetPack 4.6: TensorRT 8.2, OpenCV 4.x): what the file may contain, the
check that holds an export to it, and the export itself.

TensorRT 8.2's ONNX parser takes opsets up to 13, but OpenCV DNN 4.x (the fallback on the device)
reads opset 11 best, so the target is opset 11, static shapes, batch 1 and FP32 weights; the FP16
engine is built on the device by ``trtexec --fp16``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from ..io.files import atomic_output
from .fold import fold_constants
from .graph import attributes, constant_tensors, static_shapes
from .onnx import export_onnx

JETSON_OPSET = 11

# Every op the export may contain. Source: the TensorRT 8.2 ONNX parser's operator support matrix,
# onnx/onnx-tensorrt branch release/8.2-GA, docs/operators.md ("TensorRT 8.2 supports operators up
# to Opset 13"). Read for this list: that file as of TensorRT 8.0 and 8.4, which bracket 8.2 (every
# op here is supported in both, with the restrictions checked below), and the 8.2 EA changelog. It
# is the intersection of that matrix with what OpenCV DNN 4.x imports and what our models need,
# not the whole matrix: ScatterND (TensorRT only from 8.2, and OpenCV rejects it), NonZero and
# NonMaxSuppression (not supported by 8.2), and Shape/Gather/Cast chains (a graph that is not
# static) are left out on purpose.
JETSON_OPS = frozenset({
    "Add", "AveragePool", "Concat", "Constant", "Conv", "Exp", "Identity", "LeakyRelu", "Max", "MaxPool",
    "Mul", "Pad", "Relu", "Reshape", "Resize", "Sigmoid", "Slice", "Softplus", "Tanh", "Transpose",
})
# From the same matrix's Resize row.
RESIZE_MODES = {"nearest", "linear"}
RESIZE_COORDS = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
RESIZE_NEAREST = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}
# Inputs that must be initializers or Constant outputs: the matrix asks it of Conv weights and Slice
# axes; the rest must be for a static engine (a computed Resize scale means a Shape op upstream).
CONSTANT_INPUTS = {"Conv": (1, 2), "Reshape": (1,), "Resize": (1, 2, 3), "Slice": (1, 2, 3, 4), "Pad": (1, 2)}
# TensorProto data types: FLOAT16 = 10, DOUBLE = 11, BFLOAT16 = 16. Weights ship as FP32: trtexec
# --fp16 converts them on the device, and the CPU fallbacks (OpenCV DNN, ONNX Runtime) run FP32.
NOT_FP32 = {10: "float16", 11: "double", 16: "bfloat16"}


class JetsonExportError(ValueError):
    """The graph breaks a Jetson rule; the message is one line listing what."""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _spatial_2d(node, attrs, consts) -> list[str]:
    if len(attrs.get("kernel_shape", [0, 0])) != 2:
        return [f"{node.op_type} {node.name}: only 2-D kernels (TensorRT 8.2)"]
    if node.op_type == "MaxPool" and len([o for o in node.output if o]) > 1:
        return [f"MaxPool {node.name}: the Indices output is unsupported"]
    return []


def _resize(node, attrs, consts) -> list[str]:
    mode = _text(attrs.get("mode", "nearest"))
    coords = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
    nearest = _text(attrs.get("nearest_mode", "round_prefer_floor"))
    if mode not in RESIZE_MODES or coords not in RESIZE_COORDS or (mode == "nearest" and nearest not in RESIZE_NEAREST):
        return [f"Resize {node.name}: mode={mode}, coordinate_transformation_mode={coords}, "
                f"nearest_mode={nearest} is not a TensorRT 8.2 combination"]
    return []


def _pad(node, attrs, consts) -> list[str]:
    from onnx import numpy_helper

    mode = _text(attrs.get("mode", "constant"))
    if mode != "constant":
        return [f"Pad {node.name}: mode {mode}; only constant padding"]
    pads = numpy_helper.to_array(consts[node.input[1]]) if len(node.input) > 1 and node.input[1] in consts else None
    if pads is not None and pads.shape == (8,) and pads[[0, 1, 4, 5]].any():
        return [f"Pad {node.name}: pads batch or channels; only the last two axes"]
    return []


RESTRICTIONS: dict[str, Callable] = {"Conv": _spatial_2d, "MaxPool": _spatial_2d, "AveragePool": _spatial_2d,
                                     "Resize": _resize, "Pad": _pad}


def _shape_problems(proto) -> list[str]:
    try:
        shapes = static_shapes(proto)
    except ValueError as e:
        return [str(e)]
    problems = []
    # A Constant's shape is fixed by definition (an empty Resize roi is normal); everything else
    # must have a known, non-empty shape: a zero-size activation is a graph OpenCV cannot run.
    names = [v.name for v in proto.graph.input] + [o for n in proto.graph.node if n.op_type != "Constant"
                                                   for o in n.output if o]
    for name in names:
        dims = shapes.get(name)
        if dims is None or any(not isinstance(d, int) or d < 0 for d in dims):
            problems.append(f"tensor {name} has no static shape ({dims})")
        elif 0 in dims:
            problems.append(f"tensor {name} is empty ({dims})")
    first = proto.graph.input[0].name if proto.graph.input else None
    if first and shapes.get(first) and isinstance(shapes[first][0], int) and shapes[first][0] != 1:
        problems.append(f"input {first} has batch {shapes[first][0]}; the engine is built for batch 1")
    return problems


def _dtype_problems(proto) -> list[str]:
    from onnx import TensorProto

    problems = [f"initializer {t.name} is {NOT_FP32[t.data_type]}" for t in proto.graph.initializer
                if t.data_type in NOT_FP32]
    problems += [f"Constant {n.output[0]} is {NOT_FP32[a.t.data_type]}" for n in proto.graph.node
                 if n.op_type == "Constant" for a in n.attribute if a.name == "value" and a.t.data_type in NOT_FP32]
    for v in list(proto.graph.input) + list(proto.graph.output):
        if v.type.tensor_type.elem_type != TensorProto.FLOAT:
            problems.append(f"graph tensor {v.name} is not float32")
    return problems


def check_jetson_graph(proto) -> list[str]:
    """Every way ``proto`` (an onnx.ModelProto) breaks the Jetson rules, as short strings; empty
    when it complies: opset 11, only JETSON_OPS (with their restrictions), constant Resize
    scales, Slice bounds, Reshape shapes, Pad pads and Conv weights, static shapes everywhere,
    batch 1, and FP32 tensors."""
    graph, problems = proto.graph, []
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    if opsets.get("ai.onnx") != JETSON_OPSET:
        problems.append(f"opset {opsets.get('ai.onnx')}, need {JETSON_OPSET}")
    bad = Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in graph.node
                  if n.op_type not in JETSON_OPS or n.domain not in ("", "ai.onnx"))
    if bad:
        problems.append("ops not on the TensorRT 8.2 whitelist: "
                        + ", ".join(f"{op} x{k}" for op, k in sorted(bad.items())))
    consts = constant_tensors(graph)
    for node in graph.node:
        if node.op_type not in JETSON_OPS:
            continue
        for i in CONSTANT_INPUTS.get(node.op_type, ()):
            if i < len(node.input) and node.input[i] and node.input[i] not in consts:
                problems.append(f"{node.op_type} {node.name}: input {i} ({node.input[i]}) is computed, not a constant")
        check = RESTRICTIONS.get(node.op_type)
        if check is not None:
            problems += check(node, attributes(node), consts)
    return problems + _shape_problems(proto) + _dtype_problems(proto)


def summarize(problems: Sequence[str], limit: int = 4) -> str:
    """One line: the first ``limit`` problems and how many more."""
    more = len(problems) - limit
    return "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")


def declare_static_outputs(proto) -> bool:
    """Write the inferred static dims into graph outputs the tracer left symbolic (Darknet
    models); True when something changed."""
    shapes, changed = static_shapes(proto), False
    for out in proto.graph.output:
        dims = shapes.get(out.name)
        declared = out.type.tensor_type.shape.dim
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
            continue
        if [d.dim_value if d.HasField("dim_value") else None for d in declared] != dims:
            del declared[:]
            for d in dims:
                declared.add(dim_value=d)
            changed = True
    return changed


def export_jetson(model, path: str | Path, img_size=None, *, raw: bool = False) -> Path:
    """Export ``model`` for a Jetson (see the module docstring) to ``path`` and return the path.

    Static shape arithmetic the tracer leaves behind (Shape -> Gather -> Concat chains from
    Darknet layers) is folded into constants first; if anything then breaks the rules,
    JetsonExportError lists it and ``path`` is left as it was.
    """
    import onnx

    path = Path(path)
    with atomic_output(path) as tmp:
        export_onnx(model, tmp, img_size, opset=JETSON_OPSET, batch=1, dynamic=False, raw=raw)
        proto = onnx.load(str(tmp))
        changed = fold_constants(proto) > 0
        problems = check_jetson_graph(proto)
        if problems:
            raise JetsonExportError(f"{path}: not deployable with TensorRT 8.2 / OpenCV 4.x: {summarize(problems)}")
        changed = declare_static_outputs(proto) or changed
        if changed:
            onnx.checker.check_model(proto)
            onnx.save(proto, str(tmp))
    return path

"""Lookups and edits of an ONNX graph that the exporters, the graph rewrite, constant folding,
the Jetson check and quantization share. onnx is imported where used, so importing this costs nothing.
"""
from __future__ import annotations

from collections import defaultdict


def default_opset(proto, missing: int) -> int:
    """The opset of ``proto``'s default (ai.onnx) domain; ``missing`` when it declares none."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), missing)


def attributes(node) -> dict:
    """name -> value of every attribute of ``node``."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def consumers(graph) -> dict[str, list]:
    """tensor name -> nodes reading it; graph outputs count as a reader (they must stay)."""
    readers = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    for out in graph.output:
        readers[out.name].append(None)
    return readers


def constant_tensors(graph) -> dict:
    """name -> TensorProto of every initializer and Constant output (decode with numpy_helper)."""
    tensors = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = node.attribute[0].t
    return tensors


def static_shapes(proto) -> dict[str, list]:
    """name -> dims (int, or str/None where unknown) of every tensor ONNX shape inference sees;
    ValueError when inference fails.

    Inference runs on a copy whose float weights carry dims but no data: it needs only their
    shapes, and a 250 MB model infers in 0.2 s instead of 2.5 s.
    """
    import onnx
    from onnx import TensorProto, helper, shape_inference

    g = proto.graph
    skeleton = onnx.GraphProto(name=g.name)
    skeleton.node.extend(g.node)
    skeleton.input.extend(g.input)
    skeleton.output.extend(g.output)
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT and len(t.raw_data) > 64:
            skeleton.initializer.add(name=t.name, data_type=t.data_type, dims=t.dims)
        else:
            skeleton.initializer.append(t)
    model = helper.make_model(skeleton, opset_imports=proto.opset_import, ir_version=proto.ir_version)
    try:
        inferred = shape_inference.infer_shapes(model).graph
    except shape_inference.InferenceError as e:  # e.g. an op of an unknown domain
        raise ValueError(f"shape inference failed: {str(e).strip().splitlines()[0]}") from None
    shapes = {}
    for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        t = v.type.tensor_type
        shapes[v.name] = None if not t.HasField("shape") else [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
    return shapes


def replace_all(field, items) -> None:
    """Set a repeated message field to ``items``, copied first: they may be its own elements."""
    copies = []
    for item in items:
        copy = type(item)()
        copy.CopyFrom(item)
        copies.append(copy)
    del field[:]
    field.extend(copies)


def prune(graph) -> None:
    """Drop nodes none of whose outputs is used, then initializers nothing reads."""
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        live = [n for n in graph.node if any(o in used for o in n.output if o)]
        if len(live) == len(graph.node):
            break
        replace_all(graph.node, live)
    inputs = {v.name for v in graph.input}
    keep = [t for t in graph.initializer if t.name in used or t.name in inputs]
    if len(keep) != len(graph.initializer):
        replace_all(graph.initializer, keep)

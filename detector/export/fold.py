"""Constant folding for static-shape ONNX graphs.

The TorchScript exporter folds most constants, but not shape arithmetic on traced tensors:
``F.pad`` at opset 11 becomes ConstantOfShape -> Concat -> Reshape -> Slice -> Cast chains, and
``x.shape[1] // 2`` a Shape -> Gather -> Div chain. With static input shapes every one of those
values is known; TensorRT and OpenCV need them as constants (and Shape/Gather/Cast are not on the
Jetson whitelist), so they are evaluated here with ONNX's reference implementation.
"""
from __future__ import annotations

import math

import numpy as np

from .graph import constant_tensors, default_opset, prune, replace_all, static_shapes

# Shape arithmetic is a handful of int64s. A node with bigger inputs or outputs is real
# computation on weights (or an Identity of one) and is left to the runtime.
FOLD_MAX_ELEMENTS = 4096
# Constants already are; Identity on a weight is bypassed, not copied; random ops must stay random.
NEVER_FOLD = {"Constant", "Identity", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
              "Multinomial", "Bernoulli"}


def _small(tensor) -> bool:
    return math.prod(tensor.dims) <= FOLD_MAX_ELEMENTS


def _evaluate(node, inputs: dict, opset: int) -> list | None:
    """Run one node on constant inputs; None when the reference implementation cannot."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph([node], "fold", [], [onnx.ValueInfoProto(name=o) for o in node.output if o],
                              initializer=[numpy_helper.from_array(v, n) for n, v in inputs.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, {})]
    except Exception:  # an op the reference lacks: leave the node; the Jetson check names it if it matters
        return None


def _node_value(node, tensors: dict, shapes, opset: int) -> list | None:
    """The node's outputs if they are fixed for the static input shape, else None."""
    from onnx import numpy_helper

    if node.op_type == "Shape":
        dims = shapes().get(node.input[0])
        if dims and all(isinstance(d, int) and d > 0 for d in dims):
            attrs = {a.name: a.i for a in node.attribute}  # start/end exist from opset 15
            return [np.asarray(dims[attrs.get("start", 0):attrs.get("end", len(dims))], dtype=np.int64)]
        return None
    if node.op_type in NEVER_FOLD or node.domain not in ("", "ai.onnx") or not node.input:
        return None
    used = [i for i in node.input if i]
    if not all(i in tensors and _small(tensors[i]) for i in used):
        return None
    return _evaluate(node, {i: numpy_helper.to_array(tensors[i]) for i in used}, opset)


def bypass_constant_identities(graph) -> int:
    """Point the readers of ``Identity(constant)`` at the constant itself and drop the Identity.

    The exporter shares equal initializers (the zero biases of a fresh model) through Identity
    nodes. TensorRT 8's ONNX parser turns an Identity into an IIdentityLayer (onnx-tensorrt
    builtin_op_importers.cpp), so the Conv would get its bias as a layer output, not as weights.
    """
    tensors = constant_tensors(graph)
    outputs = {o.name for o in graph.output}
    alias = {n.output[0]: n.input[0] for n in graph.node
             if n.op_type == "Identity" and n.input[0] in tensors and n.output[0] not in outputs}
    if not alias:
        return 0
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    return len(alias)


def _fold_once(proto, opset: int) -> int:
    from onnx import numpy_helper

    graph = proto.graph
    tensors = constant_tensors(graph)
    cache: dict = {}

    def shapes():
        if "shapes" not in cache:
            try:
                cache["shapes"] = static_shapes(proto)
            except ValueError:  # no shapes, no Shape folding; the Jetson check reports why
                cache["shapes"] = {}
        return cache["shapes"]

    kept, folded = [], 0
    for node in graph.node:  # ONNX keeps nodes in topological order, so inputs fold first
        values = _node_value(node, tensors, shapes, opset)
        names = [o for o in node.output if o]
        if values is None or len(values) != len(names) or any(v.size > FOLD_MAX_ELEMENTS for v in values):
            kept.append(node)
            continue
        for name, value in zip(names, values):
            tensors[name] = numpy_helper.from_array(value, name)
            graph.initializer.append(tensors[name])
        folded += 1
    if folded:
        replace_all(graph.node, kept)
    return folded


def fold_constants(proto) -> int:
    """Fold, in place, every node of ``proto`` (an onnx.ModelProto) computed only from constants
    or from the shape of a statically shaped tensor into an initializer, bypass Identity nodes
    on constants, then prune what became unused. Returns how many nodes went (0: unchanged).

    Folds in rounds: a folded Pad amount makes the shapes after the Pad known, which lets the
    next round fold a Shape read further down.
    """
    opset = default_opset(proto, 11)
    total = bypass_constant_identities(proto.graph)
    while True:
        folded = _fold_once(proto, opset)
        total += folded
        if not folded:
            break
    if total:
        prune(proto.graph)
    return total

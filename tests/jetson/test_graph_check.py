"""check_jetson_graph names every way a graph breaks the TensorRT 8.2 / OpenCV 4.x rules, and
fold_constants turns the tracer's static shape arithmetic into constants without changing results."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from detector.export import JETSON_OPS, check_jetson_graph, fold_constants


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def base_graph() -> onnx.ModelProto:
    """A small graph that follows every rule: Conv -> LeakyRelu -> Resize x2 -> Slice -> Reshape."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c"], ["l"], alpha=0.1),
        helper.make_node("Constant", [], ["roi"], value=const("roi_v", [])),
        helper.make_node("Constant", [], ["scales"], value=const("scales_v", [1, 1, 2, 2])),
        helper.make_node("Resize", ["l", "roi", "scales"], ["r"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["y"]),
    ]
    inits = [const("w", rng.normal(size=(4, 4, 3, 3))), const("b", np.zeros(4)),
             const("starts", [0], np.int64), const("ends", [2], np.int64), const("axes", [1], np.int64),
             const("shape", [1, 2, 256], np.int64)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 256])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    return model


def node(model, op):
    return next(n for n in model.graph.node if n.op_type == op)


def set_input_dims(model, dims):
    shape = model.graph.input[0].type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        shape.dim.add(**({"dim_param": d} if isinstance(d, str) else {"dim_value": d}))


def computed_scales(model):
    """Resize scales from a Concat of constants: constant in value, but computed in the graph."""
    model.graph.initializer.extend([const("s01", [1, 1]), const("s23", [2, 2])])
    model.graph.node.insert(0, helper.make_node("Concat", ["s01", "s23"], ["cat_scales"], axis=0))
    node(model, "Resize").input[2] = "cat_scales"


def empty_slice(model):
    """A Slice with ends == starts: a zero-channel tensor, as a Darknet partial add of equal widths gives."""
    model.graph.initializer.append(const("zero", [0], np.int64))
    model.graph.node.append(helper.make_node("Slice", ["r", "zero", "zero", "axes"], ["empty"]))
    model.graph.output.append(helper.make_tensor_value_info("empty", TensorProto.FLOAT, None))


def shape_reshape(model):
    model.graph.node.insert(0, helper.make_node("Shape", ["x"], ["x_shape"]))
    node(model, "Reshape").input[1] = "x_shape"


MUTATIONS = {
    "opset 13": (lambda m: m.opset_import[0].__setattr__("version", 13), "opset 13, need 11"),
    "NonZero": (lambda m: m.graph.node.append(helper.make_node("NonZero", ["x"], ["nz"])), "NonZero x1"),
    "custom domain": (lambda m: m.graph.node.append(helper.make_node("Relu", ["x"], ["cr"], domain="com.example")),
                      "com.example.Relu x1"),
    "float16 weights": (lambda m: m.graph.initializer.append(const("half", [1, 2], np.float16)), "half is float16"),
    "dynamic batch": (lambda m: set_input_dims(m, ["batch", 4, 8, 8]), "tensor x has no static shape"),
    "batch 2": (lambda m: set_input_dims(m, [2, 4, 8, 8]), "input x has batch 2"),
    "computed Resize scales": (computed_scales, "Resize : input 2 (cat_scales) is computed"),
    "Reshape from Shape": (shape_reshape, "Shape x1"),
    "empty tensor": (empty_slice, "tensor empty is empty ([1, 0, 16, 16])"),
    "cubic Resize": (lambda m: next(a for a in node(m, "Resize").attribute if a.name == "mode").__setattr__(
        "s", b"cubic"), "mode=cubic, coordinate_transformation_mode=asymmetric"),
}


def test_a_compliant_graph_has_no_problems():
    assert check_jetson_graph(base_graph()) == []


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_broken_rule_is_reported(name):
    model = base_graph()
    mutate, expected = MUTATIONS[name]
    mutate(model)
    problems = check_jetson_graph(model)
    assert any(expected in p for p in problems), problems


def test_whitelist_leaves_out_what_opencv_or_tensorrt_82_reject():
    assert not JETSON_OPS & {"ScatterND", "NonZero", "NonMaxSuppression", "Shape", "Gather", "Cast", "If", "Loop"}
    assert {"Conv", "Resize", "Slice", "Concat", "Sigmoid", "Exp", "MaxPool"} <= JETSON_OPS


class ShapeArithmetic(nn.Module):
    """The patterns Darknet layers trace to at opset 11: F.pad (ConstantOfShape/Cast chains) and
    a reshape through ``x.shape`` (Shape/Gather/Div)."""

    def forward(self, x):
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, 1)
        return x.reshape(x.shape[0], x.shape[1] // 2, -1) * 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:Constant folding - Only steps=1")
def test_fold_constants_removes_shape_arithmetic_and_keeps_results(tmp_path):
    x = torch.rand(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "shapes.onnx"
    torch.onnx.export(ShapeArithmetic(), x, str(path), opset_version=11, input_names=["images"], dynamo=False)
    model = onnx.load(str(path))
    before = check_jetson_graph(model)
    assert any("Shape" in p for p in before) and any("Pad" in p and "computed" in p for p in before), before

    assert fold_constants(model) > 0
    onnx.checker.check_model(model)
    assert check_jetson_graph(model) == []
    assert {n.op_type for n in model.graph.node} <= {"Pad", "MaxPool", "Reshape", "Mul", "Constant"}
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"images": x.numpy()})[0]
    np.testing.assert_array_equal(got, ref)
    assert fold_constants(model) == 0  # nothing left to fold: the file is not rewritten

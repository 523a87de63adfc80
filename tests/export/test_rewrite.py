"""The speed-ups of the ONNX export change no value: the graph rewrites give bit-identical ONNX
Runtime outputs to the plain trace, and the EFM neck's reordered Maxout gives bit-identical maps
to Maxout after upsampling."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from detector.export import export_onnx
from detector.export.rewrite import pool_before_concat
from detector.models.necks import efm

from .helpers import assert_decoded_close, random_model, run_opencv, run_ort, torch_decoded


def pooled_concat_graph(pool_outputs: int = 1, extra_reader: bool = False) -> onnx.ModelProto:
    """x -> two convs -> Concat -> MaxPool 2x2/2 ceil (on an odd map) -> y [, and the concat itself]."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
             for n, s in (("w1", (16, 8, 3, 3)), ("w2", (32, 8, 1, 1)))]
    pool_out = ["y", "idx"][:pool_outputs]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "w2"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["cat"], axis=1),
             helper.make_node("MaxPool", ["cat"], pool_out, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 48, 5, 6])]
    if pool_outputs > 1:
        outputs.append(helper.make_tensor_value_info("idx", TensorProto.INT64, [1, 48, 5, 6]))
    if extra_reader:
        outputs.append(helper.make_tensor_value_info("cat", TensorProto.FLOAT, [1, 48, 9, 11]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 9, 11])],
                              outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=7)


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def test_pool_before_concat_pools_each_piece_and_keeps_values():
    model = pooled_concat_graph()
    x = np.random.default_rng(1).normal(size=(1, 8, 9, 11)).astype(np.float32)
    before = run(model, x)
    assert pool_before_concat(model) == 1
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Conv", "Conv", "MaxPool", "MaxPool", "Concat"]
    np.testing.assert_array_equal(run(model, x)[0], before[0])


@pytest.mark.parametrize("kind", ["indices", "second reader"])
def test_pool_before_concat_leaves_other_concats_alone(kind):
    model = pooled_concat_graph(pool_outputs=2) if kind == "indices" else pooled_concat_graph(extra_reader=True)
    assert pool_before_concat(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Conv", "Conv", "Concat", "MaxPool"]


@pytest.mark.parametrize("name,size,batch", [("csppeleenet-efm-sam", (96, 128), 2), ("csppeleenet-prn", 96, 1)])
def test_optimized_export_matches_the_plain_trace_bit_for_bit(tmp_path, name, size, batch):
    model = random_model(name)
    fast = export_onnx(model, tmp_path / "fast.onnx", size, batch=batch)
    plain = export_onnx(model, tmp_path / "plain.onnx", size, batch=batch, optimize=False)
    graph = onnx.load(str(fast)).graph
    readers = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n.op_type)
    assert not any(n.op_type == "Concat" and readers.get(n.output[0]) == ["MaxPool"] for n in graph.node)
    n_pool = [sum(n.op_type == "MaxPool" for n in onnx.load(str(p)).graph.node) for p in (fast, plain)]
    assert n_pool[0] > n_pool[1]

    h, w = (size, size) if isinstance(size, int) else size
    x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(2))
    np.testing.assert_array_equal(run_ort(fast, x)[0], run_ort(plain, x)[0])
    assert_decoded_close(run_opencv(fast, x, ["output"])[0], torch_decoded(model, x))


def test_efm_maxout_before_upsampling_gives_the_same_maps(monkeypatch):
    model = random_model("csppeleenet-efm-sam").eval()
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast = model(x)

    def upsample_first(self, finer, same, coarser=None):
        parts = [self.c_finer(self.pool(finer)), self.c_same(self.lateral(same))]
        if self.c_coarser is not None:
            parts.append(self.c_coarser(self.up(coarser)))
        return self.sam(self.fuse(torch.cat(parts, 1)))

    monkeypatch.setattr(efm.FusionNode, "forward", upsample_first)
    with torch.no_grad():
        for a, b in zip(fast, model(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)

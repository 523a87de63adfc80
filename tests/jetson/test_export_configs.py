"""Every model config exports for a Jetson (opset 11, static, batch 1, FP32, whitelisted ops only)
and the file computes what the PyTorch model does; the CSPPeleeNet ones also run in OpenCV DNN."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from detector.export import JETSON_OPS, check_jetson_graph, export_jetson, read_metadata
from detector.models import build_model
from tests.conftest import REPO
from tests.export.helpers import run_opencv, run_ort, torch_decoded

CONFIGS = sorted(p.stem for p in (REPO / "configs" / "models").glob("*.yaml"))
# The ~60M-parameter models export at 64 px: the graph is the same at any size, and each 250 MB
# export takes ~10 s there instead of ~20 s at 128 on two cores.
BIG = ("cspdarknet53", "cspresnext50", "darknet53")


def static_dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value_info.type.tensor_type.shape.dim]


def test_every_config_is_covered():
    assert len(CONFIGS) >= 8 and "csppeleenet-efm-sam" in CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_config_exports_for_jetson_and_matches_pytorch(name, tmp_path):
    size = 64 if name.startswith(BIG) else 128
    torch.manual_seed(0)
    model = build_model(name).eval()
    path = export_jetson(model, tmp_path / f"{name}.onnx", size)
    proto = onnx.load(str(path))

    assert check_jetson_graph(proto) == []
    assert {n.op_type for n in proto.graph.node} <= JETSON_OPS
    assert proto.opset_import[0].version == 11
    assert not any(t.data_type in (TensorProto.FLOAT16, TensorProto.DOUBLE) for t in proto.graph.initializer)
    n = sum(len(a) * (-(-size // s)) ** 2 for a, s in zip(model.anchors, model.strides))
    assert static_dims(proto.graph.input[0]) == [1, 3, size, size]
    assert static_dims(proto.graph.output[0]) == [1, n, 5 + model.num_classes]
    meta = read_metadata(path)
    assert meta["img_size"] == [size, size] and meta["batch"] == 1 and meta["names"] == list(model.names)

    # Folding and the Identity bypass rewrote the graph: it must still compute the same thing.
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    ref = torch_decoded(model, x)
    out = run_ort(path, x)[0]
    np.testing.assert_allclose(out[..., 4:], ref[..., 4:], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out[..., :4], ref[..., :4], rtol=1e-3, atol=1e-2)
    if name.startswith("csppeleenet"):
        cv_out = run_opencv(path, x, ["output"])[0]
        np.testing.assert_allclose(cv_out[..., 4:], out[..., 4:], rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(cv_out[..., :4], out[..., :4], rtol=1e-3, atol=1e-2)

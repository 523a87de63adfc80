"""ONNX export: the file runs in ONNX Runtime and OpenCV DNN and matches PyTorch (folded BN,
decoder inside), with only ops those runtimes accept and the metadata a runtime needs."""
import json
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from detector import __version__
from detector.export import export_onnx, read_metadata
from detector.layers import Maxout
from detector.geometry import HeadSpec, decode

from .helpers import RAW_TOL, assert_decoded_close, op_types, random_model, run_opencv, run_ort, torch_decoded

# Both models at both sizes; opsets 11, 12 and 13 each at least once; batch 1 and 2.
CASES = [("csppeleenet-efm", 128, 11, 1), ("csppeleenet-efm", (160, 224), 13, 2),
         ("csppeleenet-prn", 128, 12, 2), ("csppeleenet-prn", (160, 224), 13, 1)]
# Ops OpenCV DNN 4.x rejects or mishandles (Split/Unsqueeze take axes as inputs from opset 13),
# and Shape, whose presence would mean the graph is not static.
UNWANTED = {"BatchNormalization", "ScatterND", "NonZero", "Split", "Unsqueeze", "Shape"}


@pytest.fixture(scope="module")
def models():
    return {name: random_model(name, seed=i) for i, name in enumerate(["csppeleenet-efm", "csppeleenet-prn"])}


def static_dims(value_info) -> list[int]:
    dims = value_info.type.tensor_type.shape.dim
    assert all(d.HasField("dim_value") for d in dims), f"{value_info.name} has a dynamic dimension"
    return [d.dim_value for d in dims]


def case_id(name, size, opset, batch) -> str:
    size = size if isinstance(size, int) else "x".join(map(str, size))
    return f"{name.split('-')[1]}-{size}-op{opset}-b{batch}"


# The EFM cases (opsets 11 and 13, batch 1 and 2) run in the OpenCV 5 pass too.
@pytest.mark.parametrize("name,size,opset,batch", [
    pytest.param(*c, id=case_id(*c), marks=[pytest.mark.cv_compat] if c[0] == "csppeleenet-efm" else []) for c in CASES])
def test_export_runs_in_onnxruntime_and_opencv_like_pytorch(models, tmp_path, name, size, opset, batch):
    model = models[name]
    h, w = (size, size) if isinstance(size, int) else size
    path = export_onnx(model, tmp_path / f"{name}.onnx", size, opset=opset, batch=batch)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == opset
    assert not op_types(path) & UNWANTED
    n = sum(len(a) * -(-h // s) * -(-w // s) for a, s in zip(model.anchors, model.strides))
    assert static_dims(proto.graph.input[0]) == [batch, 3, h, w]
    assert static_dims(proto.graph.output[0]) == [batch, n, 85]

    x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(opset))
    ref = torch_decoded(model, x)
    assert_decoded_close(run_ort(path, x)[0], ref)
    assert_decoded_close(run_opencv(path, x, ["output"])[0], ref)


@pytest.mark.cv_compat
def test_metadata_describes_pre_and_post_processing(models, tmp_path):
    model = models["csppeleenet-prn"]
    path = export_onnx(model, tmp_path / "m.onnx", (96, 128), opset=12, raw=True)
    meta = read_metadata(path)
    assert meta["names"] == model.names and len(meta["names"]) == 80
    assert meta["img_size"] == [96, 128] and meta["output_format"] == "raw"
    assert meta["letterbox"] == {"color": 114, "centre": True, "scaleup": True, "rgb": True, "scale": "1/255"}
    assert meta["cspdet_version"] == __version__ and meta["config"]["name"] == "csppeleenet-prn"
    assert HeadSpec.from_dict(meta) == HeadSpec.from_model(model)
    raw_strings = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(raw_strings["anchors"])[0] == [[23, 27], [37, 58], [81, 82]]
    assert HeadSpec.from_dict(raw_strings) == HeadSpec.from_model(model)  # as ORT hands them over

    # Raw maps: the runtimes' maps match PyTorch's, and numpy-decoding them matches the torch decoder.
    proto = onnx.load(str(path))
    assert [o.name for o in proto.graph.output] == ["raw0", "raw1"]
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        maps = [m.numpy() for m in model(x)]
    for got in (run_ort(path, x), run_opencv(path, x, meta["output_names"])):
        for g, m in zip(got, maps):
            np.testing.assert_allclose(g, m, **RAW_TOL)
        assert_decoded_close(decode(got, HeadSpec.from_dict(meta)), torch_decoded(model, x))


# The model's shape checks (Maxout, partial adds) depend on channel counts only, which stay fixed.
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_dynamic_export_serves_other_batches_and_sizes_in_onnxruntime(models, tmp_path):
    model = models["csppeleenet-prn"]
    path = export_onnx(model, tmp_path / "dyn.onnx", 128, opset=12, dynamic=True)
    assert read_metadata(path)["dynamic"] is True and read_metadata(path)["batch"] is None
    for shape in [(1, 3, 128, 128), (3, 3, 96, 160)]:
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(shape[0]))
        assert_decoded_close(run_ort(path, x)[0], torch_decoded(model, x))


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.onnx")
def test_maxout_exports_as_constant_slices_and_max(tmp_path):
    path = tmp_path / "maxout.onnx"
    torch.onnx.export(Maxout(4), torch.rand(1, 12, 5, 6), str(path), opset_version=13, dynamo=False)
    assert op_types(path) <= {"Slice", "Max", "Constant"}
    x = np.random.default_rng(0).normal(size=(1, 12, 5, 6)).astype(np.float32)
    ref = Maxout(4)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(run_opencv(path, x, [onnx.load(str(path)).graph.output[0].name])[0], ref)


class InPlaceHead(nn.Module):
    """A stand-in detector whose forward assigns into a slice, which exports as ScatterND."""

    strides, num_classes, names = [8], 1, ["thing"]
    anchors = [torch.tensor([[10.0, 13.0]])]
    config = SimpleNamespace(img_size=32)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 8, 8)
        self.head = SimpleNamespace(scale_x_y=[1.0])

    def forward(self, x):
        y = self.conv(x)
        y[:, 4] = 0
        return [y]


class LogisticHead(nn.Module):
    """A one-level stand-in for a YOLOv4-CSP head (new_coords: the maps are logistic already)."""

    strides, num_classes, names, new_coords, scale_x_y = [8], 2, ["a", "b"], [True], [2.0]
    anchors = [torch.tensor([[12.0, 16.0], [19.0, 36.0]])]

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2 * 7, 8, 8)

    def forward(self, x):
        return [self.conv(x).sigmoid()]


def test_new_coords_head_exports_and_decodes_alike_everywhere(tmp_path):
    torch.manual_seed(0)
    model = LogisticHead().eval()
    path = export_onnx(model, tmp_path / "csp.onnx", (48, 64), opset=13)
    assert read_metadata(path)["new_coords"] is True and not op_types(path) & UNWANTED
    x = torch.rand(1, 3, 48, 64)
    ref = torch_decoded(model, x)
    with torch.no_grad():
        maps = [m.numpy() for m in model(x)]
    assert_decoded_close(decode(maps, HeadSpec.from_dict(read_metadata(path))), ref)
    assert_decoded_close(run_ort(path, x)[0], ref)
    assert_decoded_close(run_opencv(path, x, ["output"])[0], ref)


class LooseBatchNorm(LogisticHead):
    """A batch norm after an activation: no conv to fold it into."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(14).eval()

    def forward(self, x):
        return [self.bn(self.conv(x).relu())]


def test_export_refuses_graphs_opencv_cannot_run_and_bad_arguments(models, tmp_path):
    with pytest.raises(RuntimeError, match=r"bad\.onnx has \['ScatterND'\]"):
        export_onnx(InPlaceHead(), tmp_path / "bad.onnx", opset=11)
    assert not (tmp_path / "bad.onnx").exists()
    with pytest.warns(UserWarning, match="keeps a BatchNormalization that fold_bn could not fuse"):
        export_onnx(LooseBatchNorm(), tmp_path / "bn.onnx", (32, 32))
    with pytest.raises(ValueError, match="opset=10"):
        export_onnx(models["csppeleenet-prn"], tmp_path / "m.onnx", 64, opset=10)
    with pytest.raises(ValueError, match="img_size"):
        export_onnx(models["csppeleenet-prn"], tmp_path / "m.onnx", (0, 64))


def reorder_outputs(path, out):
    """``path`` with its graph's outputs listed in reverse; the metadata's ``output_names`` (the
    exporter's order) kept as they were."""
    proto = onnx.load(str(path))
    outputs = list(proto.graph.output)[::-1]
    del proto.graph.output[:]
    proto.graph.output.extend(outputs)
    onnx.save(proto, str(out))
    return out


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_raw_maps_are_taken_in_the_metadatas_order_not_the_graphs(models, tmp_path, backend):
    from detector.runtime.backends import load_backend

    path = export_onnx(models["csppeleenet-prn"], tmp_path / "raw.onnx", 96, raw=True)
    listed = reorder_outputs(path, tmp_path / "reordered.onnx")
    assert [o.name for o in onnx.load(str(listed)).graph.output] == ["raw1", "raw0"]
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(5)).numpy()
    ref = load_backend(path, backend)(x)
    np.testing.assert_allclose(load_backend(listed, backend)(x), ref, rtol=1e-5, atol=1e-5)

"""INT8 (QDQ) and FP16 copies of an exported detector: structure, metadata and agreement."""
import numpy as np
import onnx
import pytest

from onnx import TensorProto, helper, numpy_helper

from detector.export import convert_fp16, export_onnx, quantize_int8, read_metadata
from detector.export.quantize import MIN_CALIBRATION, check_scales, decoder_nodes, head_convs
from tests.models_helpers import seeded_prn
from detector.geometry.letterbox import preprocess
from detector.runtime.backends.ort_backend import ORTBackend

from .helpers import matched_detections

ort = pytest.importorskip("onnxruntime")
SIZE = 128


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    """A seeded csppeleenet-prn whose scores spread around the threshold (random BN statistics,
    head without the training prior), exported at 128."""
    model = seeded_prn()
    return export_onnx(model, tmp_path_factory.mktemp("q") / "fp32.onnx", img_size=SIZE)


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    from detector.data.synthetic import make_demo_images

    d = tmp_path_factory.mktemp("calib")
    make_demo_images(d, n=6, img_size=(240, 320), seed=3)
    return d


@pytest.fixture(scope="module")
def blob():
    from detector.data.synthetic import make_demo_images
    from detector.io.images import read_image

    return preprocess(read_image(make_demo_images(__import__("tempfile").mkdtemp(), n=1, seed=11)[0]), SIZE)[0]


def run(path, blob):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"images": blob})[0]


def ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def matched(ref, out, conf=0.3) -> float:
    """Share of the reference's detections that the other output finds too (same class, IoU >= 0.5)."""
    share, _, n = matched_detections(ref[0], out[0], conf, k=300)
    assert n >= 5  # enough boxes for the share to mean something
    return share


def test_int8_has_qdq_nodes_keeps_metadata_and_agrees(fp32, calib, blob, tmp_path):
    with pytest.warns(UserWarning, match=f"calibrating on 4 image.*fewer than {MIN_CALIBRATION}"):
        out = quantize_int8(fp32, tmp_path / "int8.onnx", calib, n=4)
    kinds = ops(out)
    assert onnx.load(str(out)).opset_import[0].version == 13  # converted up from 12: per-channel DQ
    assert kinds.count("QuantizeLinear") > 20 and kinds.count("DequantizeLinear") > 20
    meta = read_metadata(out)
    assert meta["strides"] == read_metadata(fp32)["strides"] and meta["precision"] == "int8-qdq"
    assert meta["calibration_images"] == "4"
    ref, q = run(fp32, blob), run(out, blob)
    assert q.shape == ref.shape and q.dtype == np.float32
    assert np.corrcoef(q[0, :, 4], ref[0, :, 4])[0, 1] > 0.95
    assert np.median(np.abs(q[..., :4] - ref[..., :4])) < 0.02 * SIZE
    assert matched(ref, q) >= 0.7
    assert ORTBackend(out).input_size == (SIZE, SIZE)  # the runtime loads it like the FP32 file
    assert_per_channel_int8_weights(out)


def assert_per_channel_int8_weights(path) -> None:
    """Every quantised Conv's weights are int8 with one scale per output channel (axis 0), and
    the activations uint8 (U8S8, what x86 ONNX Runtime fuses)."""
    graph = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    made_by = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv" and n.input[1] in made_by]
    assert len(convs) > 10
    for conv in convs:
        dq = made_by[conv.input[1]]
        assert dq.op_type == "DequantizeLinear", conv.name
        weights, scale = inits[dq.input[0]], inits[dq.input[1]]
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        assert weights.dtype == np.int8 and scale.shape == (weights.shape[0],) and axis == 0, \
            (conv.name, weights.dtype, scale.shape, axis)
        assert len(np.unique(scale)) > 1, conv.name  # per channel, not one value repeated
        act = made_by.get(conv.input[0])
        assert act is not None and act.op_type == "DequantizeLinear" and inits[act.input[2]].dtype == np.uint8, \
            conv.name


def test_int8_keeps_the_decoder_float(fp32):
    graph = onnx.load(str(fp32)).graph
    names = set(decoder_nodes(graph))
    assert names and not any(n.op_type == "Conv" for n in graph.node if n.name in names)
    last = graph.node[-1]
    assert last.output[0] == "output" and last.name in names


@pytest.mark.filterwarnings("ignore:calibrating on")
def test_int8_keeps_the_heads_last_convs_float_unless_asked(fp32, calib, tmp_path):
    names = head_convs(onnx.load(str(fp32)).graph)
    assert len(names) == 2  # csppeleenet-prn: two levels

    def float_convs(path):
        graph = onnx.load(str(path)).graph
        weights = {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}
        return {n.name for n in graph.node if n.op_type == "Conv" and n.input[1] in weights}

    assert float_convs(quantize_int8(fp32, tmp_path / "a.onnx", calib, n=4)) == set(names)
    assert float_convs(quantize_int8(fp32, tmp_path / "b.onnx", calib, n=4, float_head=False)) == set()


def qdq_graph(scale: float, scalar: bool = False):
    """images [1, 3, 4, 4] + DequantizeLinear(weights [3] or a 0-d tensor, ``scale``)."""
    shape = () if scalar else (3,)
    inits = [numpy_helper.from_array(np.full(shape, 7, np.uint8), "w_quantized"),
             numpy_helper.from_array(np.array(scale, np.float32), "w_scale"),
             numpy_helper.from_array(np.array(3, np.uint8), "w_zero_point")]
    nodes = [helper.make_node("DequantizeLinear", ["w_quantized", "w_scale", "w_zero_point"], ["w"], name="dq"),
             helper.make_node("Reshape" if not scalar else "Identity", ["w", "shape"] if not scalar else ["w"], ["c"]),
             helper.make_node("Add", ["images", "c"], ["output"])]
    if not scalar:
        inits.append(numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"))
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 4, 4]) for n in ("images", "output")]
    return helper.make_model(helper.make_graph(nodes, "qdq", io[:1], io[1:], inits),
                             opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("scale,shown", [(float("inf"), "inf"), (float("nan"), "nan"), (0.0, "0"),
                                         (1e-40, "9.99995e-41"), (1e5, "100000")])
def test_an_unusable_scale_is_refused_naming_the_tensor(scale, shown):
    with pytest.raises(ValueError, match=rf"^m\.onnx: INT8 calibration gave 1 tensor\(s\) an unusable scale, "
                                         rf"first 'w': {shown} \("):
        check_scales(qdq_graph(scale), "m.onnx")
    check_scales(qdq_graph(0.02), "m.onnx")  # an ordinary scale passes


def test_opencv_refusal_is_one_line(tmp_path):
    """OpenCV 4.x rejects a DequantizeLinear of a 0-d tensor (its axis check); the backend says
    so in one line with the node, whatever OpenCV logs."""
    import cv2

    from detector.runtime.backends.opencv_backend import read_onnx

    path = tmp_path / "scalar.onnx"
    onnx.save(qdq_graph(0.5, scalar=True), str(path))
    x = np.zeros((1, 3, 4, 4), np.float32)
    np.testing.assert_allclose(run(path, x), x + 2.0)  # a valid graph: (7 - 3) * 0.5
    try:
        net = read_onnx(str(path), precision="int8-qdq")
    except ValueError as e:
        text = str(e)
        assert text.startswith(f"{path}: OpenCV {cv2.__version__} cannot read this model at its DequantizeLinear "
                               "node dq") and text.endswith("--backend onnxruntime") and "\n" not in text
    else:  # a later OpenCV reads it: then it must compute it
        net.setInput(x)
        np.testing.assert_allclose(net.forward(), x + 2.0)


def test_int8_refuses_an_empty_calibration_folder(fp32, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="calib_dir .*empty: no images found"):
        quantize_int8(fp32, tmp_path / "x.onnx", tmp_path / "empty")
    assert not (tmp_path / "x.onnx").exists()


def test_fp16_has_half_weights_float_io_and_agrees(fp32, blob, tmp_path):
    out = convert_fp16(fp32, tmp_path / "fp16.onnx")
    proto = onnx.load(str(out))
    floats = [t for t in proto.graph.initializer if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    half = [t for t in floats if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(half) >= 0.9 * len(floats) and len(half) > 20
    f32 = onnx.TensorProto.FLOAT
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [f32]
    assert [o.type.tensor_type.elem_type for o in proto.graph.output] == [f32]
    assert read_metadata(out)["precision"] == "fp16"
    ref, h = run(fp32, blob), run(out, blob)
    np.testing.assert_allclose(h[..., 4:], ref[..., 4:], atol=2e-2)
    assert np.abs(h[..., :4] - ref[..., :4]).max() < 0.02 * SIZE
    assert matched(ref, h) >= 0.9

"""OpenVINO backend: FP32 against ONNX Runtime, IR files, INT8 QDQ, --half, streams, devices, errors."""
import json
import os
import sys
import warnings

import numpy as np
import pytest

from detector import Detector
from detector.cli import main
from detector.data.synthetic import DEFAULT_CLASSES, synthetic_image
from detector.geometry.letterbox import preprocess
from detector.runtime.backends import backend_for, base, load_backend

from tests.conftest import REPO

try:
    import openvino as ov
except ImportError:
    if os.environ.get("CI") == "true":  # CI installs the extra: a skip there would hide a broken backend
        raise ImportError('CI=true but openvino is missing: .ci/run installs ".[dev,openvino]"') from None
    pytest.skip('openvino is not installed (pip install -e ".[dev,openvino]")', allow_module_level=True)

from detector.runtime.backends import openvino_backend  # noqa: E402  (after the skip)

SHAPES = REPO / "weights" / "cspdet-shapes.pt"
RTOL, ATOL = 1e-4, 1e-6  # ATOL only for class scores under ~1e-2, which no threshold keeps


def pictures(n: int, seed: int = 0) -> list[np.ndarray]:
    """BGR 240x320 scenes of the shapes the bundled model knows."""
    rng = np.random.default_rng(seed)
    return [synthetic_image(rng, (240, 320), DEFAULT_CLASSES, (2, 4))[0] for _ in range(n)]


def assert_same_rows(ov_rows: np.ndarray, ort_rows: np.ndarray) -> None:
    assert ov_rows.shape == ort_rows.shape and (ort_rows[..., 4] > 0.5).any(), "no confident row compared"
    np.testing.assert_allclose(ov_rows, ort_rows, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def shapes_onnx(tmp_path_factory):
    """The bundled shapes model as one dynamic ONNX file (any batch and size)."""
    from detector.export import export_onnx
    from detector.models.loading import load_detector

    path = tmp_path_factory.mktemp("ov") / "shapes-dyn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dynamic export's tracer warnings
        return export_onnx(load_detector(SHAPES), path, img_size=128, dynamic=True)


@pytest.fixture
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    return base.export_cache()


def test_f32_matches_onnxruntime_on_the_shapes_model_at_two_sizes(shapes_onnx):
    ovb, ort = load_backend(shapes_onnx, "openvino"), load_backend(shapes_onnx, "onnxruntime")
    assert ovb.precision == "f32" and ovb.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert ovb.compiled.get_property("PERFORMANCE_HINT") == "LATENCY" and ovb.input_size is None
    for size in (128, 224):
        blob = preprocess(pictures(2, seed=size), (size, size))[0]
        assert_same_rows(ovb(blob), ort(blob))


def test_raw_maps_come_back_in_the_exporters_order_and_are_decoded(tmp_path):
    from detector.export import export_onnx
    from detector.models.loading import load_detector

    raw = export_onnx(load_detector(SHAPES), tmp_path / "raw.onnx", img_size=96, raw=True)
    ovb, ort = load_backend(raw, "openvino"), load_backend(raw, "onnxruntime")
    assert ovb.meta.raw and [o.get_any_name() for o in ovb._outputs] == ["raw0", "raw1", "raw2"]
    blob = preprocess(pictures(1, seed=2), (96, 96))[0]
    assert_same_rows(ovb(blob), ort(blob))


def test_raw_maps_are_taken_in_the_metadatas_order_when_the_graph_lists_them_otherwise(tmp_path):
    """An ONNX file and an IR whose graph lists raw2, raw1, raw0: OpenVINO lists them that way too,
    and the backend must still pair map i with stride i (the metadata's order)."""
    from detector.export import export_onnx
    from detector.models.loading import load_detector
    from tests.export.test_onnx import reorder_outputs

    raw = export_onnx(load_detector(SHAPES), tmp_path / "raw.onnx", img_size=96, raw=True)
    listed = reorder_outputs(raw, tmp_path / "reordered.onnx")
    xml = tmp_path / "reordered.xml"
    ov.save_model(ov.Core().read_model(str(listed)), str(xml), compress_to_fp16=False)
    blob = preprocess(pictures(1, seed=2), (96, 96))[0]
    ref = load_backend(raw, "onnxruntime")(blob)
    for path in (listed, xml):
        ovb = load_backend(path, "openvino")
        assert [o.get_any_name() for o in ovb.compiled.outputs] == ["raw2", "raw1", "raw0"], path
        assert_same_rows(ovb(blob), ref)


def test_a_darknet_cfg_runs_through_the_export_cache_at_two_sizes(shared, onnx_cache):
    cfg = shared / "darknet" / "yolov3-tiny.cfg"
    for size in (96, 128):
        ovb, ort = load_backend(cfg, "openvino", img_size=size), load_backend(cfg, "onnxruntime", img_size=size)
        assert ovb.input_size == (size, size) and ovb.names == ort.names and len(ovb.names) == 80
        blob = np.random.default_rng(size).random((1, 3, size, size), dtype=np.float32)
        out, ref = ovb(blob), ort(blob)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)
    assert len(list(onnx_cache.glob("yolov3-tiny-*.onnx"))) == 2  # one export per size, shared by both


def test_an_ir_file_is_picked_by_suffix_and_keeps_the_metadata(shapes_onnx, tmp_path):
    xml = tmp_path / "shapes.xml"
    ov.save_model(ov.Core().read_model(str(shapes_onnx)), str(xml), compress_to_fp16=False)
    assert backend_for(xml) == "openvino"
    det, ref = Detector(xml, img_size=160, conf_thres=0.3), Detector(shapes_onnx, img_size=160, conf_thres=0.3)
    assert det.backend.name == "openvino" and det.names == list(DEFAULT_CLASSES)
    assert det.backend.spec == ref.backend.spec and det.backend.default_size == 128
    imgs = pictures(2, seed=7)
    for a, b in zip(det(imgs), ref(imgs)):
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.01)

    bare = tmp_path / "bare.xml"  # an IR with no cspdet metadata, e.g. someone else's model
    x = ov.opset13.parameter([1, 3, 8, 8], np.float32)
    ov.save_model(ov.Model([ov.opset13.relu(x)], [x]), str(bare))
    with pytest.raises(ValueError, match="no cspdet metadata"):
        load_backend(bare)
    (tmp_path / "junk.xml").write_text("<net>not really</net>")
    with pytest.raises(ValueError, match=r"junk.xml: not a readable OpenVINO IR"):
        load_backend(tmp_path / "junk.xml")
    with pytest.raises(FileNotFoundError, match="no such OpenVINO IR file"):
        load_backend(tmp_path / "missing.xml")


def test_an_int8_qdq_export_runs_its_convolutions_in_int8(tmp_path, capsys):
    calib = tmp_path / "calib"
    calib.mkdir()
    import cv2

    for i, img in enumerate(pictures(2, seed=3)):
        cv2.imwrite(str(calib / f"{i}.jpg"), img)
    q = tmp_path / "shapes-int8.onnx"
    assert main(["export", "--weights", str(SHAPES), "--img-size", "96", "--int8", "--calib", str(calib),
                 "--calib-images", "2", "-o", str(q)]) == 0
    ovb, ort = load_backend(q, "openvino"), load_backend(q)
    convs = [op.get_rt_info()["runtimePrecision"].astype(str) for op in ovb.compiled.get_runtime_model().get_ops()
             if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
    # quantised kernels, not dequantised FP32, but for the head's last conv per level, kept in float
    floats = [c for c in convs if c not in {"u8", "i8"}]
    assert len(floats) == len(ort.spec.strides) and len(convs) > 10 * len(floats), convs
    blob = preprocess(pictures(1, seed=4), (96, 96))[0]
    out, ref = ovb(blob), ort(blob)
    live = ref[..., 4] > 0.3
    assert live.any()  # both INT8, by different kernels: close, not equal
    np.testing.assert_allclose(out[live][:, :4], ref[live][:, :4], atol=0.05 * 96)
    np.testing.assert_allclose(out[..., 4:], ref[..., 4:], atol=0.1)


def test_half_selects_the_cpus_bf16_or_f16_and_refuses_a_cpu_without(shapes_onnx, monkeypatch):
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    expected = "bf16" if "BF16" in caps else "f16" if "FP16" in caps else None
    if expected:
        half, f32 = load_backend(shapes_onnx, "openvino", half=True), load_backend(shapes_onnx, "openvino")
        assert half.precision == expected
        assert half.compiled.get_property("INFERENCE_PRECISION_HINT") == getattr(ov.Type, expected)
        blob = preprocess(pictures(1, seed=5), (128, 128))[0]
        a, b = half(blob), f32(blob)
        live = b[..., 4] > 0.5
        assert live.any() and np.abs(a[live][:, :4] - b[live][:, :4]).max() < 2.0  # pixels at 128
        assert not np.allclose(a, b, rtol=RTOL, atol=ATOL)  # it did run in the lower precision

    class NoHalf:  # a CPU whose OpenVINO plugin offers neither (AVX2 only)
        available_devices = ["CPU"]

        def get_property(self, device, name):
            return ["FP32", "INT8"] if name == "OPTIMIZATION_CAPABILITIES" else "Some AVX2 CPU"

    monkeypatch.setattr(openvino_backend, "core", lambda: NoHalf())
    with pytest.raises(ValueError, match=r"^--half: OpenVINO's CPU \(Some AVX2 CPU\) runs neither bf16 nor f16"):
        openvino_backend.precision("CPU", True)
    assert openvino_backend.precision("CPU", False) == "f32"


def test_the_precision_is_always_asked_for_explicitly(shapes_onnx, monkeypatch):
    """On a CPU with bf16 OpenVINO's default precision is bf16; where it is not, the compiled
    model reads f32 either way, so the request itself is checked: f32 named in every compile,
    --half's precision with --half."""
    asked = []
    real = openvino_backend.core().compile_model
    monkeypatch.setattr(openvino_backend, "core", lambda: type("Core", (), {
        "compile_model": lambda self, model, device, config: (asked.append(config), real(model, device, config))[1],
        "get_property": lambda self, *a: ov.Core().get_property(*a),
        "read_model": lambda self, *a: ov.Core().read_model(*a),
        "available_devices": ["CPU"]})())
    load_backend(shapes_onnx, "openvino").replicas(2, 1)
    assert len(asked) == 2 and all(c["INFERENCE_PRECISION_HINT"] == ov.Type.f32 for c in asked), asked
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" in caps or "FP16" in caps:
        load_backend(shapes_onnx, "openvino", half=True)
        assert asked[-1]["INFERENCE_PRECISION_HINT"] == getattr(ov.Type, "bf16" if "BF16" in caps else "f16")


def test_streams_share_one_throughput_model_with_the_same_results(shapes_onnx):
    from detector.runtime.pipeline import detect_stream
    from detector.runtime.sources import Frame

    det = Detector(shapes_onnx, backend="openvino", img_size=128, conf_thres=0.3, threads=2)
    assert det.can_stream
    twins = det.replicas(2)
    compiled = twins[0].backend.compiled
    assert twins[1].backend.compiled is compiled and twins[0].backend.request is not twins[1].backend.request
    assert compiled.get_property("PERFORMANCE_HINT") == "THROUGHPUT" and compiled.get_property("NUM_STREAMS") == 2
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    frames = [Frame(img, f"f{i}", i) for i, img in enumerate(pictures(5, seed=9))]
    one = list(detect_stream(det, frames, streams=1))
    two = list(detect_stream(det, frames, streams=2))
    assert [it.frame.name for it in two] == [f"f{i}" for i in range(5)] and sum(len(it.result) for it in one) > 0
    for a, b in zip(one, two):
        assert len(a.result) == len(b.result)
        np.testing.assert_allclose(a.result.xyxy, b.result.xyxy, atol=0.01)


def test_compiled_models_are_cached_and_a_cached_one_gives_the_same_rows(shapes_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv(openvino_backend.CACHE_ENV, str(tmp_path / "ovcache"))
    first = load_backend(shapes_onnx, "openvino")
    entries = sorted(p.name for p in (tmp_path / "ovcache").iterdir())
    assert entries  # the compiled model was written
    again = load_backend(shapes_onnx, "openvino")  # read back from the cache
    assert sorted(p.name for p in (tmp_path / "ovcache").iterdir()) == entries  # no second entry
    blob = preprocess(pictures(1, seed=3), (128, 128))[0]
    np.testing.assert_array_equal(first(blob), again(blob))
    monkeypatch.setattr(openvino_backend.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setenv(openvino_backend.CACHE_ENV, "")
    assert openvino_backend.cache_dir() == str(tmp_path / "tmp" / "cspdet-openvino")  # the default
    monkeypatch.setenv(openvino_backend.CACHE_ENV, "off")
    load_backend(shapes_onnx, "openvino")
    assert openvino_backend.cache_dir() is None and not (tmp_path / "tmp").exists()


def test_devices(shapes_onnx):
    assert openvino_backend.ov_device("") == openvino_backend.ov_device("cpu") == "CPU"
    if not any(d.startswith("GPU") for d in ov.Core().available_devices):
        with pytest.raises(ValueError, match=r"^--device gpu: the openvino backend runs on cpu or on a GPU it sees"):
            load_backend(shapes_onnx, "openvino", device="gpu")
    with pytest.raises(ValueError, match="--device 0: the openvino backend runs on cpu"):
        openvino_backend.ov_device("0")


def test_detect_val_and_bench_take_it(tmp_path, capsys):
    from detector.data.synthetic import make_synthetic_dataset

    data = make_synthetic_dataset(tmp_path / "shapes", n_train=1, n_val=8, img_size=128, objects=(2, 4), sizes=(22, 60))
    assert main(["detect", "--backend", "openvino", "--weights", str(SHAPES), "--source", str(tmp_path / "shapes" /
                 "images" / "val"), "--project", str(tmp_path / "det"), "--save-txt"]) == 0
    assert len(list((tmp_path / "det" / "exp" / "labels").glob("*.txt"))) > 0
    assert main(["val", "--backend", "openvino", "--weights", str(SHAPES), "--data", str(data), "--img-size", "128",
                 "--project", str(tmp_path / "val")]) == 0
    assert json.loads((tmp_path / "val" / "exp" / "metrics.json").read_text())["AP50"] > 0.5
    out = tmp_path / "b.json"
    assert main(["bench", "csppeleenet-efm-nano@64", "--backends", "openvino,openvino-half", "--runs", "2",
                 "--warmup", "1", "--threads", "1", "--json", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["versions"]["openvino"] == ov.__version__
    ran = {r["backend"] for r in report["rows"]} | {s["backend"] for s in report["skipped"]}
    assert ran == {"openvino", "openvino-half"} and "openvino" in {r["backend"] for r in report["rows"]}
    assert all(r["roofline_gflops_s"] > 0 for r in report["rows"])


def test_without_openvino_detect_fails_in_one_line_naming_the_extra_and_bench_skips_it(monkeypatch, tmp_path, capsys):
    import cv2

    cv2.imwrite(str(tmp_path / "a.jpg"), pictures(1)[0])
    monkeypatch.setitem(sys.modules, "openvino", None)  # what a missing package looks like to import
    assert main(["detect", "--backend", "openvino", "--source", str(tmp_path), "--project", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'cspdet detect: error: ImportError: the openvino backend needs OpenVINO: pip install "cspdet[openvino]"')
    out = tmp_path / "b.json"  # the bench reports its rows skipped, and why, instead of failing
    argv = ["bench", "csppeleenet-efm-nano@64", "--backends", "openvino", "--json", str(out), "--no-progress"]
    assert main(argv) == 1
    assert json.loads(out.read_text())["skipped"] == [
        {"model": "csppeleenet-efm-nano", "backend": "openvino", "size": 64, "reason": openvino_backend.INSTALL_HINT}]


@pytest.mark.parametrize("damage,words", [
    ("missing", "its weights file {bin} is missing"),
    ("empty", "its weights file {bin} holds 0 bytes, but the .xml reads {n:,} from it"),
    ("truncated", "its weights file {bin} holds {half:,} bytes, but the .xml reads {n:,} from it"),
    ("foreign", "not a readable OpenVINO IR ("),
])
def test_a_damaged_bin_is_one_line_naming_it(shapes_onnx, tmp_path, damage, words, capsys):
    xml = tmp_path / "shapes.xml"
    ov.save_model(ov.Core().read_model(str(shapes_onnx)), str(xml), compress_to_fp16=False)
    weights = xml.with_suffix(".bin")
    n = weights.stat().st_size
    if damage == "missing":
        weights.unlink()
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:n // 2])
    else:  # another file of the same size: the constants OpenVINO checks (axes, shapes) are garbage
        weights.write_bytes(np.random.default_rng(0).integers(0, 255, n, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError) as e:
        load_backend(xml)
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{xml}: ") and "core.cpp" not in text
    assert words.format(bin=weights, n=n, half=n // 2) in text
    if damage == "foreign":
        assert f"is {weights.name} the weights file of this .xml?" in text
    assert main(["detect", "--weights", str(xml), "--project", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0

"""The bench's parts: MODEL/baseline parsing, FLOPs from ONNX graphs, rooflines, the Darknet
baseline's post-processing and the pipelined stream loop."""
import numpy as np
import pytest

from detector.bench import ModelSpec, detect_stream, onnx_gflops, parse_baseline, parse_model, roofline
from detector.bench.artifacts import net_onnx
from detector.bench.specs import shared_dir
from detector.export import export_onnx
from detector.models import build_classifier, build_model, profile_model
from detector.runtime.sources import Frame


def test_parse_model_forms(tmp_path):
    assert parse_model("csppeleenet-prn") == ModelSpec("detector", "csppeleenet-prn", "csppeleenet-prn", None)
    assert parse_model("csppeleenet-prn@320").size == 320
    assert parse_model("classifier:cspdarknet53@256") == ModelSpec("classifier", "cspdarknet53",
                                                                   "classifier:cspdarknet53", 256)
    assert parse_model("backbone:peleenet").kind == "backbone"
    leaky = parse_model("classifier:cspdarknet53?act=leaky@256")
    assert leaky.label == "classifier:cspdarknet53?act=leaky" and leaky.kwargs == {"act": "leaky"} and leaky.size == 256
    with pytest.raises(ValueError, match="unexpected keyword argument 'width'"):
        parse_model("classifier:cspdarknet53?width=2")
    with pytest.raises(ValueError, match="key=value"):
        parse_model("classifier:cspdarknet53?leaky")
    onnx_path = export_onnx(build_model("csppeleenet-prn"), tmp_path / "m.onnx", img_size=96)
    assert parse_model(str(onnx_path)) == ModelSpec("onnx", str(onnx_path), "m", 96)
    with pytest.raises(ValueError, match="exported for 96x96"):
        parse_model(f"{onnx_path}@128")
    with pytest.raises(ValueError, match="unknown prefix"):
        parse_model("tensorrt:foo")
    with pytest.raises(ValueError, match="below 32"):
        parse_model("csppeleenet-prn@16")


def test_parse_baseline_resolves_names_and_sizes(darknet_cfg):
    cfg = darknet_cfg("yolov3-tiny")
    spec = parse_baseline("darknet:yolov3-tiny")
    assert spec.kind == "darknet" and spec.source == str(cfg) and spec.size == 416  # the cfg's [net] size
    assert parse_baseline(f"darknet:{cfg}@320").label == "darknet:yolov3-tiny@320"
    with pytest.raises(ValueError, match="multiple of 32"):
        parse_baseline("darknet:yolov3-tiny@100")


def test_shared_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CSPDET_SHARED", str(tmp_path))
    assert shared_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="set CSPDET_SHARED"):
        parse_baseline("darknet:yolov3-tiny")


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the dynamic export traces shape checks
def test_onnx_gflops_matches_the_torch_profile(tmp_path):
    det = build_model("csppeleenet-prn")
    path = export_onnx(det, tmp_path / "det.onnx", img_size=(96, 128), batch=2)
    assert onnx_gflops(path) == pytest.approx(profile_model(det, (96, 128)).gflops, rel=1e-9)  # per image
    cls = build_classifier("csppeleenet")
    assert onnx_gflops(net_onnx(cls, "classifier:csppeleenet", 64)) == pytest.approx(
        profile_model(cls, 64).gflops, rel=1e-9)  # counts the Gemm too
    dynamic = export_onnx(det, tmp_path / "dyn.onnx", img_size=96, dynamic=True)
    assert onnx_gflops(dynamic) is None


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", pytest.param("opencv", marks=pytest.mark.cv_compat)])
def test_roofline_is_positive(backend):
    r = roofline(backend, threads=1, runs=2, warmup=1)
    assert r.gflop == pytest.approx(2 * 128 * 128 * 9 * 80 * 80 / 1e9)
    assert r.ms.n == 2 and r.gflops_per_s > 0
    with pytest.raises(ValueError, match="unknown"):
        roofline("tflite")


@pytest.mark.parametrize("via", [pytest.param("darknet-importer", marks=pytest.mark.darknet_importer),
                                 pytest.param("cspdet-onnx", marks=pytest.mark.cv_compat)])
def test_darknet_baseline_detections_match_torch_darknet(darknet_cfg, via):
    """OpenCV's Region rows (its Darknet importer), or the rows of cspdet's ONNX export read by
    OpenCV (5.x has no importer), through our NMS give the boxes our own Darknet model gives on
    the same random .weights file: each path's units and scores are right."""
    from detector.bench.artifacts import darknet_weights
    from detector.bench.measure import synthetic_frame
    from detector.bench.runners import DarknetRunner
    from detector.runtime.predictor import Detector

    darknet_cfg("yolov3-tiny-prn")
    spec = parse_baseline("darknet:yolov3-tiny-prn@320")
    runner, img = DarknetRunner(spec, "opencv", None, 1, 1, via=via), synthetic_frame()
    assert runner.via == via
    blob, infos = runner.preprocess([img])
    ours = runner.detections(runner.infer(blob), infos)[0]
    ref = Detector(str(darknet_weights(spec.source)), cfg=spec.source, img_size=320)(img)
    assert len(ref) > 0 and len(ours.scores) == len(ref)
    np.testing.assert_allclose(ours.boxes, ref.xyxy, atol=0.5)  # 1280x720 pixels; OpenCV uses Winograd
    np.testing.assert_allclose(ours.scores, ref.scores, atol=1e-3)
    assert (ours.class_ids == ref.class_ids).all()
    assert runner.postprocess(runner.infer(blob), infos, [img]) == len(ref)


class FakeDetector:
    """Records the order of calls; 'infers' the blob's mean so results can be traced to frames."""

    def __init__(self):
        self.inferred = []

    def preprocess(self, images):
        return np.full((1, 1), float(images[0][0, 0, 0]), np.float32), ["info"]

    def infer(self, blob):
        self.inferred.append(float(blob[0, 0]))
        return blob

    def postprocess(self, pred, infos, images, paths):
        return [float(pred[0, 0])]


def test_detect_stream_keeps_order_and_passes_errors_through():
    frames = [Frame(np.full((2, 2, 3), i, np.uint8), f"f{i}", i) for i in range(5)]
    frames.insert(2, Frame(None, "bad", 99, error="cannot decode"))
    det = FakeDetector()
    items = list(detect_stream(det, frames))
    assert [it.frame.name for it in items] == ["f0", "f1", "bad", "f2", "f3", "f4"]
    assert [it.result for it in items] == [0.0, 1.0, None, 2.0, 3.0, 4.0]
    assert det.inferred == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(it.pre_ms >= 0 and it.inference_ms >= 0 for it in items)


def test_detect_stream_stops_reading_when_the_consumer_breaks():
    read = []

    def frames():
        for i in range(1000):
            read.append(i)
            yield Frame(np.zeros((2, 2, 3), np.uint8), f"f{i}", i)

    for item in detect_stream(FakeDetector(), frames(), depth=2):
        if item.frame.index == 3:
            break
    assert len(read) < 20  # the prefetch thread was stopped, not left to drain the source


class SlowFake(FakeDetector):
    """A fake whose replicas take uneven times, so parallel streams finish out of order."""

    def replicas(self, n):
        twins = [SlowFake() for _ in range(n)]
        for t in twins:
            t.inferred, t.threads = self.inferred, set()
        return twins

    def infer(self, blob):
        import threading
        import time

        time.sleep(0.02 if int(blob[0, 0]) % 3 == 0 else 0.001)
        self.threads.add(threading.current_thread().name)
        return super().infer(blob)


def test_detect_stream_with_streams_yields_in_frame_order():
    frames = [Frame(np.full((2, 2, 3), i, np.uint8), f"f{i}", i) for i in range(12)]
    frames.insert(4, Frame(None, "bad", 99, error="cannot decode"))
    det = SlowFake()
    items = list(detect_stream(det, frames, streams=3))
    assert [it.frame.name for it in items] == [f.name for f in frames]
    assert [it.result for it in items] == [None if f.error else float(f.index) for f in frames]
    assert sorted(det.inferred) == [float(i) for i in range(12)]
    assert det.inferred != sorted(det.inferred)  # frames really were inferred concurrently


def test_detect_stream_with_streams_stops_when_the_consumer_breaks():
    read = []

    def frames():
        for i in range(1000):
            read.append(i)
            yield Frame(np.full((2, 2, 3), i % 250, np.uint8), f"f{i}", i)

    for item in detect_stream(SlowFake(), frames(), depth=2, streams=2):
        if item.frame.index == 3:
            break
    assert len(read) < 20


def test_detector_batch_runs_one_static_batch_graph():
    from detector.bench.measure import synthetic_frame, time_pipeline
    from detector.bench.runners import make_runner

    runner = make_runner(parse_model("csppeleenet-prn@64"), "onnxruntime", 64, 2, 1)
    assert runner.detector.backend.batch == 2 and runner.size == 64  # one call per batch, not two
    img = synthetic_frame((120, 160))
    stats, dets = time_pipeline(runner, [img, img], runs=2, warmup=0)
    assert stats["inference"].n == 2 and dets >= 0
    assert stats["total"].median >= stats["inference"].median


def test_blocks_time_every_variant_in_turn_and_drop_each_blocks_first_call(monkeypatch):
    """--block N: N calls of one variant, then another's, in a shuffled order each round; the
    first call of every block is dropped, so each variant keeps runs samples exactly."""
    import types

    from detector.bench import BenchConfig, measure

    calls = []

    class Fake:
        engine, size, via = "torch", 64, None

        def __init__(self, spec, backend, *a, **k):
            self.key = (spec.label, backend)

        def preprocess(self, images):
            return None, None

        def infer(self, blob):
            calls.append(self.key)
            return len(calls)  # the call number doubles as its "time", to see which were kept

        def postprocess(self, out, infos, images):
            return 1

    def fake_time_once(runner, images):
        runner.infer(None)
        return {k: float(len(calls)) for k in ("pre", "inference", "post", "total")}, 1

    monkeypatch.setattr(measure, "make_runner", Fake)
    monkeypatch.setattr(measure, "time_once", fake_time_once)
    monkeypatch.setattr(measure, "RooflineProbe", lambda engine, threads: type("P", (), {
        "fn": staticmethod(lambda: None), "sample": lambda self, runs, warmup, tick=None: None,
        "result": lambda self: types.SimpleNamespace(gflops_per_s=1.0)})())
    monkeypatch.setattr(measure, "model_gflops", lambda spec, size: 1.0)
    specs = [ModelSpec("detector", "a", "a", 64), ModelSpec("detector", "b", "b", 64)]
    report = measure.run_bench(BenchConfig(models=specs, backends=["torch", "onnxruntime"], runs=6, warmup=1,
                                           block=4, threads=1), progress=False)
    timed = calls[4:]  # after each variant's one warm-up call
    blocks = [timed[i:i + 4] for i in range(0, len(timed), 4)]
    assert len(blocks) == 2 * 4 and all(len(set(b)) == 1 for b in blocks)  # 2 rounds x 4 variants
    assert len({b[0] for b in blocks[:4]}) == 4 and [b[0] for b in blocks[:4]] != [b[0] for b in blocks[4:]]
    for row in report.rows:
        kept = row.inference.samples
        assert row.inference.n == 6  # ceil(6 / 3) rounds x 3 kept calls
        firsts = {4 + 4 * i + 1 for i, b in enumerate(blocks) if b[0] == (row.model, row.backend)}
        assert not firsts & set(kept)  # the call numbers of each block's first call are gone
    assert report.settings["block"] == 4
    assert [r.peak_gflops_s for r in report.rows] == [1.0] * len(report.rows)  # the run's best conv, f32

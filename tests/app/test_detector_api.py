import numpy as np
import pytest

from detector import Detector
from detector.data.coco import COCO80_TO_91
from detector.runtime.backends import backend_for

from .conftest import scene


def test_backend_is_chosen_by_suffix_or_name():
    assert backend_for("m.pt") == "torch" and backend_for("m.onnx") == "onnxruntime"
    assert backend_for("m.engine") == "tensorrt" and backend_for("csppeleenet-efm") == "torch"
    assert backend_for("m.onnx", "opencv") == "opencv"
    with pytest.raises(ValueError, match="cannot tell the backend"):
        backend_for("m.bin")
    with pytest.raises(ValueError, match="unknown"):
        backend_for("m.onnx", "tflite")


@pytest.fixture(scope="module")
def detectors(model_files):
    pt, onnx_path = model_files
    kw = dict(img_size=160, conf_thres=0.3)
    return {"torch": Detector(pt, backend="torch", **kw), "onnxruntime": Detector(onnx_path, **kw),
            "opencv": Detector(onnx_path, backend="opencv", **kw)}


def test_backends_give_the_same_boxes_in_original_pixels(detectors):
    imgs = [scene(10), scene(11, 300, 200)]
    ref = detectors["torch"](imgs)
    assert len(ref) == 2 and sum(len(r) for r in ref) > 0, "pick a lower conf_thres: nothing detected"
    for name in ("onnxruntime", "opencv"):
        out = detectors[name](imgs)
        for a, b in zip(ref, out):
            assert len(a) == len(b), name
            np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0, err_msg=name)
            np.testing.assert_array_equal(a.class_ids, b.class_ids)
    h, w = imgs[1].shape[:2]
    assert (ref[1].xyxy[:, [0, 2]] <= w).all() and (ref[1].xyxy[:, [1, 3]] <= h).all()


def test_single_image_path_and_list_forms(detectors, tmp_path):
    import cv2

    det = detectors["onnxruntime"]
    img = scene(3)
    p = tmp_path / "x.png"
    cv2.imwrite(str(p), img)
    r_arr, r_path = det(img), det(str(p))
    np.testing.assert_allclose(r_arr.xyxy, r_path.xyxy)
    assert r_path.path == str(p) and r_arr.names == det.names
    assert set(r_arr.speed) == {"pre", "inference", "post"}
    plotted = r_arr.plot()
    assert plotted.shape == img.shape and (len(r_arr) == 0 or not np.array_equal(plotted, img))
    with pytest.raises(FileNotFoundError, match="no such image"):
        det(str(tmp_path / "missing.jpg"))


def test_static_model_adapts_to_its_own_size(model_files):
    with pytest.warns(UserWarning, match="--img-size 320 ignored"):
        det = Detector(model_files[1], img_size=320)
    assert det.img_size == (160, 160)


def test_class_filter_and_max_det(model_files):
    det = Detector(model_files[0], img_size=160, conf_thres=0.01, max_det=3, classes=[0, 1])
    r = det(scene(5))
    assert len(r) <= 3 and set(r.class_ids.tolist()) <= {0, 1}


def test_results_export_formats(detectors):
    r = detectors["torch"](scene(10))
    lines = r.yolo_lines((240, 320), save_conf=True)
    assert len(lines) == len(r) and all(len(ln.split()) == 6 for ln in lines)
    coco = r.to_coco(42)
    assert coco and all(c["image_id"] == 42 and len(c["bbox"]) == 4 for c in coco)
    # COCO's 80 names (Darknet's spelling): COCO's own category ids, 1..90 with gaps
    official = dict(enumerate(COCO80_TO_91))
    assert [c["category_id"] for c in coco] == [official[int(k)] for k in r.class_ids]
    with pytest.raises(ValueError, match="pass image_id"):
        r.to_coco()  # an array has no file name to take the id from
    r.path = "val2017/000000000139.jpg"
    assert {c["image_id"] for c in r.to_coco()} == {139}
    assert [c["category_id"] for c in r.to_coco(1, category_ids=range(100, 180))] == (r.class_ids + 100).tolist()


def test_spin_is_an_onnxruntime_session_option_with_the_same_results(model_files):
    from detector.runtime.backends.ort_backend import session_options

    key = "session.intra_op.allow_spinning"
    assert session_options(2).get_session_config_entry(key) == "0"
    assert session_options(2, spin=True).get_session_config_entry(key) == "1"
    pt, onnx_path = model_files
    imgs = [scene(10), scene(11, 300, 200)]
    calm = Detector(onnx_path, img_size=160, conf_thres=0.3)(imgs)
    spinning = Detector(onnx_path, img_size=160, conf_thres=0.3, spin=True)(imgs)
    assert sum(len(r) for r in calm) > 0
    for a, b in zip(calm, spinning):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
    # PyTorch's policy is fixed when torch loads (tests/test_wait_policy.py reads it back): passive
    # here, so asking a torch model to spin says how to get it instead of silently not spinning
    with pytest.warns(UserWarning, match="set CSPDET_SPIN=1 before importing detector"):
        Detector(pt, backend="torch", spin=True)


@pytest.fixture
def process_threads():
    """Give back PyTorch's and OpenCV's process-wide thread counts, which replicas set."""
    import cv2
    import torch

    saved = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(saved[0])
    cv2.setNumThreads(saved[1])


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_replicas_run_in_parallel_threads_with_the_same_results(detectors, name, process_threads):
    from concurrent.futures import ThreadPoolExecutor

    det = detectors[name]
    twins = det.replicas(2)
    assert len(twins) == 2 and all(t.backend is not det.backend for t in twins)
    assert twins[0].backend is not twins[1].backend
    blobs = [det.preprocess([scene(20 + i)])[0] for i in range(6)]
    ref = [det.infer(b) for b in blobs]
    with ThreadPoolExecutor(2) as ex:
        out = list(ex.map(lambda ib: twins[ib[0] % 2].infer(ib[1]), enumerate(blobs)))
    det.end_streams()  # every replicas() is paired with end_streams(), as detect_stream does
    for a, b in zip(ref, out):  # raw decoded rows: NMS would amplify 1e-7 differences in ties
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert det.replicas(1) == [det]
    with pytest.raises(ValueError, match="--streams must be at least 1"):
        det.replicas(0)


def test_streams_give_pytorch_its_thread_count_back(detectors, process_threads):
    import torch

    from detector.runtime.pipeline import detect_stream
    from detector.runtime.sources import Frame

    torch.set_num_threads(2)
    frames = [Frame(scene(30 + i), f"f{i}", i) for i in range(3)]
    items = list(detect_stream(detectors["torch"], frames, streams=2))
    assert [it.frame.name for it in items] == ["f0", "f1", "f2"] and all(it.result is not None for it in items)
    assert torch.get_num_threads() == 2


def test_every_backend_keeps_the_protocol(detectors):
    import importlib

    from detector.runtime.backends import BACKENDS, Backend, BackendBase

    for name, entry in BACKENDS.items():  # TensorRT's class too: its module imports without tensorrt
        cls = getattr(importlib.import_module(entry.module), entry.cls)
        assert issubclass(cls, BackendBase) and cls.name == name
    for name, det in detectors.items():
        assert isinstance(det.backend, Backend), name
        assert det.backend.streams == (name != "opencv") and det.backend.default_size > 0


def test_opencv_runs_one_stream(detectors):
    det = detectors["opencv"]
    assert not det.can_stream and det.replicas(1) == [det]
    with pytest.raises(NotImplementedError, match="opencv backend runs one stream"):
        det.backend.replica(1)
    with pytest.raises(ValueError, match=r"--streams 2: parallel streams need CPU .* \(here opencv on cpu\)"):
        det.replicas(2)

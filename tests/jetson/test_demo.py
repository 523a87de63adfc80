"""The standalone Jetson runtime (demos/jetson): Python 3.6 syntax, model metadata without the onnx
package, and the same detections as the package through its OpenCV DNN and ONNX Runtime fallbacks."""
import json
import re
import subprocess
import sys
from collections import namedtuple

import cv2
import numpy as np
import onnx
import pytest

from detector import Detector
from detector.export import read_metadata
from detector.export.onnx import JSON_KEYS
from detector.geometry.nms import NMS_KINDS
from tests.export.test_coco_parity import CONF, IOU, assert_same_detections, near_ties

from .conftest import DEMO

Dets = namedtuple("Dets", "boxes scores class_ids")
VERMIN = 'import sys; from vermin import main; sys.argv[0] = "vermin"; sys.exit(main())'


def vermin(*args) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-c", VERMIN, "--no-tips", "--eval-annotations", *map(str, args)],
                       capture_output=True, text=True)
    if "No module named 'vermin'" in r.stderr:
        pytest.fail("vermin is not installed: pip install vermin (it belongs in the dev extra)")
    return r


def test_demo_needs_at_most_python_36(tmp_path):
    r = vermin("-t=3.6-", "--violations", DEMO)
    found = re.search(r"Minimum required versions: (\d+)\.(\d+)", r.stdout)
    assert r.returncode == 0 and found, r.stdout + r.stderr
    assert (int(found[1]), int(found[2])) <= (3, 6), r.stdout
    # The check has teeth: what JetPack 4.6's Python 3.6 lacks is caught.
    newer = tmp_path / "newer.py"
    newer.write_text('from dataclasses import dataclass\n\ndef f(x):\n    return f"{x=}"\n')
    assert vermin("-t=3.6-", "--violations", newer).returncode != 0


def test_builtin_metadata_reader_matches_onnx(jetson_models, demo_rt):
    assert demo_rt.meta.JSON_KEYS == JSON_KEYS
    for path in jetson_models.values():
        props = demo_rt.onnx_metadata_props(str(path))
        assert props == {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert demo_rt.meta.parse_props(props) == read_metadata(path)
        info = demo_rt.ModelInfo(demo_rt.load_metadata(str(path), use_onnx=False))
        assert info.img_size == (160, 160) and info.num_classes == 80 and info.strides[-1] == 32


def test_builtin_metadata_reader_refuses_broken_files(jetson_models, demo_rt, tmp_path):
    data = jetson_models["raw"].read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.onnx").write_bytes(b"\x0f" * 64)  # wire type 7 does not exist
    for name in ("cut.onnx", "junk.onnx"):
        with pytest.raises(ValueError):
            demo_rt.onnx_metadata_props(str(tmp_path / name))


def test_engine_metadata_comes_from_the_sidecar(jetson_models, demo_rt, demo_app, tmp_path, capsys):
    engine = tmp_path / "m.engine"
    with pytest.raises(FileNotFoundError, match="build_engine.sh"):
        demo_rt.load_metadata(str(engine))
    sidecar = str(engine) + ".json"
    assert demo_app.main([str(jetson_models["raw"]), "--write-sidecar", sidecar, "--no-onnx"]) == 0
    with open(sidecar) as f:
        assert json.load(f) == read_metadata(jetson_models["raw"])
    assert demo_rt.ModelInfo(demo_rt.load_metadata(str(engine))).raw
    # No TensorRT here: the engine is refused with a one-line reason, not a traceback.
    engine.write_bytes(b"not an engine")
    assert demo_app.main([str(engine), "--no-show"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tensorrt" in err and "\n" not in err


@pytest.mark.parametrize("kind", ["decoded", "raw"])
@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_demo_detections_match_the_package(jetson_models, demo_rt, images, kind, backend):
    """Same boxes (<= 1 px in frame pixels), classes and scores as ``detector.Detector`` on the
    same file; images where rounding could flip a result (near_ties) are left out."""
    path = str(jetson_models[kind])
    ref = Detector(path, conf_thres=CONF, iou_thres=IOU)
    demo = demo_rt.Model(path, backend, conf_thres=CONF, iou_thres=IOU, use_onnx=False)
    assert demo.backend == backend and demo.info.raw == (kind == "raw")
    pred = ref.infer(ref.preprocess(images)[0])
    compared = total = 0
    for i, img in enumerate(images):
        if near_ties(pred[i]):
            continue
        r, d = ref(img), demo(img)
        assert_same_detections(Dets(r.xyxy, r.scores, r.class_ids), Dets(d.boxes, d.scores, d.class_ids),
                               f"image {i}, {backend}, {kind}")
        compared, total = compared + 1, total + len(r)
    assert compared >= len(images) - 2 and total >= 10, (compared, total)


def test_app_runs_a_folder_and_a_video_and_saves_them(jetson_models, demo_app, images, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, img in enumerate(images[:3]):
        cv2.imwrite(str(folder / f"{i}.jpg"), img)
    model = str(jetson_models["decoded"])
    stats = demo_app.run(demo_app.parse_args([model, "--source", str(folder), "--no-show", "--save",
                                              str(tmp_path / "out"), "--backend", "opencv"]))
    assert stats["frames"] == 3 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for img in images * 2:
        writer.write(cv2.resize(img, (320, 240)))
    writer.release()
    stats = demo_app.run(demo_app.parse_args([model, "--source", str(video), "--no-show", "--max-frames", "4",
                                              "--save", str(tmp_path / "out.avi")]))
    assert stats["frames"] == 4 and stats["infer"] > 0
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and cap.read()[1].shape == (240, 320, 3)
    cap.release()


def test_csi_camera_pipeline(demo_rt):
    pipeline = demo_rt.csi_pipeline(sensor_id=1, width=640, height=480, fps=60, flip_method=2)
    assert pipeline.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM), width=640, height=480, "
                               "framerate=60/1, format=NV12 ! nvvidconv flip-method=2 ")
    assert pipeline.endswith("format=BGR ! appsink drop=1 max-buffers=1")
    # No camera here; without GStreamer (pip's OpenCV) the error says what to install.
    with pytest.raises(RuntimeError, match="GStreamer" if not demo_rt.sources.has_gstreamer() else "could not open"):
        demo_rt.Source(None, csi=True)


@pytest.mark.parametrize("kind,beta", [("iou", 1.0), ("diou", 1.0), ("diou", 0.6)])
def test_device_nms_keeps_the_packages_boxes(demo_rt, kind, beta):
    """The device's numpy NMS (no package there) against ``detector.geometry.nms`` on clustered
    boxes where DIoU and IoU disagree: same kept rows, same order."""
    from detector.geometry.nms import nms as package_nms

    rng = np.random.default_rng(7)
    differs = 0
    for trial in range(20):
        centres = rng.uniform(50, 150, (6, 2))
        xy = centres[rng.integers(0, 6, 120)] + rng.normal(0, 8, (120, 2))
        wh = rng.uniform(10, 60, (120, 2))
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
        scores = rng.random(120).astype(np.float32)
        cls = rng.integers(0, 3, 120)
        got = demo_rt.processing.nms(boxes, scores, cls, 0.45, 300, kind, beta)
        want = package_nms(boxes, scores, cls, 0.45, 300, kind, beta)
        assert got.tolist() == np.asarray(want).tolist(), (trial, kind, beta)
        differs += got.tolist() != demo_rt.processing.nms(boxes, scores, cls, 0.45, 300).tolist()
    assert (differs > 0) == (kind == "diou")  # the cases tell DIoU from IoU


def test_device_reads_the_cfgs_nms_kind(jetson_models, demo_rt):
    info = demo_rt.ModelInfo({"strides": [8], "anchors": [[[1, 1]]], "num_classes": 1, "img_size": [32, 32],
                              "nms_kind": "diounms", "beta_nms": 0.6})
    assert (info.nms_kind, info.beta_nms) == ("diou", 0.6)
    plain = demo_rt.ModelInfo({"strides": [8], "anchors": [[[1, 1]]], "num_classes": 1, "img_size": [32, 32]})
    assert (plain.nms_kind, plain.beta_nms) == ("iou", 1.0)
    assert demo_rt.meta.NMS_KINDS == NMS_KINDS
    with pytest.raises(ValueError, match=r"m.onnx: nms_kind 'cornersnms' is not one of"):
        demo_rt.ModelInfo({"strides": [8], "anchors": [[[1, 1]]], "num_classes": 1, "img_size": [32, 32],
                           "nms_kind": "cornersnms"}, "m.onnx")

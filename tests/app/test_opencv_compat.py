"""The README's main job in OpenCV DNN on whichever OpenCV is installed: 4.x in the main run, 5.x
in .ci/run's compatibility pass (``pytest -m cv_compat``). The shipped model is exported and run
by OpenCV and by ONNX Runtime on the demo media, images and video, with the same boxes."""
import json

import cv2
import numpy as np
import pytest

from detector.cli import main
from detector.resources import default_weights_path, demo_media_dir

pytestmark = pytest.mark.cv_compat


def detect(tmp_path, backend: str, *args) -> tuple[list[dict], object]:
    """``cspdet detect`` on the shipped model -> (COCO predictions, run folder)."""
    argv = ["detect", "--weights", str(default_weights_path()), "--backend", backend, "--project", str(tmp_path),
            "--name", backend, "--save-json", "--threads", "1", *args]
    assert main(argv) == 0
    run = tmp_path / backend
    return json.loads((run / "predictions.json").read_text()), run


def assert_same_predictions(ours: list[dict], ref: list[dict]) -> None:
    """The same number of boxes per image and class, each within a pixel of its nearest twin
    (near-equal scores may swap the order), and the same sorted scores within 1e-3."""
    def groups(preds):
        out = {}
        for p in preds:
            out.setdefault((str(p["image_id"]), p["category_id"]), []).append(p)
        return out

    a, b = groups(ours), groups(ref)
    assert len(ref) > 0 and a.keys() == b.keys()
    for k in b:
        boxes_a, boxes_b = (np.array([p["bbox"] for p in g[k]]) for g in (a, b))
        assert len(boxes_a) == len(boxes_b), k
        gap = np.abs(boxes_a[:, None] - boxes_b[None]).max(-1)
        assert gap.min(1).max() <= 1.0 and gap.min(0).max() <= 1.0, k
        np.testing.assert_allclose(sorted(p["score"] for p in a[k]), sorted(p["score"] for p in b[k]), atol=1e-3)


def test_detect_demo_images_in_opencv_like_onnxruntime(tmp_path):
    media = demo_media_dir()
    images = sorted(media.glob("*.jpg"))
    ours, run = detect(tmp_path, "opencv", "--source", str(media / "*.jpg"))
    ref, _ = detect(tmp_path, "onnxruntime", "--source", str(media / "*.jpg"))
    assert_same_predictions(ours, ref)
    assert len({p["image_id"] for p in ours}) == len(images)  # every demo still has shapes found
    for path in images:
        annotated = cv2.imread(str(run / path.name))
        assert annotated is not None and annotated.shape == cv2.imread(str(path)).shape


def test_detect_demo_video_in_opencv_like_onnxruntime(tmp_path):
    video = demo_media_dir() / "demo.mp4"
    ours, run = detect(tmp_path, "opencv", "--source", str(video), "--vid-stride", "4")
    ref, _ = detect(tmp_path, "onnxruntime", "--source", str(video), "--vid-stride", "4", "--nosave")
    assert_same_predictions(ours, ref)
    cap = cv2.VideoCapture(str(run / "demo.mp4"))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert frames == 15 and ok and frame.shape == (360, 640, 3)  # 60 frames, every 4th, written back

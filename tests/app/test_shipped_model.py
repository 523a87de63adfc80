"""The model in weights/ detects the bundled demo media: the README's main job shows real boxes."""
from pathlib import Path

import numpy as np
import pytest

from detector import Detector
from detector.data.synthetic import DEFAULT_CLASSES, demo_frames, synthetic_image
from detector.geometry.boxes import box_iou, xywh2xyxy

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "weights" / "cspdet-shapes.pt"


def matched(result, labels: np.ndarray, hw) -> tuple[int, int]:
    """(ground truths found with the right class at IoU >= 0.5, detections)."""
    h, w = hw
    gt = xywh2xyxy(labels[:, 1:5] * [w, h, w, h])
    found = 0
    for cls, box in zip(labels[:, 0].astype(int), gt):
        same = result.class_ids == cls
        if same.any() and box_iou(box[None], result.xyxy[same]).max() >= 0.5:
            found += 1
    return found, len(result)


@pytest.fixture(scope="module")
def detector():
    assert WEIGHTS.is_file(), f"{WEIGHTS} is missing: the README's main job would fall back to a random model"
    return Detector(str(WEIGHTS), conf_thres=0.3)


@pytest.mark.cv_compat
def test_shipped_model_finds_the_demo_images_shapes(detector):
    assert detector.names == list(DEFAULT_CLASSES)
    found = total = dets = 0
    for i, path in enumerate(sorted((ROOT / "demos" / "media").glob("demo_*.jpg"))):
        # the demo stills are make_demo_images(seed=0): regenerate their labels
        img, labels = synthetic_image(np.random.default_rng([0, 7, i]), (360, 640), DEFAULT_CLASSES, (2, 6))
        r = detector(str(path))
        f, n = matched(r, labels, img.shape[:2])
        found, total, dets = found + f, total + len(labels), dets + n
    assert total >= 8
    assert found / total >= 0.6, f"{found}/{total} demo shapes found with the right class"
    assert dets <= 2 * total, f"{dets} detections for {total} shapes"


def test_shipped_model_tracks_the_demo_video_shapes(detector):
    found = total = 0
    for k, (frame, labels) in enumerate(demo_frames(n_frames=60)):
        if k % 10 == 0:
            f, _ = matched(detector(frame), labels, frame.shape[:2])
            found, total = found + f, total + len(labels)
    assert found / total >= 0.6, f"{found}/{total} shapes found in the demo video frames"

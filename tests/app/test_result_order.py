"""predictions.json lists images in the source's order, whatever order they ran in: ``val
--rect`` groups them by aspect ratio, ``detect`` and ``batch`` finish them on several threads
(``runtime.sinks.write_coco``)."""
import json

import cv2
import numpy as np
import pytest

from detector.cli import main
from detector.data.synthetic import DEFAULT_CLASSES, synthetic_image
from detector.runtime.sinks import Written, write_coco

from tests.conftest import REPO

SHAPES = REPO / "weights" / "cspdet-shapes.pt"
# (h, w) of images 1..8: tall, wide and square mixed, so --rect's batches take them out of order
SIZES = [(320, 160), (160, 320), (240, 240), (320, 200), (120, 320), (240, 320), (320, 240), (200, 320)]


@pytest.fixture(scope="module")
def shapes_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("order")
    for d in ("images", "labels"):
        (root / d).mkdir()
    for i, hw in enumerate(SIZES, 1):
        img, labels = synthetic_image(np.random.default_rng(i), hw, DEFAULT_CLASSES, (2, 4))
        cv2.imwrite(str(root / "images" / f"{i}.jpg"), img)
        np.savetxt(root / "labels" / f"{i}.txt", labels, fmt="%g")
    data = root / "data.yaml"
    data.write_text(json.dumps({"path": str(root), "train": "images", "val": "images",
                                "names": list(DEFAULT_CLASSES)}))
    return data


def image_runs(preds: list[dict]) -> list[int]:
    """The image ids of predictions.json with consecutive repeats dropped."""
    ids = [p["image_id"] for p in preds]
    return [i for k, i in enumerate(ids) if k == 0 or ids[k - 1] != i]


@pytest.mark.parametrize("rect", [False, True])
def test_val_predictions_json_follows_the_source_order(shapes_set, tmp_path, rect):
    assert main(["val", "--weights", str(SHAPES), "--data", str(shapes_set), "--batch-size", "2",
                 "--img-size", "160", "--project", str(tmp_path), "--save-json",
                 *(["--rect"] if rect else [])]) == 0
    preds = json.loads((tmp_path / "exp" / "predictions.json").read_text())
    assert image_runs(preds) == list(range(1, 9))  # each image once, in order, none without detections
    for i in range(1, 9):
        scores = [p["score"] for p in preds if p["image_id"] == i]
        assert scores == sorted(scores, reverse=True), i  # as the model ranked them


def test_write_coco_puts_items_back_in_source_order(tmp_path):
    """Items finished out of order (threads): ids and predictions.json follow ``seq``."""
    def item(seq, stem):
        return Written(seq, 0, f"{stem}.jpg", False, stem, [{"category_id": 1, "bbox": [seq, 0, 1, 1],
                                                              "score": 0.5}])

    finished = [item(2, "c"), item(0, "a"), item(3, "10"), item(1, "b")]
    ids = write_coco(tmp_path, finished)
    preds = json.loads((tmp_path / "predictions.json").read_text())
    assert [p["bbox"][0] for p in preds] == [0, 1, 2, 3]
    files = json.loads((tmp_path / "image_ids.json").read_text())
    assert [f["file_name"] for f in files] == ["a.jpg", "b.jpg", "c.jpg", "10.jpg"]
    assert [ids[s] for s in range(4)] == [p["image_id"] for p in preds] == [f["id"] for f in files]
    assert ids[3] == 10  # a numeric stem keeps its number

"""COCO-exact results on coco128: ``detect --save-json`` scored by plain pycocotools against COCO's
official ids equals ``cspdet val``; a COCO JSON with crowd regions and polygon areas scores in
``val`` exactly as COCOeval on that file. The detections come from the oracle backend: the
ground truth jittered, relabelled, dropped and padded with false positives, so AP is ~0.5 and
every id or area mistake moves it."""
from __future__ import annotations

import contextlib
import io
import json

import cv2
import numpy as np
import pytest

from detector.cli import main
from detector.data.coco import COCO_NAMES
from tests.conftest import missing_shared, shared_dir

from .oracle import register, write_model

# yolov5's coco80_to_coco91_class(), copied rather than imported: the test must not take the
# package's word for the ids it checks.
OFFICIAL_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
                32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
                58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
                88, 89, 90]
OFFICIAL_RENAMES = {"motorbike": "motorcycle", "aeroplane": "airplane", "sofa": "couch", "pottedplant": "potted plant",
                    "diningtable": "dining table", "tvmonitor": "tv"}
NAMES = [OFFICIAL_RENAMES.get(n, n) for n in COCO_NAMES]  # as COCO's files and coco128.yaml name them
STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
SIZE = 320


@pytest.fixture(scope="module")
def coco128():
    """{image path: (h, w, labels [K, 5] as cspdet reads them: float32)} of coco128."""
    root = shared_dir() / "data" / "coco128"
    if not (root / "images").is_dir():
        missing_shared(f"coco128 not found at {root}")
    truth = {}
    for img in sorted((root / "images").glob("*.jpg")):
        h, w = cv2.imread(str(img)).shape[:2]
        txt = root / "labels" / f"{img.stem}.txt"
        labels = np.loadtxt(txt, ndmin=2).astype(np.float32) if txt.is_file() else np.zeros((0, 5), np.float32)
        truth[str(img)] = (h, w, labels.reshape(-1, 5))
    return root, truth


def pixel_boxes(h, w, labels) -> np.ndarray:
    """[K, 4] x, y, w, h in pixels, computed as a YOLO label becomes a COCO box (float64 of float32)."""
    cx, cy, bw, bh = (labels[:, k].astype(np.float64) for k in range(1, 5))
    return np.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h], 1)


def noisy_detections(truth, seed: int = 0) -> dict:
    """Per image [[x1, y1, x2, y2, score, class]]: 85% of the objects, jittered (IoU spread over
    the COCO thresholds), 10% of those in a wrong class, plus ~2 false positives an image."""
    rng = np.random.default_rng(seed)
    out = {}
    for path, (h, w, labels) in truth.items():
        dets = []
        for (x, y, bw, bh), cls in zip(pixel_boxes(h, w, labels), labels[:, 0].astype(int)):
            if rng.random() < 0.15:
                continue
            jx, jy, jw, jh = rng.normal(0, 0.08, 4) * [bw, bh, bw, bh]
            cls = int(rng.integers(80)) if rng.random() < 0.1 else int(cls)
            dets.append([x + jx, y + jy, x + jx + bw + jw, y + jy + bh + jh, rng.uniform(0.05, 1.0), cls])
        for _ in range(rng.poisson(2)):
            x1, y1 = rng.uniform(0, w - 20), rng.uniform(0, h - 20)
            dets.append([x1, y1, x1 + rng.uniform(10, w - x1), y1 + rng.uniform(10, h - y1), rng.uniform(0.001, 0.5),
                         int(rng.integers(80))])
        out[path] = np.clip(np.asarray(dets, np.float64).reshape(-1, 6), 0, [w, h, w, h, 1, 79])
    return out


def official_gt(truth, crowd_seed: int | None = None) -> dict:
    """coco128 as a COCO instances dict with COCO's ids. With ``crowd_seed``: one object in 12
    becomes a crowd region, and every object gets an ellipse polygon whose area (about 0.78 w h,
    the shoelace formula) is its ``area``, as in COCO's files, where area is the mask's."""
    rng = np.random.default_rng(crowd_seed)
    images, annotations = [], []
    for path, (h, w, labels) in truth.items():
        image_id = int(path.rsplit("/", 1)[1].split(".")[0])
        images.append({"id": image_id, "file_name": path.rsplit("/", 1)[1], "width": w, "height": h})
        for (x, y, bw, bh), cls in zip(pixel_boxes(h, w, labels).tolist(), labels[:, 0].astype(int)):
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": OFFICIAL_IDS[cls],
                   "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0}
            if crowd_seed is not None:
                t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
                px, py = x + bw / 2 * (1 + np.cos(t)), y + bh / 2 * (1 + np.sin(t))
                ann["segmentation"] = [np.stack([px, py], 1).ravel().tolist()]
                ann["area"] = float(0.5 * abs(np.dot(px, np.roll(py, 1)) - np.dot(py, np.roll(px, 1))))
                ann["iscrowd"] = int(rng.random() < 1 / 12)
            annotations.append(ann)
    categories = [{"id": i, "name": n, "supercategory": "thing"} for i, n in zip(OFFICIAL_IDS, NAMES)]
    return {"images": images, "annotations": annotations, "categories": categories}


def pycocotools_stats(gt_path, detections) -> list[float]:
    """Plain pycocotools, as a COCO user would run it on the two files."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_path))
        e = COCOeval(coco, coco.loadRes([dict(d) for d in detections]), "bbox")
        e.evaluate(), e.accumulate(), e.summarize()
    return e.stats.tolist()


@pytest.fixture
def oracle(coco128, tmp_path, monkeypatch):
    """The oracle model file for coco128's noisy detections (COCO's 80 names, Darknet's spelling)."""
    register(monkeypatch)
    return write_model(tmp_path / "oracle.json", COCO_NAMES, SIZE, noisy_detections(coco128[1]))


def test_detect_json_scored_by_pycocotools_on_official_ids_equals_val(coco128, oracle, tmp_path, capsys):
    root, truth = coco128
    model = ["--weights", str(oracle), "--backend", "oracle", "--img-size", str(SIZE)]
    assert main(["detect", *model, "--source", str(root / "images"), "--conf-thres", "0.001", "--iou-thres", "0.6",
                 "--nosave", "--save-json", "--project", str(tmp_path / "d")]) == 0
    preds = json.loads((tmp_path / "d" / "exp" / "predictions.json").read_text())
    assert {type(p["image_id"]) for p in preds} == {int} and not (tmp_path / "d" / "exp" / "image_ids.json").exists()
    assert {p["category_id"] for p in preds} <= set(OFFICIAL_IDS)
    gt_path = tmp_path / "instances_official.json"
    gt_path.write_text(json.dumps(official_gt(truth)))
    stats = pycocotools_stats(gt_path, preds)
    assert 0.3 < stats[0] < 0.7, stats  # a meaningful AP: neither a broken pipeline nor the truth itself

    data = tmp_path / "coco128.yaml"
    data.write_text(json.dumps({"path": str(root), "train": "images", "val": "images", "names": NAMES}))
    capsys.readouterr()
    assert main(["val", *model, "--data", str(data), "--project", str(tmp_path / "v"), "--save-json",
                 "--verbose"]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "v" / "exp"
    metrics = json.loads((run / "metrics.json").read_text())
    assert [metrics[k] for k in STATS] == pytest.approx(stats, abs=1e-12)
    key = lambda d: (d["image_id"], d["score"], d["category_id"], d["bbox"])  # noqa: E731
    assert sorted(json.loads((run / "predictions.json").read_text()), key=key) == sorted(preds, key=key)
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.split()[:3] == ["Class", "Images", "Instances"])
    all_row = lines[header + 1].split()
    assert all_row[:3] == ["all", "128", str(sum(len(t[2]) for t in truth.values()))]
    assert [float(v) for v in all_row[5:7]] == pytest.approx([stats[1], stats[0]], abs=1e-3)  # AP50, AP
    assert lines[header + 2].split()[0] == "person"  # per-class rows: 80 classes need --verbose, as in yolov5
    assert any(ln.startswith("Speed: ") and "ms NMS per image at shape (8, 3, 320, 320)" in ln for ln in lines)
    assert len(metrics["classes"]) == len({int(c) for t in truth.values() for c in t[2][:, 0]})
    assert 0 < metrics["P"] < 1 and 0 < metrics["R"] < 1
    for png in ("PR_curve", "F1_curve", "P_curve", "R_curve", "confusion_matrix"):
        assert (run / f"{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_coco_json_with_crowds_and_polygon_areas_scores_as_cocoeval_on_the_file(coco128, tmp_path, monkeypatch):
    root, truth = coco128
    gt = official_gt(truth, crowd_seed=1)
    crowds = [a for a in gt["annotations"] if a["iscrowd"]]
    assert len(crowds) > 40 and any(abs(a["area"] - a["bbox"][2] * a["bbox"][3]) > 100 for a in gt["annotations"])
    gt_path = tmp_path / "instances.json"
    gt_path.write_text(json.dumps(gt))
    dets = noisy_detections(truth, seed=2)
    by_id = {int(p.rsplit("/", 1)[1].split(".")[0]): p for p in truth}
    for a in crowds:  # detections inside crowd regions: COCOeval ignores them, a crowd-blind scorer counts FPs
        x, y, w, h = a["bbox"]
        extra = [[x, y, x + w * 0.6, y + h * 0.6, 0.9, OFFICIAL_IDS.index(a["category_id"])]]
        dets[by_id[a["image_id"]]] = np.concatenate([dets[by_id[a["image_id"]]], extra])
    register(monkeypatch)
    model = write_model(tmp_path / "oracle.json", COCO_NAMES, SIZE, dets)
    data = tmp_path / "data.yaml"
    data.write_text(json.dumps({"val": {"images": str(root / "images"), "annotations": str(gt_path)}}))
    assert main(["val", "--weights", str(model), "--backend", "oracle", "--data", str(data),
                 "--project", str(tmp_path / "v"), "--save-json"]) == 0
    run = tmp_path / "v" / "exp"
    metrics = json.loads((run / "metrics.json").read_text())
    preds = json.loads((run / "predictions.json").read_text())
    stats = pycocotools_stats(gt_path, preds)
    assert [metrics[k] for k in STATS] == pytest.approx(stats, abs=1e-6)
    # what a scorer without crowd regions and with w * h areas finds instead: far off
    blind = dict(gt, annotations=[dict(a, area=a["bbox"][2] * a["bbox"][3]) for a in gt["annotations"]
                                  if not a["iscrowd"]])
    blind_path = tmp_path / "blind.json"
    blind_path.write_text(json.dumps(blind))
    assert max(abs(a - b) for a, b in zip(pycocotools_stats(blind_path, preds), stats)) > 0.01


def test_val_single_cls_save_txt_and_speed_task(coco128, oracle, tmp_path, capsys):
    root, truth = coco128
    subset = dict(list(truth.items())[:16])
    listing = tmp_path / "val.txt"
    listing.write_text("".join(f"{p}\n" for p in subset))
    data = tmp_path / "data.yaml"
    data.write_text(json.dumps({"train": str(listing), "val": str(listing), "names": NAMES}))
    model = ["--weights", str(oracle), "--backend", "oracle", "--data", str(data), "--project", str(tmp_path / "v")]
    assert main(["val", *model, "--single-cls", "--save-txt", "--save-conf", "--save-json"]) == 0
    run = tmp_path / "v" / "exp"
    preds = json.loads((run / "predictions.json").read_text())
    assert {p["category_id"] for p in preds} == {0}
    gt = official_gt(subset)
    gt = dict(gt, categories=[{"id": 0, "name": "item"}],
              annotations=[dict(a, category_id=0) for a in gt["annotations"]])
    gt_path = tmp_path / "one_class.json"
    gt_path.write_text(json.dumps(gt))
    metrics = json.loads((run / "metrics.json").read_text())
    stats = pycocotools_stats(gt_path, preds)
    assert [metrics[k] for k in STATS] == pytest.approx(stats, abs=1e-12) and len(metrics["classes"]) == 1
    labels = sorted((run / "labels").glob("*.txt"))
    assert [p.stem for p in labels] == [p.rsplit("/", 1)[1][:-4] for p in subset]
    rows = [ln.split() for p in labels for ln in p.read_text().splitlines()]
    assert len(rows) == len(preds) and {r[0] for r in rows} == {"0"} and all(len(r) == 6 for r in rows)
    capsys.readouterr()
    assert main(["val", *model, "--task", "speed", "--name", "speed"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Speed: ") and "per image at shape (8, 3, 320, 320)" in out and "AP" not in out
    assert not (tmp_path / "v" / "speed").exists()


def test_a_model_trained_on_a_coco_json_keeps_its_ids_in_every_result(tmp_path):
    from detector.engine.train import Trainer, TrainConfig
    from detector.export import export_onnx
    from detector.models.checkpoint import load_checkpoint
    from detector.models.loading import load_detector
    from detector.runtime.predictor import Detector
    from tests.data.test_cocojson import write_coco

    _, annotations = write_coco(tmp_path / "coco")  # categories 1 person, 3 car, 7 kite; images 7 and 42
    split = {"images": str(tmp_path / "coco" / "images"), "annotations": str(annotations)}
    data = tmp_path / "data.yaml"
    data.write_text(json.dumps({"train": split, "val": split}))
    t = Trainer(TrainConfig(model="csppeleenet-efm-nano", data=str(data), epochs=1, batch_size=2, img_size=64,
                            workers=0, project=str(tmp_path / "runs")))
    t.start_run()
    t.save(is_best=False)  # the checkpoint as every epoch writes it
    last = t.run_dir / "weights" / "last.pt"
    assert load_checkpoint(last)["category_ids"] == [1, 3, 7]
    onnx_path = export_onnx(load_detector(last), tmp_path / "m.onnx", img_size=64)
    det = Detector(last)
    assert det.category_ids == [1, 3, 7] and det.names == ["person", "car", "kite"]
    assert Detector(onnx_path).category_ids == [1, 3, 7]  # carried in the export's metadata
    argv = ["detect", "--weights", str(last), "--source", split["images"], "--img-size", "64", "--conf-thres", "0.0",
            "--nosave", "--save-json", "--project", str(tmp_path / "d")]
    assert main(argv) == 0
    preds = json.loads((tmp_path / "d" / "exp" / "predictions.json").read_text())
    assert preds and {p["category_id"] for p in preds} <= {1, 3, 7} and {p["image_id"] for p in preds} == {7, 42}

"""Does OpenCV's compiled NMS (cv2.dnn.NMSBoxesBatched) keep exactly cspdet's boxes, and what do
both cost at conf 0.001? Prints the count of agreeing random cases, the two edge cases where they
part, and the milliseconds of each on a 2535-candidate frame (YOLOv4-tiny-416, random weights).

    python benchmarks/nms_exactness.py

OpenCV rounds each IoU to float32 before comparing it (``1.f - float(jaccardDistance)``) and calls
two zero-area boxes identical; cspdet compares float64 IoUs and gives an empty union IoU 0. So
OpenCV keeps a second box whose IoU is a hair above the threshold, and drops a duplicate zero-area
box: not the same boxes, hence not used (cspdet's blocked numpy NMS is under 10% of inference).
"""
import time
from pathlib import Path

import cv2
import numpy as np

from detector.geometry.nms import nms

ROOT = Path(__file__).resolve().parents[1]


def opencv_nms(boxes, scores, cls, thr):
    b = boxes.astype(np.float64)
    rects = [(float(x1), float(y1), float(x2 - x1), float(y2 - y1)) for x1, y1, x2, y2 in b]
    idx = cv2.dnn.NMSBoxesBatched(rects, scores.astype(np.float32).tolist(), cls.astype(np.int32).tolist(), -1.0, thr)
    return np.asarray(idx).reshape(-1).tolist()


def random_cases(rng, n_cases: int = 300):
    same = 0
    for _ in range(n_cases):
        n = int(rng.integers(10, 300))
        xy, wh = rng.integers(0, 40, (n, 2)) * 4.0, rng.integers(1, 12, (n, 2)) * 4.0
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        scores, cls = rng.choice(np.linspace(0.05, 1, 12), n).astype(np.float32), rng.integers(0, 3, n)
        same += nms(boxes, scores, cls, 0.45).tolist() == opencv_nms(boxes, scores, cls, 0.45)
    return same


def edge_cases():
    def iou(s: int) -> float:  # boxes of width w = 29 s / 11 rounded up, shifted by s: IoU (w - s) / (w + s)
        w = (29 * s) // 11 + 1
        return (w - s) / (w + s)

    s = next(s for s in range(1, 2_000_000) if 0.45 < iou(s) < 0.45 + 1.2e-8)
    w = (29 * s) // 11 + 1
    sc, one = np.array([0.9, 0.8], np.float32), np.zeros(2, int)
    near = np.array([[0, 0, w, 1], [s, 0, w + s, 1]], np.float64)  # IoU 0.450000012
    flat = np.array([[5, 5, 5, 9], [5, 5, 5, 9]], np.float32)
    return {"IoU 1.2e-8 above 0.45": (nms(near, sc, one, 0.45).tolist(), opencv_nms(near, sc, one, 0.45)),
            "two zero-area duplicates": (nms(flat, sc, one, 0.45).tolist(), opencv_nms(flat, sc, one, 0.45))}


def timing():
    from detector.bench.measure import synthetic_frame
    from detector.bench.runners import DetectorRunner
    from detector.bench.specs import parse_model
    from detector.geometry.boxes import xywh2xyxy
    from detector.geometry.nms import candidates

    runner = DetectorRunner(parse_model(str(ROOT.parent / "shared" / "darknet" / "yolov4-tiny.cfg@416")),
                            "onnxruntime", 416, 1, None, 0.001)
    p = runner.infer(runner.preprocess([synthetic_frame()])[0])[0]
    rows, scores, cls = candidates(p, 0.001, None, False)
    boxes = xywh2xyxy(p[rows, :4])
    out = {}
    for name, fn in (("numpy (cspdet)", lambda: nms(boxes, scores, cls, 0.45, 300)),
                     ("cv2.dnn.NMSBoxesBatched", lambda: opencv_nms(boxes, scores, cls, 0.45)[:300])):
        t = time.process_time()
        for _ in range(20):
            fn()
        out[name] = (time.process_time() - t) / 20 * 1e3
    return len(rows), out


if __name__ == "__main__":
    print(f"random grid cases (ties, duplicates, IoU at the threshold): {random_cases(np.random.default_rng(0))} "
          "of 300 agree")
    for name, (ours, theirs) in edge_cases().items():
        print(f"{name}: cspdet keeps {ours}, OpenCV keeps {theirs}")
    n, ms = timing()
    print(f"{n} candidates: " + ", ".join(f"{k} {v:.2f} ms CPU" for k, v in ms.items()))

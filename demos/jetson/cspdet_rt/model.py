"""One model on the device: metadata + backend + pre/post-processing, timed per stage. Python 3.6."""
import os
import time

from .backends import RUNNERS, pick_backend
from .meta import ModelInfo, load_metadata
from .processing import decode, postprocess, preprocess, scale_boxes


class Detections(object):
    """One frame's detections in frame pixels: ``boxes`` [K, 4] xyxy, ``scores`` [K], ``class_ids`` [K]."""

    def __init__(self, boxes, scores, class_ids, names):
        self.boxes, self.scores, self.class_ids, self.names = boxes, scores, class_ids, names

    def __len__(self):
        return len(self.scores)

    def summary(self):
        counts = {}
        for c in self.class_ids:
            name = self.names[c] if 0 <= c < len(self.names) else str(c)
            counts[name] = counts.get(name, 0) + 1
        return ", ".join("{} {}".format(n, name) for name, n in sorted(counts.items())) or "no detections"


class Model(object):
    """``Model(path)(bgr_frame) -> Detections``; ``path`` is a TensorRT .engine (with its .json
    sidecar) or a cspdet .onnx. ``timings`` holds the last call's pre/infer/post milliseconds."""

    def __init__(self, path, backend="auto", conf_thres=0.25, iou_thres=0.45, max_det=300, agnostic=False,
                 use_onnx=True):
        path = str(path)
        if not os.path.isfile(path):
            raise FileNotFoundError("{}: no such model file".format(path))
        self.info = ModelInfo(load_metadata(path, use_onnx), path)
        self.backend = pick_backend(path, backend)
        if self.backend == "tensorrt" and path.lower().endswith(".onnx"):
            raise ValueError("{}: TensorRT runs engines; build one with build_engine.sh".format(path))
        self.runner = RUNNERS[self.backend](path, self.info)
        self.names = self.info.names
        self.nms = dict(conf_thres=conf_thres, iou_thres=iou_thres, max_det=max_det, agnostic=agnostic,
                        nms_kind=self.info.nms_kind, beta_nms=self.info.beta_nms)
        self.timings = {"pre": 0.0, "infer": 0.0, "post": 0.0}

    def __call__(self, frame):
        t0 = time.perf_counter()
        blob, lb = preprocess(frame, self.info)
        t1 = time.perf_counter()
        outs = self.runner(blob)
        t2 = time.perf_counter()
        pred = decode(outs, self.info) if self.info.raw else outs[0].reshape(-1, outs[0].shape[-1])
        boxes, scores, class_ids = postprocess(pred, **self.nms)
        det = Detections(scale_boxes(boxes, lb), scores, class_ids, self.names)
        t3 = time.perf_counter()
        self.timings = {"pre": (t1 - t0) * 1e3, "infer": (t2 - t1) * 1e3, "post": (t3 - t2) * 1e3}
        return det

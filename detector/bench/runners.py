"""One runner per kind of model, each split the way a deployment spends its time:
``preprocess(images) -> (blob, infos)``, ``infer(blob) -> outputs`` and
``postprocess(outputs, infos, images) -> number of detections``.

Detectors go through the runtime's ``Detector`` (the code ``cspdet detect`` runs), classifiers
and backbones through a plain network call per backend, Darknet baselines through OpenCV's own
Darknet importer or, on an OpenCV without one (5.x), cspdet's Darknet reader and ONNX export.
``engine`` names the backend whose roofline a runner is compared with.
"""
from __future__ import annotations

import numpy as np

from ..geometry.letterbox import preprocess, scale_boxes
from ..geometry.nms import Detections, postprocess
from ..runtime.backends import BENCH_VARIANTS
from .specs import ModelSpec


def resolve(backend: str) -> tuple[str, dict]:
    """A bench backend name -> (runtime backend, its extra options)."""
    name, options = BENCH_VARIANTS.get(backend, (backend, {}))
    return name, dict(options)


class Unsupported(Exception):
    """This (model, backend) pair cannot run; the bench reports it and moves on."""


class DetectorRunner:
    """A cspdet detector (config, .pt, Darknet cfg or .onnx) on one runtime backend."""

    def __init__(self, spec: ModelSpec, backend: str, size: int | None, batch: int, threads: int | None,
                 conf_thres: float = 0.25):
        from ..runtime.backends.base import ensure_onnx
        from ..runtime.predictor import Detector

        runtime, options = resolve(backend)
        if spec.kind == "onnx" and runtime == "torch":
            raise Unsupported("the torch backend cannot run an .onnx file")
        weights = spec.source
        if runtime != "torch" and spec.kind != "onnx" and batch > 1:
            weights = str(ensure_onnx(spec.source, img_size=size, batch=batch))  # a static batch-N graph
        self.detector = Detector(weights, backend=runtime, img_size=size, threads=threads, conf_thres=conf_thres,
                                 **options)
        self.engine = backend
        self.size = self.detector.img_size[0]

    def preprocess(self, images):
        return self.detector.preprocess(images)

    def infer(self, blob):
        return self.detector.infer(blob)

    def postprocess(self, out, infos, images) -> int:
        return sum(len(r) for r in self.detector.postprocess(out, infos, images))


def _net_module(spec: ModelSpec):
    import torch

    from ..models import BACKBONES, build_classifier

    torch.manual_seed(0)
    if spec.kind == "classifier":
        module = build_classifier(spec.source, **spec.kwargs)
    else:
        module = BACKBONES[spec.source](**spec.kwargs)
    return module.eval()


def _net_call(spec: ModelSpec, backend: str, size: int, batch: int, threads: int | None):
    """A function blob -> outputs running the classifier/backbone on ``backend``."""
    module = _net_module(spec)
    if backend == "torch":
        import torch

        from ..models.fuse import fold_bn

        if threads:
            torch.set_num_threads(threads)
        net = fold_bn(module)

        def run(blob):
            with torch.inference_mode():
                out = net(torch.from_numpy(blob))
            return [t.numpy() for t in (out.values() if isinstance(out, dict) else [out])]
        return run
    from .artifacts import net_onnx

    path = net_onnx(module, spec.label, size, batch)
    runtime, options = resolve(backend)
    if runtime == "onnxruntime":
        import onnxruntime as ort

        from ..runtime.backends.ort_backend import session_options

        sess = ort.InferenceSession(str(path), session_options(threads, **options), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda blob: sess.run(None, {name: blob})
    if runtime == "openvino":
        from ..runtime.backends.openvino_backend import compile_model, precision

        hint = precision("CPU", options.get("half", False))
        request = compile_model(str(path), threads=threads, hint=hint).create_infer_request()
        return lambda blob: request.infer({0: blob}).to_tuple()
    import cv2

    if threads:
        cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(str(path))
    names = list(net.getUnconnectedOutLayersNames())

    def run(blob):
        net.setInput(blob)
        return net.forward(names)
    return run


class NetRunner:
    """The paper's ImageNet classifier (or the bare backbone) for backbone-vs-backbone speed."""

    def __init__(self, spec: ModelSpec, backend: str, size: int | None, batch: int, threads: int | None):
        from ..models.backbones import CLASSIFIER_DEFAULTS

        self.size = size or CLASSIFIER_DEFAULTS.get(spec.source, (256, 0.0))[0]
        self.kind, self.engine, self.batch = spec.kind, backend, batch
        self._call = _net_call(spec, backend, self.size, batch, threads)

    def preprocess(self, images):
        return preprocess(images, self.size)

    def infer(self, blob):
        return self._call(blob)

    def postprocess(self, out, infos, images) -> int:
        if self.kind == "classifier":  # a classifier's post-processing is its top-5
            logits = np.asarray(out[0]).reshape(len(images), -1)
            np.argpartition(-logits, 5, axis=1)[:, :5]
        return 0


# How a Darknet baseline reaches OpenCV DNN: its own Darknet importer (4.x), or, where OpenCV has
# none (5.x), cspdet's Darknet reader and ONNX export, read by readNetFromONNX.
VIA_IMPORTER, VIA_ONNX = "darknet-importer", "cspdet-onnx"
BASELINE_PATHS = {VIA_IMPORTER: "Darknet importer", VIA_ONNX: "cspdet Darknet reader + ONNX export"}


class DarknetRunner:
    """A Darknet cfg with random weights (or ``weights``) in OpenCV DNN (the paper's CPU setup),
    ``via`` one of BASELINE_PATHS; by default the importer where this OpenCV has one
    (feature-detected, not read from the version)."""

    engine = "opencv"

    def __init__(self, spec: ModelSpec, backend: str, size: int | None, batch: int, threads: int | None,
                 conf_thres: float = 0.25, via: str | None = None, weights: str | None = None):
        import cv2

        from ..runtime.backends.base import ensure_onnx
        from ..runtime.backends.opencv_backend import OpenCVBackend, has_darknet_importer
        from .artifacts import darknet_weights

        self.via = via or (VIA_IMPORTER if has_darknet_importer() else VIA_ONNX)
        if self.via not in BASELINE_PATHS:
            raise ValueError(f"via={self.via!r}: choose from {', '.join(BASELINE_PATHS)}")
        if self.via == VIA_IMPORTER and not has_darknet_importer():
            raise Unsupported(f"OpenCV {cv2.__version__} has no Darknet importer (cv2.dnn.readNetFromDarknet)")
        if threads:
            cv2.setNumThreads(threads)
        self.size, self.conf_thres = size or spec.size, conf_thres
        weights = str(weights or darknet_weights(spec.source))
        if self.via == VIA_IMPORTER:
            self.net = cv2.dnn.readNetFromDarknet(spec.source, weights)
            self.names = list(self.net.getUnconnectedOutLayersNames())
        else:
            onnx = ensure_onnx(weights, cfg=spec.source, img_size=self.size, batch=batch)
            self.backend = OpenCVBackend(onnx)

    def preprocess(self, images):
        return preprocess(images, self.size)

    def infer(self, blob):
        if self.via == VIA_ONNX:
            return self.backend(blob)
        self.net.setInput(blob)  # the blob's size overrides the cfg's [net] size
        return self.net.forward(self.names)

    def detections(self, out, infos) -> list:
        """The net's rows -> per image Detections in original-image pixels, through our NMS.
        The importer's Region rows hold cx, cy, w, h as fractions of the input, obj, then obj * cls
        per class; the ONNX export's are our decoded rows (pixels, obj, cls)."""
        if self.via == VIA_ONNX:
            pred = out
        else:
            n = len(infos)
            pred = np.concatenate([o.reshape(n, -1, o.shape[-1]) for o in out], axis=1)  # a new array
            pred[..., :4] *= self.size
            pred[..., 4] = 1.0  # class columns already hold obj * cls: the score stays OpenCV's
        return [Detections(scale_boxes(d.boxes, info), d.scores, d.class_ids)
                for d, info in zip(postprocess(pred, conf_thres=self.conf_thres), infos)]

    def postprocess(self, out, infos, images) -> int:
        return sum(len(d.scores) for d in self.detections(out, infos))


def make_runner(spec: ModelSpec, backend: str, size: int | None, batch: int, threads: int | None,
                conf_thres: float = 0.25):
    """The runner for ``spec`` on ``backend`` (Darknet baselines always run in OpenCV DNN)."""
    if spec.kind == "darknet":
        return DarknetRunner(spec, backend, size, batch, threads, conf_thres)
    if spec.kind in ("classifier", "backbone"):
        return NetRunner(spec, backend, size, batch, threads)
    return DetectorRunner(spec, backend, size, batch, threads, conf_thres)

"""OpenCV DNN backend (the paper's CPU runtime): an exported ONNX file, CUDA target when OpenCV has it.
Runs on OpenCV 4.x and 5.x; a .pt, YAML or Darknet model is exported to ONNX first on both."""
from __future__ import annotations

import cv2
import numpy as np

from ...devices import parse_device
from .base import OnnxMeta, ensure_onnx
from .protocol import BackendBase


def has_darknet_importer() -> bool:
    """Whether this OpenCV reads Darknet .cfg/.weights itself: 4.x does, 5.x dropped
    ``cv2.dnn.readNetFromDarknet`` (cspdet's Darknet reader and ONNX export run them there)."""
    return hasattr(cv2.dnn, "readNetFromDarknet")


def read_onnx(path: str, *, cuda: bool = False):
    """A ``cv2.dnn`` net for an ONNX file. OpenCV 5 reads it with its new engine by default,
    which ignores a CUDA backend with only a log warning (measured on 5.0.0) and so would run a
    "cuda" model on the CPU: a CUDA target asks for the classic engine there."""
    if cuda and hasattr(cv2.dnn, "ENGINE_CLASSIC"):
        return cv2.dnn.readNetFromONNX(path, cv2.dnn.ENGINE_CLASSIC)
    return cv2.dnn.readNetFromONNX(path)


class OpenCVBackend(BackendBase):
    """One stream (no ``replica``): two OpenCV 4.14 nets running forward at once in one process return wrong
    values (up to hundreds of pixels off, measured on the EFM graph), so OpenCV runs one stream."""

    name = "opencv"

    def __init__(self, path, *, device: str = "", threads: int | None = None, img_size=None,
                 cfg=None, half: bool = False):
        path = ensure_onnx(path, img_size=img_size, cfg=cfg)
        self.meta = OnnxMeta(path)
        if self.meta.input_size is None:
            raise ValueError(f"{path}: OpenCV DNN needs a static-shape ONNX (export without --dynamic)")
        if threads:
            cv2.setNumThreads(threads)
        self._path, self._device, self._half = str(path), device, half
        self.device = "cpu"
        self.net = self._read_net()
        self.output_names = list(self.net.getUnconnectedOutLayersNames())
        self.names, self.spec = self.meta.names, self.meta.spec
        self.input_size, self.batch = self.meta.input_size, self.meta.batch
        self.default_size = self.input_size[0]
        if not self.meta.raw:
            self.output_names = self.output_names[:1]

    def _read_net(self):
        device = self._device
        gpus = parse_device(device)
        if gpus == "auto" and cv2.cuda.getCudaEnabledDeviceCount() > 0:
            gpus = [0]
        if not isinstance(gpus, list):
            return read_onnx(self._path)
        if cv2.cuda.getCudaEnabledDeviceCount() == 0:
            raise ValueError(f"--device {device}: this OpenCV build has no CUDA (pip's opencv-python never does)")
        net = read_onnx(self._path, cuda=True)
        self.device = "cuda"
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA_FP16 if self._half else cv2.dnn.DNN_TARGET_CUDA)
        return net

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        self.net.setInput(blob)
        outs = self.net.forward(self.output_names)
        if self.meta.raw:  # OpenCV does not keep the graph's output order
            order = self.meta.meta.get("output_names", self.output_names)
            outs = [outs[self.output_names.index(n)] for n in order]
        return self.meta.finish(outs)

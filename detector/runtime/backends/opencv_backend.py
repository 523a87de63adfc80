"""OpenCV DNN backend (the paper's CPU runtime): an exported ONNX file, CUDA target when OpenCV has it.
Runs on OpenCV 4.x and 5.x; a .pt, YAML or Darknet model is exported to ONNX first on both."""
from __future__ import annotations

import re

import cv2
import numpy as np

from ...devices import parse_device
from .base import OnnxMeta, ensure_onnx
from .protocol import BackendBase


def has_darknet_importer() -> bool:
    """Whether this OpenCV reads Darknet .cfg/.weights itself: 4.x does, 5.x dropped
    ``cv2.dnn.readNetFromDarknet`` (cspdet's Darknet reader and ONNX export run them there)."""
    return hasattr(cv2.dnn, "readNetFromDarknet")


def read_onnx(path: str, *, cuda: bool = False, precision: str | None = None):
    """A ``cv2.dnn`` net for an ONNX file, or a ValueError line naming the file and the node it
    cannot read (OpenCV's own is a multi-line C++ trace, and its importer logs it to stderr too).

    OpenCV 5 reads with its new engine by default, which ignores a CUDA backend with only a log
    warning (measured on 5.0.0) and so would run a "cuda" model on the CPU: a CUDA target asks
    for the classic engine there. What a version reads is found by trying: 4.14 runs cspdet's
    INT8 (QDQ) files but not every QDQ graph (a DequantizeLinear of a 0-d tensor fails its axis
    check), and other versions differ.
    """
    args = (cv2.dnn.ENGINE_CLASSIC,) if cuda and hasattr(cv2.dnn, "ENGINE_CLASSIC") else ()
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.dnn.readNetFromONNX(path, *args)
    except cv2.error as e:
        node = re.search(r"Node \[(\w+)[^\]]*\]:\(onnx_node!([^)]*)\)", e.err or "")
        check = re.findall(r"'([^']*)'\s*\n[> ]*where", e.err or "")
        where = f" at its {node[1]} node {node[2]}" if node else ""
        reason = f" ({check[0]} fails)" if check else f" ({' '.join((e.err or e.msg).split())[:200]})"
        hint = "; run this INT8 file with --backend onnxruntime" if precision == "int8-qdq" else ""
        raise ValueError(f"{path}: OpenCV {cv2.__version__} cannot read this model{where}{reason}{hint}") from None
    finally:
        cv2.utils.logging.setLogLevel(level)


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
        precision = self.meta.meta.get("precision")
        device = self._device
        gpus = parse_device(device)
        if gpus == "auto" and cv2.cuda.getCudaEnabledDeviceCount() > 0:
            gpus = [0]
        if not isinstance(gpus, list):
            return read_onnx(self._path, precision=precision)
        if cv2.cuda.getCudaEnabledDeviceCount() == 0:
            raise ValueError(f"--device {device}: this OpenCV build has no CUDA (pip's opencv-python never does)")
        net = read_onnx(self._path, cuda=True, precision=precision)
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

"""Each backend's practical peak: one large 3x3 convolution timed with the same threads.

A 128 -> 128 channel 3x3 conv on an 80 x 80 map (batch 1, 1.89 GFLOPs) is about the densest
work a detector's backbone offers a CPU: a model's achieved GFLOP/s divided by this one says
how much of the backend's attainable speed the model's small, memory-bound layers give away.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .timing import Stat, time_calls

CHANNELS, SIZE, KERNEL = 128, 80, 3
GFLOP = 2 * CHANNELS * CHANNELS * KERNEL * KERNEL * SIZE * SIZE / 1e9


@dataclass(frozen=True)
class Roofline:
    backend: str
    threads: int | None
    ms: Stat
    gflop: float = GFLOP

    @property
    def gflops_per_s(self) -> float:
        return self.gflop / (self.ms.median / 1e3)

    def to_dict(self) -> dict:
        return {"backend": self.backend, "threads": self.threads, "gflop": self.gflop,
                "gflops_per_s": self.gflops_per_s, "ms": self.ms.to_dict()}


def _conv():
    import torch

    torch.manual_seed(0)
    return torch.nn.Conv2d(CHANNELS, CHANNELS, KERNEL, padding=KERNEL // 2).eval()


def conv_onnx() -> Path:
    """The conv as ONNX, written once per machine into the bench cache."""
    import torch

    from ..export.onnx import trace_to_onnx
    from .artifacts import cached

    def write(tmp: Path) -> None:
        tmp.write_bytes(trace_to_onnx(_conv(), torch.zeros(1, CHANNELS, SIZE, SIZE), 12, ["output"], None))

    return cached("roofline-conv", f"{CHANNELS}|{SIZE}|{KERNEL}|{torch.__version__}", ".onnx", write)


def _torch_fn(threads: int | None, half: bool = False) -> Callable[[], object]:
    import torch

    from ..runtime.backends.torch_backend import half_dtype

    if threads:
        torch.set_num_threads(threads)
    dtype = half_dtype(torch.device("cpu")) if half else torch.float32
    conv, x = _conv().to(dtype), torch.rand(1, CHANNELS, SIZE, SIZE, dtype=dtype)

    def run():
        with torch.inference_mode():
            return conv(x)
    return run


def _ort_fn(threads: int | None, spin: bool = False) -> Callable[[], object]:
    import onnxruntime as ort

    from ..runtime.backends.ort_backend import session_options

    sess = ort.InferenceSession(str(conv_onnx()), session_options(threads, spin), providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.random.rand(1, CHANNELS, SIZE, SIZE).astype(np.float32)}
    return lambda: sess.run(None, feed)


def _opencv_fn(threads: int | None) -> Callable[[], object]:
    import cv2

    if threads:
        cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(str(conv_onnx()))
    x = np.random.rand(1, CHANNELS, SIZE, SIZE).astype(np.float32)

    def run():
        net.setInput(x)
        return net.forward()
    return run


def _openvino_fn(threads: int | None, half: bool = False) -> Callable[[], object]:
    from ..runtime.backends.openvino_backend import compile_model, precision

    request = compile_model(str(conv_onnx()), threads=threads, hint=precision("CPU", half)).create_infer_request()
    x = np.random.rand(1, CHANNELS, SIZE, SIZE).astype(np.float32)
    return lambda: request.infer({0: x})


# Backend name -> builder of a zero-argument call running the conv once; set up the way the
# runtime's backends set themselves up (same ORT session options, same OpenCV defaults, OpenVINO
# compiled for latency).
ROOFLINE_FNS = {"torch": _torch_fn, "onnxruntime": _ort_fn, "opencv": _opencv_fn, "openvino": _openvino_fn}


class RooflineProbe:
    """The conv, built once on one backend and sampled throughout a bench run: pooling samples
    taken before, between and after the models keeps the ceiling measured under the same
    conditions as the models (one early measurement on a shared machine can be 2x off)."""

    def __init__(self, backend: str, threads: int | None = None):
        from .runners import resolve

        runtime, options = resolve(backend)  # a bench variant runs its runtime with its options
        if runtime not in ROOFLINE_FNS:
            raise ValueError(f"roofline: backend {backend!r} unknown; choose from {', '.join(ROOFLINE_FNS)}")
        self.backend, self.threads = backend, threads
        self.fn = ROOFLINE_FNS[runtime](threads, **options)
        self.ms: list[float] = []

    def sample(self, runs: int, warmup: int = 0, tick: Callable[[], None] | None = None) -> None:
        stat = time_calls(self.fn, runs, warmup, tick)
        self.ms.extend(stat.samples)

    def result(self) -> Roofline:
        return Roofline(self.backend, self.threads, Stat.of(self.ms))


def roofline(backend: str, threads: int | None = None, runs: int = 20, warmup: int = 3,
             tick: Callable[[], None] | None = None) -> Roofline:
    """Time the conv on ``backend`` (a key of ROOFLINE_FNS) -> Roofline (GFLOP/s)."""
    probe = RooflineProbe(backend, threads)
    probe.sample(runs, warmup, tick)
    return probe.result()

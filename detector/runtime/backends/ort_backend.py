"""ONNX Runtime backend: CPU execution provider, CUDA when onnxruntime-gpu has it."""
from __future__ import annotations

import copy
import os

import numpy as np

from ...devices import parse_device
from .base import OnnxMeta, ensure_onnx
from .protocol import BackendBase


def session_options(threads: int | None, spin: bool = False):
    """ORT session options; ``spin`` keeps the worker threads busy-waiting between ops."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or (os.cpu_count() or 1)
    so.inter_op_num_threads = 1
    # Off by default: spinning workers keep cores busy between ops, and on a shared 2-core VM with
    # the pipeline's reader and writer threads on the same cores that halved throughput. On a quiet
    # machine spinning cuts single-image latency by about 17% (FP32) and 20% (INT8), so it is an
    # option (benchmarks/speed_experiments.py, docs/performance.md).
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return so


class ORTBackend(BackendBase):
    name = "onnxruntime"
    streams = True

    def __init__(self, path, *, device: str = "", threads: int | None = None, img_size=None,
                 cfg=None, half: bool = False, spin: bool = False):
        import onnxruntime as ort

        path = ensure_onnx(path, img_size=img_size, cfg=cfg)
        self.meta = OnnxMeta(path)
        providers = ["CPUExecutionProvider"]
        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        gpus = parse_device(device)
        if gpus == "auto" and has_cuda:
            gpus = [0]
        if isinstance(gpus, list):
            if not has_cuda:
                raise ValueError(f"--device {device}: this onnxruntime has no CUDAExecutionProvider "
                                 "(install onnxruntime-gpu)")
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": gpus[0]}))
        self.device = f"cuda:{gpus[0]}" if isinstance(gpus, list) else "cpu"
        self._path, self._providers, self._spin = str(path), providers, spin
        self.session = ort.InferenceSession(self._path, session_options(threads, spin), providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.meta.check_input(self.session.get_inputs()[0].shape)
        listed = [o.name for o in self.session.get_outputs()]
        # raw maps by name, in the exporter's order (the decoder pairs map i with stride i),
        # whatever order the graph lists them in
        self.output_names = (self.meta.meta.get("output_names") or listed) if self.meta.raw else listed
        if not set(self.output_names) <= set(listed):
            raise ValueError(f"{path}: metadata key 'output_names' names {self.output_names}, but the graph's "
                             f"outputs are {listed}; re-export the model with cspdet export")
        self.names, self.spec = self.meta.names, self.meta.spec
        self.input_size, self.batch = self.meta.input_size, self.meta.batch
        self.default_size = self.meta.meta.get("img_size", [416])[0]

    def replica(self, threads: int) -> "ORTBackend":
        """The same model in a session of its own with ``threads`` threads (for a parallel stream)."""
        import onnxruntime as ort

        twin = copy.copy(self)
        twin.session = ort.InferenceSession(self._path, session_options(threads, self._spin), providers=self._providers)
        return twin

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self.meta.finish(self.session.run(self.output_names, {self.input_name: blob}))

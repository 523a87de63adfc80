"""TensorRT backend for serialized engines (``.engine``), e.g. the FP16 engine built on a Jetson.

An engine carries no metadata, so the class names, anchors and sizes come from the JSON sidecar
``<engine>.json`` that ``demos/jetson/build_engine.sh`` writes from the ONNX file's metadata.
Outputs are matched to the sidecar's ``output_names`` by name: TensorRT numbers its bindings in
its own order, which need not be the ONNX graph's. Works with the TensorRT 8.2 bindings API that
JetPack 4.6 ships and with the tensor API of TensorRT >= 8.5; device memory through pycuda, or
cuda-python's runtime bindings (``cuda.bindings.runtime``, formerly ``cuda.cudart``) without it.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from ...geometry.decode import HeadSpec, decode
from .protocol import BackendBase

CUDART_MODULES = ("cuda.bindings.runtime", "cuda.cudart")  # cuda-python >= 12.6, then older releases


def sidecar(path: Path) -> dict:
    meta_path = path.with_suffix(path.suffix + ".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: missing metadata sidecar {meta_path.name} "
                                "(build engines with demos/jetson/build_engine.sh)")
    return json.loads(meta_path.read_text())


def output_order(meta: dict, spec: HeadSpec) -> list[str]:
    """The output names the backend returns, in order: the sidecar's ``output_names``, or the
    exporter's names (``output``; ``raw0``, ``raw1``... for raw maps) for an older sidecar."""
    if meta.get("output_names"):
        return list(meta["output_names"])
    return [f"raw{i}" for i in range(len(spec.strides))] if meta.get("output_format") == "raw" else ["output"]


class _PyCuda:
    """Device buffers and a stream over pycuda (JetPack's usual choice)."""

    def __init__(self):
        import pycuda.autoinit  # noqa: F401  (creates the context)
        import pycuda.driver as cuda

        self.cuda = cuda
        self.stream = cuda.Stream()
        self.handle = self.stream.handle

    def alloc(self, nbytes: int):
        return self.cuda.mem_alloc(nbytes)

    def to_device(self, dev, host: np.ndarray):
        self.cuda.memcpy_htod_async(dev, host, self.stream)

    def to_host(self, host: np.ndarray, dev):
        self.cuda.memcpy_dtoh_async(host, dev, self.stream)

    def sync(self):
        self.stream.synchronize()


class _CudaRt:
    """The same over cuda-python's runtime API, whose calls return ``(error, value...)`` tuples."""

    def __init__(self, cudart):
        self.rt = cudart
        self.stream = self._check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self.handle = int(self.stream)

    def _check(self, result, what: str):
        err, *value = result
        if err != self.rt.cudaError_t.cudaSuccess:
            raise RuntimeError(f"tensorrt: {what} failed: {err}")
        return value[0] if value else None

    def alloc(self, nbytes: int) -> int:
        return int(self._check(self.rt.cudaMalloc(nbytes), "cudaMalloc"))

    def _copy(self, dst: int, src: int, nbytes: int, kind: str) -> None:
        self._check(self.rt.cudaMemcpyAsync(dst, src, nbytes, getattr(self.rt.cudaMemcpyKind, kind), self.stream),
                    "cudaMemcpyAsync")

    def to_device(self, dev: int, host: np.ndarray):
        self._copy(dev, host.ctypes.data, host.nbytes, "cudaMemcpyHostToDevice")

    def to_host(self, host: np.ndarray, dev: int):
        self._copy(host.ctypes.data, dev, host.nbytes, "cudaMemcpyDeviceToHost")

    def sync(self):
        self._check(self.rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")


def open_cuda():
    """A device-memory helper: pycuda when installed, else cuda-python's runtime bindings."""
    try:
        return _PyCuda()
    except ImportError:
        pass
    for name in CUDART_MODULES:
        try:
            return _CudaRt(importlib.import_module(name))
        except ImportError:
            continue
    raise ImportError("the tensorrt backend needs pycuda or cuda-python for device memory "
                      "(pip install pycuda, or pip install cuda-python)")


class TensorRTBackend(BackendBase):
    name = "tensorrt"
    device = "cuda"  # an engine runs on the GPU it was built for

    def __init__(self, path, *, device: str = "", threads: int | None = None, img_size=None,
                 cfg=None, half: bool = False):
        path = Path(path)
        if path.suffix.lower() not in (".engine", ".trt"):
            raise ValueError(f"--backend tensorrt runs TensorRT .engine files, not {path.name}; build one from an "
                             "ONNX export with trtexec (docs/jetson.md)")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such TensorRT engine")
        try:
            import tensorrt as trt
        except ImportError:
            raise ImportError("the tensorrt backend needs the `tensorrt` Python module (JetPack ships it; "
                              "on x86 install TensorRT) and pycuda or cuda-python") from None
        meta = sidecar(path)
        self.spec = HeadSpec.from_dict(meta)
        self.names = list(meta.get("names") or [f"class{i}" for i in range(self.spec.num_classes)])
        self.raw = meta.get("output_format") == "raw"
        self.order = output_order(meta, self.spec)
        self.input_size = tuple(meta["img_size"])
        self.batch = meta.get("batch") or 1
        self.default_size = self.input_size[0]
        logger = trt.Logger(trt.Logger.WARNING)
        with open(path, "rb") as f, trt.Runtime(logger) as runtime:
            self.engine = runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise ValueError(f"{path}: TensorRT could not deserialize the engine (built by another "
                             "TensorRT version or GPU? engines must be built on the device that runs them)")
        self.context = self.engine.create_execution_context()
        self.cuda = open_cuda()
        self._bind(trt)
        missing = [n for n in self.order if n not in self.outputs]
        if missing:
            raise ValueError(f"{path}: engine outputs {sorted(self.outputs)} lack {missing}, named in "
                             f"{path.name}.json (rebuild the engine from the ONNX file the sidecar came from)")

    def _describe(self, trt, i: int) -> tuple[str, bool, tuple, object]:
        """(name, is_input, shape, dtype) of I/O tensor ``i`` in either TensorRT API (the Jetson demo's
        cspdet_rt keeps its own copy: it runs on the device without this package)."""
        e = self.engine
        if self.tensor_api:
            name = e.get_tensor_name(i)
            return name, e.get_tensor_mode(name) == trt.TensorIOMode.INPUT, e.get_tensor_shape(name), \
                e.get_tensor_dtype(name)
        return e.get_binding_name(i), e.binding_is_input(i), e.get_binding_shape(i), e.get_binding_dtype(i)

    def _bind(self, trt) -> None:
        """Host and device buffers for every I/O tensor; outputs kept by name."""
        self.tensor_api = hasattr(self.engine, "num_io_tensors")
        count = self.engine.num_io_tensors if self.tensor_api else self.engine.num_bindings
        self.inputs, self.outputs, self.bindings = [], {}, []  # bindings: device pointers in engine order
        for i in range(count):
            name, is_input, shape, dtype = self._describe(trt, i)
            host = np.empty(tuple(shape), dtype=trt.nptype(dtype))
            dev = self.cuda.alloc(host.nbytes)
            self.bindings.append(int(dev))
            if self.tensor_api:
                self.context.set_tensor_address(name, int(dev))
            if is_input:
                self.inputs.append((host, dev))
            else:
                self.outputs[name] = (host, dev)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        host, dev = self.inputs[0]
        if blob.shape != host.shape:
            raise ValueError(f"tensorrt: engine input is {host.shape}, got {blob.shape} "
                             "(engines have static shapes: letterbox to the engine's size)")
        np.copyto(host, blob)
        self.cuda.to_device(dev, host)
        if self.tensor_api:
            self.context.execute_async_v3(self.cuda.handle)
        else:
            self.context.execute_async_v2(self.bindings, self.cuda.handle)
        for name in self.order:
            self.cuda.to_host(*self.outputs[name])
        self.cuda.sync()
        outs = [self.outputs[name][0].astype(np.float32, copy=True) for name in self.order]
        return decode(outs, self.spec) if self.raw else outs[0]

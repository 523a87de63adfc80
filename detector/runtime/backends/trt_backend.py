"""TensorRT backend for serialized engines (``.engine``), e.g. the FP16 engine built on a Jetson.

An engine carries no metadata, so the class names, anchors and sizes come from the JSON sidecar
``<engine>.json`` that ``demos/jetson/build_engine.sh`` writes from the ONNX file's metadata.
Works with the TensorRT 8.2 bindings API that JetPack 4.6 ships and with the tensor API of
TensorRT >= 8.5; device memory through pycuda (or cuda-python's ``cuda.cudart``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..decode import HeadSpec, decode


def sidecar(path: Path) -> dict:
    meta_path = path.with_suffix(path.suffix + ".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: missing metadata sidecar {meta_path.name} "
                                "(build engines with demos/jetson/build_engine.sh)")
    return json.loads(meta_path.read_text())


class _Cuda:
    """Minimal device-buffer helper over pycuda (JetPack's usual choice)."""

    def __init__(self):
        import pycuda.autoinit  # noqa: F401  (creates the context)
        import pycuda.driver as cuda

        self.cuda = cuda
        self.stream = cuda.Stream()

    def alloc(self, nbytes: int):
        return self.cuda.mem_alloc(nbytes)

    def to_device(self, dev, host: np.ndarray):
        self.cuda.memcpy_htod_async(dev, host, self.stream)

    def to_host(self, host: np.ndarray, dev):
        self.cuda.memcpy_dtoh_async(host, dev, self.stream)

    def sync(self):
        self.stream.synchronize()


class TensorRTBackend:
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
                              "on x86 install TensorRT) and pycuda") from None
        meta = sidecar(path)
        self.spec = HeadSpec.from_dict(meta)
        self.names = list(meta.get("names") or [f"class{i}" for i in range(self.spec.num_classes)])
        self.raw = meta.get("output_format") == "raw"
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
        self.cuda = _Cuda()
        self._bind(trt)

    def _bind(self, trt) -> None:
        """Host and device buffers for every I/O tensor, in engine order."""
        self.io = []  # (name, is_input, host array, device buffer)
        tensor_api = hasattr(self.engine, "num_io_tensors")
        count = self.engine.num_io_tensors if tensor_api else self.engine.num_bindings
        for i in range(count):
            if tensor_api:
                name = self.engine.get_tensor_name(i)
                is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                shape, dtype = self.engine.get_tensor_shape(name), self.engine.get_tensor_dtype(name)
            else:
                name = self.engine.get_binding_name(i)
                is_input = self.engine.binding_is_input(i)
                shape, dtype = self.engine.get_binding_shape(i), self.engine.get_binding_dtype(i)
            host = np.empty(tuple(shape), dtype=trt.nptype(dtype))
            dev = self.cuda.alloc(host.nbytes)
            if tensor_api:
                self.context.set_tensor_address(name, int(dev))
            self.io.append((name, is_input, host, dev))
        self.tensor_api = tensor_api

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        inputs = [io for io in self.io if io[1]]
        if blob.shape != inputs[0][2].shape:
            raise ValueError(f"tensorrt: engine input is {inputs[0][2].shape}, got {blob.shape} "
                             "(engines have static shapes: letterbox to the engine's size)")
        np.copyto(inputs[0][2], blob)
        self.cuda.to_device(inputs[0][3], inputs[0][2])
        if self.tensor_api:
            self.context.execute_async_v3(self.cuda.stream.handle)
        else:
            self.context.execute_async_v2([int(io[3]) for io in self.io], self.cuda.stream.handle)
        outputs = [io for io in self.io if not io[1]]
        for _, _, host, dev in outputs:
            self.cuda.to_host(host, dev)
        self.cuda.sync()
        outs = [host.astype(np.float32, copy=True) for _, _, host, _ in outputs]
        return decode(outs, self.spec) if self.raw else outs[0]

"""The TensorRT backend returns outputs in the sidecar's order, whatever order the engine binds
them in. No TensorRT or GPU here: a fake ``tensorrt`` module serves an engine whose bindings are
shuffled, and device memory is host memory copied with ctypes (through a fake helper, or through
a fake cuda-python runtime module, so the cudart helper's calls are exercised too)."""
import ctypes
import json
import sys
import types

import numpy as np
import pytest

from detector.runtime.backends import trt_backend
from detector.geometry.decode import HeadSpec, decode

SPEC = HeadSpec((8, 16, 32), (((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)),
                              ((116, 90), (156, 198), (373, 326))), (1.0, 1.0, 1.0), 2)
SIZE = 64
RAW = {f"raw{i}": (1, 3 * SPEC.num_outputs, SIZE // s, SIZE // s) for i, s in enumerate(SPEC.strides)}


class DeviceMemory:
    """'Device' buffers that are host buffers, addressed by their real pointers."""

    def __init__(self):
        self.buffers = {}

    def alloc(self, nbytes: int) -> int:
        buf = np.zeros(max(nbytes, 1), np.uint8)
        self.buffers[buf.ctypes.data] = buf
        return buf.ctypes.data

    def write(self, ptr: int, values: np.ndarray) -> None:
        ctypes.memmove(ptr, np.ascontiguousarray(values).ctypes.data, values.nbytes)


class FakeCuda:
    """The backend's CUDA helper interface over DeviceMemory."""

    handle = 7

    def __init__(self, memory: DeviceMemory):
        self.memory = memory

    def alloc(self, nbytes):
        return self.memory.alloc(nbytes)

    def to_device(self, dev, host):
        ctypes.memmove(dev, host.ctypes.data, host.nbytes)

    def to_host(self, host, dev):
        ctypes.memmove(host.ctypes.data, dev, host.nbytes)

    def sync(self):
        pass


class Context:
    """Running the 'engine' writes each output's known values into its device buffer."""

    def __init__(self, engine):
        self.engine, self.addresses = engine, {}

    def set_tensor_address(self, name, address):
        self.addresses[name] = address

    def _run(self, addresses):
        for name, values in self.engine.values.items():
            self.engine.memory.write(addresses[name], values)

    def execute_async_v3(self, stream):
        assert stream == self.engine.handle
        self._run(self.addresses)

    def execute_async_v2(self, bindings, stream):
        assert stream == self.engine.handle
        self._run({name: ptr for (name, _, _), ptr in zip(self.engine.tensors, bindings)})


class BindingsEngine:
    """TensorRT 8.2's bindings API (JetPack 4.6): tensors as (name, is_input, shape), in this order."""

    def __init__(self, tensors, values, memory, handle):
        self.tensors, self.values, self.memory, self.handle = tensors, values, memory, handle

    def create_execution_context(self):
        return Context(self)

    @property
    def num_bindings(self):
        return len(self.tensors)

    def get_binding_name(self, i):
        return self.tensors[i][0]

    def binding_is_input(self, i):
        return self.tensors[i][1]

    def get_binding_shape(self, i):
        return self.tensors[i][2]

    def get_binding_dtype(self, i):
        return "float32"


class TensorEngine(BindingsEngine):
    """The tensor API of TensorRT >= 8.5."""

    num_bindings = property(lambda self: pytest.fail("the tensor API engine has no bindings API"))

    @property
    def num_io_tensors(self):
        return len(self.tensors)

    def _tensor(self, name):
        return next(t for t in self.tensors if t[0] == name)

    def get_tensor_name(self, i):
        return self.tensors[i][0]

    def get_tensor_mode(self, name):
        return "INPUT" if self._tensor(name)[1] else "OUTPUT"

    def get_tensor_shape(self, name):
        return self._tensor(name)[2]

    def get_tensor_dtype(self, name):
        return "float32"


def fake_tensorrt(engine) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    class Runtime:
        def __init__(self, logger):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def deserialize_cuda_engine(self, data):
            assert data == b"fake engine"
            return engine

    trt.Logger, trt.Runtime = Logger, Runtime
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.nptype = np.dtype
    return trt


def engine_file(tmp_path, meta: dict):
    path = tmp_path / "m.engine"
    path.write_bytes(b"fake engine")
    (tmp_path / "m.engine.json").write_text(json.dumps({**SPEC.to_dict(), "img_size": [SIZE, SIZE], **meta}))
    return path


def install(monkeypatch, engine_cls, tensors, values, cuda=None):
    """A fake ``tensorrt`` serving ``engine_cls(tensors)``; ``cuda`` (default FakeCuda) as the helper."""
    memory = DeviceMemory()
    helper = cuda or FakeCuda(memory)
    engine = engine_cls(tensors, values, memory, helper.handle if cuda is None else cuda.handle)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(engine))
    monkeypatch.setattr(trt_backend, "open_cuda", lambda: helper)
    return engine


def raw_values(seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in RAW.items()}


IMAGES = ("images", True, (1, 3, SIZE, SIZE))
SHUFFLED_RAW = [("raw2", False, RAW["raw2"]), IMAGES, ("raw0", False, RAW["raw0"]), ("raw1", False, RAW["raw1"])]


@pytest.mark.parametrize("engine_cls", [BindingsEngine, TensorEngine])
def test_raw_outputs_come_back_in_metadata_order_not_binding_order(tmp_path, monkeypatch, engine_cls):
    values = raw_values()
    install(monkeypatch, engine_cls, SHUFFLED_RAW, values)
    path = engine_file(tmp_path, {"output_format": "raw", "output_names": ["raw0", "raw1", "raw2"]})
    backend = trt_backend.TensorRTBackend(path)
    got = backend(np.zeros((1, 3, SIZE, SIZE), np.float32))
    np.testing.assert_array_equal(got, decode([values["raw0"], values["raw1"], values["raw2"]], SPEC))


@pytest.mark.parametrize("engine_cls", [BindingsEngine, TensorEngine])
def test_the_decoded_output_is_found_by_name(tmp_path, monkeypatch, engine_cls):
    n = sum(3 * h * w for _, _, h, w in RAW.values())
    decoded = np.random.default_rng(1).random((1, n, SPEC.num_outputs), dtype=np.float32)
    other = np.full((1, 5), 9.0, np.float32)  # an extra output bound first must not be taken for it
    tensors = [("aux", False, other.shape), IMAGES, ("output", False, decoded.shape)]
    install(monkeypatch, engine_cls, tensors, {"aux": other, "output": decoded})
    backend = trt_backend.TensorRTBackend(engine_file(tmp_path, {"output_names": ["output"]}))
    np.testing.assert_array_equal(backend(np.zeros((1, 3, SIZE, SIZE), np.float32)), decoded)


def test_an_older_sidecar_without_output_names_uses_the_exporters_names(tmp_path, monkeypatch):
    values = raw_values(2)
    install(monkeypatch, TensorEngine, SHUFFLED_RAW, values)
    backend = trt_backend.TensorRTBackend(engine_file(tmp_path, {"output_format": "raw"}))
    assert backend.order == ["raw0", "raw1", "raw2"]
    got = backend(np.zeros((1, 3, SIZE, SIZE), np.float32))
    np.testing.assert_array_equal(got, decode([values[f"raw{i}"] for i in range(3)], SPEC))


def test_an_engine_lacking_a_named_output_is_refused_in_one_line(tmp_path, monkeypatch):
    install(monkeypatch, TensorEngine, SHUFFLED_RAW[:3], raw_values())
    path = engine_file(tmp_path, {"output_format": "raw", "output_names": ["raw0", "raw1", "raw2"]})
    with pytest.raises(ValueError, match=r"lack \['raw1'\]") as e:
        trt_backend.TensorRTBackend(path)
    assert "\n" not in str(e.value)


class FakeCudart(types.ModuleType):
    """cuda-python's runtime module as far as the helper uses it: (error, value) tuples."""

    def __init__(self, memory: DeviceMemory, fail: str = ""):
        super().__init__("cuda.bindings.runtime")
        self.memory, self.fail, self.calls = memory, fail, []
        self.cudaError_t = types.SimpleNamespace(cudaSuccess=0, cudaErrorMemoryAllocation=2)
        self.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    def _ok(self, name, *value):
        self.calls.append(name)
        return (self.cudaError_t.cudaErrorMemoryAllocation if name == self.fail else 0, *value)

    def cudaStreamCreate(self):
        return self._ok("cudaStreamCreate", 5)

    def cudaMalloc(self, nbytes):
        return self._ok("cudaMalloc", self.memory.alloc(nbytes))

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):
        assert stream == 5 and kind in (1, 2)
        ctypes.memmove(dst, src, nbytes)
        return self._ok("cudaMemcpyAsync")

    def cudaStreamSynchronize(self, stream):
        return self._ok("cudaStreamSynchronize")


def without_pycuda(monkeypatch, cudart):
    monkeypatch.setitem(sys.modules, "pycuda", None)  # None in sys.modules: importing it fails
    monkeypatch.setitem(sys.modules, "pycuda.autoinit", None)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)


def test_cuda_python_runs_the_engine_when_pycuda_is_missing(tmp_path, monkeypatch):
    memory = DeviceMemory()
    cudart = FakeCudart(memory)
    without_pycuda(monkeypatch, cudart)
    helper = trt_backend.open_cuda()
    assert isinstance(helper, trt_backend._CudaRt) and helper.handle == 5
    values = raw_values(3)
    engine = TensorEngine(SHUFFLED_RAW, values, memory, helper.handle)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(engine))
    monkeypatch.setattr(trt_backend, "open_cuda", lambda: helper)
    backend = trt_backend.TensorRTBackend(engine_file(tmp_path, {"output_format": "raw"}))
    blob = np.random.default_rng(4).random((1, 3, SIZE, SIZE), dtype=np.float32)
    got = backend(blob)
    np.testing.assert_array_equal(got, decode([values[f"raw{i}"] for i in range(3)], SPEC))
    images_dev = backend.inputs[0][1]
    np.testing.assert_array_equal(memory.buffers[images_dev].view(np.float32).reshape(blob.shape), blob)
    assert cudart.calls[-1] == "cudaStreamSynchronize"


def test_a_cuda_python_error_names_the_call(monkeypatch):
    cudart = FakeCudart(DeviceMemory(), fail="cudaMalloc")
    without_pycuda(monkeypatch, cudart)
    helper = trt_backend.open_cuda()
    with pytest.raises(RuntimeError, match="cudaMalloc failed"):
        helper.alloc(16)


def test_without_pycuda_or_cuda_python_the_error_names_both(monkeypatch):
    for name in ("pycuda", "pycuda.autoinit", *trt_backend.CUDART_MODULES):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pycuda or cuda-python"):
        trt_backend.open_cuda()

"""Inference engines on the device: TensorRT (JetPack's bindings + pycuda), else OpenCV DNN or
ONNX Runtime on the ONNX file. Each is ``Runner(path, info)`` and ``runner(blob) -> list of
arrays`` in the order of ``info.output_names``; each imports its package itself. Python 3.6.
"""
import os

import numpy as np


class TensorRTRunner(object):
    """A serialized engine (``trtexec --saveEngine``) through the TensorRT Python bindings.

    JetPack 4.6 ships TensorRT 8.2, whose bindings API (num_bindings, execute_async_v2) is used;
    the tensor API of TensorRT >= 8.5 (num_io_tensors, execute_async_v3) when that is what exists.
    """

    name = "tensorrt"

    def __init__(self, path, info):
        try:
            import pycuda.autoinit  # noqa: F401  (creates the CUDA context)
            import pycuda.driver as cuda
            import tensorrt as trt
        except ImportError as e:
            raise ImportError("the tensorrt backend needs JetPack's `tensorrt` module and pycuda "
                              "(pip3 install pycuda): {}".format(e))
        self.cuda, self.info = cuda, info
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)  # kept: TensorRT 8 wants the runtime to outlive its engines
        with open(path, "rb") as f:
            self.engine = self.runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise RuntimeError("{}: TensorRT could not load the engine; engines only run with the TensorRT "
                               "version and GPU that built them: rebuild it here with build_engine.sh".format(path))
        self.context = self.engine.create_execution_context()
        self.stream = cuda.Stream()
        self.tensor_api = hasattr(self.engine, "num_io_tensors")
        self.inputs, self.outputs = [], {}
        count = self.engine.num_io_tensors if self.tensor_api else self.engine.num_bindings
        self.bindings = []
        for i in range(count):
            name, is_input, shape, dtype = self._describe(trt, i)
            host = cuda.pagelocked_empty(tuple(shape), trt.nptype(dtype))  # pinned: faster async copies
            dev = cuda.mem_alloc(host.nbytes)
            self.bindings.append(int(dev))
            if self.tensor_api:
                self.context.set_tensor_address(name, int(dev))
            if is_input:
                self.inputs.append((host, dev))
            else:
                self.outputs[name] = (host, dev)
        missing = [n for n in info.output_names if n not in self.outputs]
        if missing:
            raise RuntimeError("{}: engine outputs {} lack {} named in the metadata".format(
                path, sorted(self.outputs), missing))

    def _describe(self, trt, i):
        e = self.engine
        if self.tensor_api:
            name = e.get_tensor_name(i)
            return name, e.get_tensor_mode(name) == trt.TensorIOMode.INPUT, e.get_tensor_shape(name), \
                e.get_tensor_dtype(name)
        return e.get_binding_name(i), e.binding_is_input(i), e.get_binding_shape(i), e.get_binding_dtype(i)

    def __call__(self, blob):
        host, dev = self.inputs[0]
        if blob.shape != host.shape:
            raise ValueError("engine input is {}, got {}".format(host.shape, blob.shape))
        np.copyto(host, blob)
        self.cuda.memcpy_htod_async(dev, host, self.stream)
        if self.tensor_api:
            self.context.execute_async_v3(self.stream.handle)
        else:
            self.context.execute_async_v2(self.bindings, self.stream.handle)
        for out_host, out_dev in self.outputs.values():
            self.cuda.memcpy_dtoh_async(out_host, out_dev, self.stream)
        self.stream.synchronize()
        return [self.outputs[n][0].astype(np.float32) for n in self.info.output_names]


class OpenCVRunner(object):
    """The ONNX file in OpenCV DNN; its CUDA target when this OpenCV was built with CUDA."""

    name = "opencv"

    def __init__(self, path, info, cuda=True):
        import cv2

        self.info = info
        self.net = cv2.dnn.readNetFromONNX(path)
        if cuda and hasattr(cv2, "cuda") and cv2.cuda.getCudaEnabledDeviceCount() > 0:
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA_FP16)
        self.layer_outputs = list(self.net.getUnconnectedOutLayersNames())

    def __call__(self, blob):
        self.net.setInput(blob)
        outs = self.net.forward(self.layer_outputs)
        if len(outs) == 1:
            return [outs[0]]
        # OpenCV names outputs after layers and does not keep the graph's order: match by name
        # where it can, else by the grid size, which grows from the first level to the last.
        named = dict(zip(self.layer_outputs, outs))
        if all(n in named for n in self.info.output_names):
            return [named[n] for n in self.info.output_names]
        return sorted(outs, key=lambda o: -o.shape[-1] * o.shape[-2])


class ORTRunner(object):
    """The ONNX file in ONNX Runtime (CPU, or CUDA with a Jetson onnxruntime-gpu wheel)."""

    name = "onnxruntime"

    def __init__(self, path, info):
        import onnxruntime as ort

        self.info = info
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(path, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, blob):
        return self.session.run(self.info.output_names, {self.input_name: blob})


RUNNERS = {"tensorrt": TensorRTRunner, "opencv": OpenCVRunner, "onnxruntime": ORTRunner}


def pick_backend(path, backend="auto"):
    """The backend name for ``path``: engines need TensorRT; ONNX files prefer ONNX Runtime when it
    is installed (it reads every opset), else OpenCV DNN, which JetPack always has."""
    if backend != "auto":
        if backend not in RUNNERS:
            raise ValueError("--backend {} unknown; choose from auto, {}".format(backend, ", ".join(RUNNERS)))
        return backend
    ext = os.path.splitext(str(path))[1].lower()
    if ext in (".engine", ".trt", ".plan"):
        return "tensorrt"
    if ext != ".onnx":
        raise ValueError("{}: expected a .engine or .onnx file".format(path))
    try:
        import onnxruntime  # noqa: F401
        return "onnxruntime"
    except ImportError:
        return "opencv"

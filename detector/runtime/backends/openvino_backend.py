"""OpenVINO backend: an exported ONNX file (INT8 QDQ ones included) or an OpenVINO IR ``.xml``.

FP32 unless ``half``: OpenVINO's own default on a CPU with AVX512-BF16 or AMX is bf16, which
runs faster but moves boxes and scores (it lost 0.06 AP50 points on an official COCO model), so
the precision is always set explicitly. One stream compiles for latency; ``replicas`` compile
one model for throughput, with a stream and an infer request per replica.
"""
from __future__ import annotations

import copy
import functools
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .base import OnnxMeta, ensure_onnx
from .protocol import BackendBase

IR_SUFFIX = ".xml"
INSTALL_HINT = 'the openvino backend needs OpenVINO: pip install "cspdet[openvino]"'
# OPTIMIZATION_CAPABILITIES entry -> the precision hint --half selects, in order of preference:
# bf16 keeps FP32's exponent range (no overflow in the head's Exp), f16 is what GPUs run.
HALF_PRECISIONS = (("BF16", "bf16"), ("FP16", "f16"))
# Compiled models are cached here (OpenVINO keys them on the model, device and settings, and
# recompiles on a stale or unreadable entry): an INT8 model's compile drops from 2.4 s to 0.8 s.
CACHE_ENV = "CSPDET_OPENVINO_CACHE"


def cache_dir() -> str | None:
    """The compiled-model cache folder: ``$CSPDET_OPENVINO_CACHE``, ``off`` for none, by default
    ``cspdet-openvino`` in the temporary folder."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    return value or str(Path(tempfile.gettempdir()) / "cspdet-openvino")


def openvino():
    """The ``openvino`` module, or an ImportError naming the extra to install."""
    try:
        import openvino as ov
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return ov


@functools.lru_cache(maxsize=1)
def core():
    """One ``ov.Core`` per process: it holds the loaded device plugins."""
    return openvino().Core()


def ov_device(spec: str | None) -> str:
    """``--device`` -> an OpenVINO device: '' or cpu -> CPU; gpu or gpu.N -> that GPU, when
    OpenVINO sees it (the CPU stays the default: for models this small it is the faster one)."""
    text = (spec or "").strip().upper().replace(":", ".")
    if text in ("", "AUTO", "CPU"):
        return "CPU"
    available = core().available_devices
    gpus = [d for d in available if d.startswith("GPU")]
    if text in gpus or (text == "GPU" and gpus):
        return text
    raise ValueError(f"--device {spec}: the openvino backend runs on cpu or on a GPU it sees "
                     f"(here: {', '.join(d.lower() for d in available)})")


def precision(device: str, half: bool) -> str:
    """The inference precision hint: f32, or with ``half`` the device's bf16 (else f16)."""
    if not half:
        return "f32"
    caps = core().get_property(device, "OPTIMIZATION_CAPABILITIES")
    for capability, hint in HALF_PRECISIONS:
        if capability in caps:
            return hint
    raise ValueError(f"--half: OpenVINO's {device} ({core().get_property(device, 'FULL_DEVICE_NAME')}) "
                     "runs neither bf16 nor f16; run without --half")


def compile_model(model, device: str = "CPU", *, threads: int | None = None, hint: str = "f32",
                  streams: int | None = None):
    """``model`` (a path or an ``ov.Model``) compiled for latency, or for throughput over
    ``streams`` parallel infer requests; ``threads`` caps the CPU threads of all of them."""
    ov = openvino()  # first: a missing package is the ImportError that names the extra
    import openvino.properties as props
    import openvino.properties.hint as hints

    mode = hints.PerformanceMode.THROUGHPUT if streams else hints.PerformanceMode.LATENCY
    config = {hints.inference_precision: getattr(ov.Type, hint), hints.performance_mode: mode}
    if streams:
        config[props.num_streams] = streams
    if threads and device == "CPU":
        config[props.inference_num_threads] = threads
    cache = cache_dir()
    if cache:
        config[props.cache_dir] = cache
    return core().compile_model(model, device, config)


def read_ir(path: Path):
    """An IR ``.xml`` (its ``.bin`` beside it) -> (ov.Model, cspdet metadata); OpenVINO keeps an
    ONNX file's metadata_props in the IR's ``framework`` rt_info when it converts one."""
    from ...export.onnx import parse_metadata

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such OpenVINO IR file")
    weights = check_weights_file(path)
    try:
        model = core().read_model(str(path))
    except RuntimeError as e:
        # OpenVINO's first line is only "Exception from src/inference/src/cpp/core.cpp:84": the
        # cause is on the lines after it
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith("Exception from")]
        why = " ".join(lines[-1:] or ["no reason given"])[:200]
        hint = f"; is {weights.name} the weights file of this .xml?" if weights.is_file() else ""
        raise ValueError(f"{path}: not a readable OpenVINO IR ({why}){hint}") from None
    props = {}
    if model.has_rt_info(["framework"]):
        props = {k: v.astype(str) for k, v in model.get_rt_info(["framework"]).astype(dict).items()}
    return model, parse_metadata(props, str(path))


_DATA_TAG = re.compile(rb"<data\b[^>]*>")
_ATTR = re.compile(rb'\b(offset|size)="(\d+)"')


def check_weights_file(xml: Path) -> Path:
    """The ``.bin`` beside ``xml``; a one-line ValueError when the ``.xml`` reads constants from it
    and it is missing, empty or shorter than the last of them (truncated, or another model's)."""
    weights = xml.with_suffix(".bin")
    needed = 0
    for tag in _DATA_TAG.findall(xml.read_bytes()):
        attrs = dict(_ATTR.findall(tag))
        if b"offset" in attrs and b"size" in attrs:
            needed = max(needed, int(attrs[b"offset"]) + int(attrs[b"size"]))
    if not needed:  # no constants read from a .bin (or not an IR at all): OpenVINO says what it is
        return weights
    if not weights.is_file():
        raise ValueError(f"{xml}: its weights file {weights} is missing (an OpenVINO IR is the .xml and the .bin "
                         "beside it, with the same name)")
    size = weights.stat().st_size
    if size < needed:
        raise ValueError(f"{xml}: its weights file {weights} holds {size:,} bytes, but the .xml reads "
                         f"{needed:,} from it (truncated, empty, or the .bin of another model)")
    return weights


class OpenVINOBackend(BackendBase):
    name = "openvino"
    streams = True

    def __init__(self, path, *, device: str = "", threads: int | None = None, img_size=None,
                 cfg=None, half: bool = False):
        openvino()
        path = Path(path)
        if path.suffix.lower() == IR_SUFFIX:
            self.model, meta = read_ir(path)
        else:
            path = ensure_onnx(path, img_size=img_size, cfg=cfg)
            self.model, meta = core().read_model(str(path)), None
        self.meta = OnnxMeta(path, meta)
        shape = self.model.inputs[0].get_partial_shape()
        self.meta.check_input([d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else [])
        self._device = ov_device(device)
        self.device = self._device.lower()
        self.precision = precision(self._device, half)
        self.names, self.spec = self.meta.names, self.meta.spec
        self.input_size, self.batch = self.meta.input_size, self.meta.batch
        self.default_size = self.meta.meta.get("img_size", [416])[0]
        self._bind(compile_model(self.model, self._device, threads=threads, hint=self.precision))

    def _bind(self, compiled) -> None:
        """Run on ``compiled`` through an infer request of this backend's own."""
        self.compiled, self.request = compiled, compiled.create_infer_request()
        if self.meta.raw:  # by name: the exporter's order, whatever order OpenVINO lists them in
            order = self.meta.meta.get("output_names") or [o.get_any_name() for o in compiled.outputs]
            self._outputs = [compiled.output(name) for name in order]
        else:
            self._outputs = [compiled.output(0)]

    def replicas(self, n: int, threads: int) -> list["OpenVINOBackend"]:
        """``n`` twins over one model compiled for throughput: ``n`` streams of ``threads``
        threads each, one infer request per twin (each callable from its own thread)."""
        compiled = compile_model(self.model, self._device, threads=n * threads, hint=self.precision, streams=n)
        twins = []
        for _ in range(n):
            twin = copy.copy(self)
            twin._bind(compiled)
            twins.append(twin)
        return twins

    def replica(self, threads: int) -> "OpenVINOBackend":
        return self.replicas(1, threads)[0]

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        result = self.request.infer({0: np.ascontiguousarray(blob, dtype=np.float32)})
        return self.meta.finish([result[o] for o in self._outputs])

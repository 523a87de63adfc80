"""Inference backends behind one protocol, chosen by file suffix or by name.

Every backend keeps ``protocol.Backend``: built as ``Backend(path, device=..., threads=...,
img_size=..., cfg=..., half=...)``, called as ``backend(blob [B, 3, H, W] float32 RGB 0..1) ->
[B, N, 5 + nc] float32`` decoded rows, with ``names``, ``spec``, ``input_size``, ``batch``,
``default_size`` and ``device``, and optionally parallel ``replica``s. ``spin=True`` (ONNX
Runtime only) lets its worker threads busy-wait between ops. Each backend module imports its
optional package itself, so ``import detector`` (and this table) needs none of them.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple

from .protocol import Backend, BackendBase


class BackendEntry(NamedTuple):
    """Where a backend lives (imported only when built, so this table stays light for --help),
    and whether ``cspdet bench`` measures it: TensorRT runs only engines prebuilt for a GPU, the
    others run any model on the CPU (exported on demand)."""

    module: str
    cls: str
    bench: bool


# The one table of backend names: the CLI's choices, the bench's and load_backend's come from it.
# A table, not an if/elif ladder: adding a backend is one line.
BACKENDS = {
    "torch": BackendEntry("detector.runtime.backends.torch_backend", "TorchBackend", True),
    "onnxruntime": BackendEntry("detector.runtime.backends.ort_backend", "ORTBackend", True),
    "opencv": BackendEntry("detector.runtime.backends.opencv_backend", "OpenCVBackend", True),
    "openvino": BackendEntry("detector.runtime.backends.openvino_backend", "OpenVINOBackend", True),
    "tensorrt": BackendEntry("detector.runtime.backends.trt_backend", "TensorRTBackend", False),
}
BENCH_BACKENDS = tuple(name for name, entry in BACKENDS.items() if entry.bench)
# Bench-only names for a backend with non-default settings, measured beside the default one.
BENCH_VARIANTS = {"onnxruntime-spin": ("onnxruntime", {"spin": True}),
                  "openvino-half": ("openvino", {"half": True}),
                  "torch-half": ("torch", {"half": True})}
BENCH_CHOICES = BENCH_BACKENDS + tuple(BENCH_VARIANTS)
SUFFIXES = {".pt": "torch", ".yaml": "torch", ".yml": "torch", ".cfg": "torch", ".weights": "torch",
            ".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".trt": "tensorrt"}


def backend_for(path: str | Path, backend: str | None = None) -> str:
    """The backend name for ``path``: ``backend`` if given, else by suffix (config names -> torch)."""
    if backend:
        if backend not in BACKENDS:
            raise ValueError(f"--backend {backend!r} unknown; choose from {', '.join(BACKENDS)}")
        return backend
    suffix = Path(path).suffix.lower()
    if not suffix:  # a bare config name such as "csppeleenet-efm"
        return "torch"
    if suffix not in SUFFIXES:
        raise ValueError(f"--weights {path}: cannot tell the backend from the suffix "
                         f"(known: {', '.join(sorted(SUFFIXES))}); pass --backend")
    return SUFFIXES[suffix]


def load_backend(path: str | Path, backend: str | None = None, **kwargs) -> Backend:
    """Build the backend for ``path`` (see module docstring for the keyword arguments); a zoo
    name is fetched first and becomes its cached Darknet files."""
    from ...models.zoo import resolve_weights

    path, kwargs["cfg"] = resolve_weights(path, kwargs.get("cfg"))
    name = backend_for(path, backend)
    if kwargs.pop("spin", False):
        if name != "onnxruntime":
            raise ValueError(f"--spin applies to the onnxruntime backend only, not {name}")
        kwargs["spin"] = True
    entry = BACKENDS[name]
    return getattr(importlib.import_module(entry.module), entry.cls)(path, **kwargs)


__all__ = ["BACKENDS", "BENCH_BACKENDS", "BENCH_CHOICES", "BENCH_VARIANTS", "SUFFIXES", "Backend", "BackendBase",
           "BackendEntry", "backend_for", "load_backend"]

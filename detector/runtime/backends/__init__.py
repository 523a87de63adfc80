"""Inference backends behind one protocol, chosen by file suffix or by name.

Every backend keeps ``protocol.Backend``: built as ``Backend(path, device=..., threads=...,
img_size=..., cfg=..., half=...)``, called as ``backend(blob [B, 3, H, W] float32 RGB 0..1) ->
[B, N, 5 + nc] float32`` decoded rows, with ``names``, ``spec``, ``input_size``, ``batch``,
``default_size`` and ``device``, and optionally parallel ``replica``s. ``spin=True`` lets
ONNX Runtime's and PyTorch's worker threads busy-wait between ops (``detector.waiting``). Each backend module imports its
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
AUTO = "auto"  # the default: auto.choose picks among the runtimes installed
SPIN_BACKENDS = ("onnxruntime", "torch")
SUFFIXES = {".pt": "torch", ".yaml": "torch", ".yml": "torch", ".cfg": "torch", ".weights": "torch",
            ".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".trt": "tensorrt"}


def backend_for(path: str | Path, backend: str | None = None) -> str:
    """The backend name for ``path``: ``backend`` if given, else by suffix (config names -> torch;
    ``auto`` only chooses among runtimes for those, see ``load_backend``)."""
    if backend and backend != AUTO:
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
    name is fetched first and becomes its cached Darknet files. ``backend`` None or ``auto`` on a
    model PyTorch would run picks the fastest exact runtime here (``auto.choose``; its ``Choice``
    is the built backend's ``choice``); ``dynamic`` then exports with any-size inputs."""
    from ...models.zoo import resolve_weights

    path, kwargs["cfg"] = resolve_weights(path, kwargs.get("cfg"))
    dynamic, spin = kwargs.pop("dynamic", False), kwargs.pop("spin", False)
    if backend in (None, AUTO) and backend_for(path) == "torch":
        from .auto import choose

        built, choice = choose(path, lambda name, file: _build(name, file, spin, dict(kwargs)),
                               device=kwargs.get("device", ""), half=kwargs.get("half", False),
                               img_size=kwargs.get("img_size"), cfg=kwargs["cfg"], dynamic=dynamic)
        built.choice = choice
        return built
    return _build(backend_for(path, None if backend == AUTO else backend), path, spin, kwargs)


def _build(name: str, path, spin: bool, kwargs: dict) -> Backend:
    """``spin``: ONNX Runtime's and PyTorch's own switch; OpenVINO and OpenCV have none to turn
    (their thread pools keep their defaults, docs/performance.md)."""
    if spin and name in SPIN_BACKENDS:
        kwargs["spin"] = True
    entry = BACKENDS[name]
    return getattr(importlib.import_module(entry.module), entry.cls)(path, **kwargs)


__all__ = ["AUTO", "BACKENDS", "BENCH_BACKENDS", "BENCH_CHOICES", "BENCH_VARIANTS", "SUFFIXES", "Backend", "BackendBase",
           "BackendEntry", "backend_for", "load_backend"]

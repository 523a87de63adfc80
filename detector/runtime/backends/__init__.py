"""Inference backends behind one protocol, chosen by file suffix or by name.

Every backend is built as ``Backend(path, device=..., threads=..., img_size=..., cfg=...)`` and
called as ``backend(blob [B, 3, H, W] float32 RGB 0..1) -> [B, N, 5 + nc] float32`` decoded rows
(cx, cy, w, h in input pixels, objectness, class probabilities). It also exposes ``name``,
``names`` (class names), ``input_size`` ((h, w) a static model needs, else None), ``batch``
(static batch or None) and ``spec`` (the HeadSpec). ``spin=True`` (ONNX Runtime only) lets its
worker threads busy-wait between ops. Each backend module imports its optional
package itself, so ``import detector`` needs none of them.
"""
from __future__ import annotations

import importlib
from pathlib import Path

# name -> (module, class). A table, not an if/elif ladder: adding a backend is one line.
BACKENDS = {
    "torch": ("detector.runtime.backends.torch_backend", "TorchBackend"),
    "onnxruntime": ("detector.runtime.backends.ort_backend", "ORTBackend"),
    "opencv": ("detector.runtime.backends.opencv_backend", "OpenCVBackend"),
    "tensorrt": ("detector.runtime.backends.trt_backend", "TensorRTBackend"),
}
SUFFIXES = {".pt": "torch", ".yaml": "torch", ".yml": "torch", ".cfg": "torch", ".weights": "torch",
            ".onnx": "onnxruntime", ".engine": "tensorrt", ".trt": "tensorrt"}


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


def load_backend(path: str | Path, backend: str | None = None, **kwargs):
    """Build the backend for ``path`` (see module docstring for the keyword arguments); a zoo
    name is fetched first and becomes its cached Darknet files."""
    from ...models.zoo import resolve_weights

    path, kwargs["cfg"] = resolve_weights(path, kwargs.get("cfg"))
    name = backend_for(path, backend)
    if kwargs.pop("spin", False):
        if name != "onnxruntime":
            raise ValueError(f"--spin applies to the onnxruntime backend only, not {name}")
        kwargs["spin"] = True
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)(path, **kwargs)


__all__ = ["BACKENDS", "SUFFIXES", "backend_for", "load_backend"]

"""``--backend auto`` (the default for a model PyTorch would run): the fastest exact runtime here.

On a CPU the order is OpenVINO, then ONNX Runtime, then PyTorch: every one of them runs the same
f32 graph (the same boxes within the parity tests' tolerance), and ``cspdet bench`` measured them
in that order on the project's CPUs (docs/performance.md, "Which backend auto picks"). A machine
whose bench shows another order sets ``CSPDET_AUTO_ORDER`` (e.g. ``onnxruntime,openvino,torch``)
or passes ``--backend``. The first run exports the model to ONNX once into
``$CSPDET_HOME/cache/exports`` (``base.ensure_onnx``); later runs load that file. Any failure of an
export or a runtime falls through to the next runtime, PyTorch last, and the one line ``auto``
prints says what it chose and why. On CUDA it is PyTorch on the GPU (TensorRT needs an
``.engine`` built for that GPU, which ``--weights x.engine`` names itself).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable, NamedTuple

AUTO = "auto"
ORDER_ENV = "CSPDET_AUTO_ORDER"
CPU_ORDER = ("openvino", "onnxruntime", "torch")
# Runtimes that take a model of any input size: under ``dynamic`` (val --rect) the others are passed over.
ANY_SIZE = ("onnxruntime", "torch")


class Choice(NamedTuple):
    """The runtime auto picked, the file it runs (an exported ONNX, or the model itself) and why."""

    backend: str
    path: Path
    reason: str


def say(text: str, end: str = "\n") -> None:
    """auto's messages go to stderr: they describe the run, they are not its output."""
    print(text, end=end, file=sys.stderr, flush=True)


def cpu_order() -> tuple[str, ...]:
    """``CSPDET_AUTO_ORDER`` (comma-separated runtime names), else the measured CPU_ORDER."""
    text = os.environ.get(ORDER_ENV, "").strip()
    if not text:
        return CPU_ORDER
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CPU_ORDER]
    if unknown or not names:
        raise ValueError(f"${ORDER_ENV}={text!r}: name runtimes from {', '.join(CPU_ORDER)}, comma-separated")
    return names if "torch" in names else names + ("torch",)


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None  # each runtime's package bears its name


def uses_gpu(device: str) -> bool:
    """Whether ``device`` puts PyTorch on a GPU: named, or '' with CUDA present."""
    from ...devices import parse_device

    parsed = parse_device(device)
    if parsed == "cpu":
        return False
    if isinstance(parsed, list):
        return True
    import torch

    return torch.cuda.is_available()


def choose(path: str | Path, build: Callable[[str, Path], object], *, device: str = "", half: bool = False,
           img_size=None, cfg=None, dynamic: bool = False) -> tuple[object, Choice]:
    """Build the first runtime of the order that works: ``build(name, file)`` -> a backend.
    Returns (backend, Choice) and prints the Choice's one line."""
    from .base import ensure_onnx

    path = Path(path)
    if uses_gpu(device):
        return _torch(build, path, "a CUDA device: PyTorch on the GPU (TensorRT needs an .engine you build)")
    if half:
        return _torch(build, path, "--half: bf16 runs in PyTorch (auto picks only exact f32 runtimes otherwise)")
    passed = []
    for name in cpu_order():
        if name == "torch":
            break
        if not installed(name):
            passed.append(f"{name} not installed")
            continue
        if dynamic and name not in ANY_SIZE:
            passed.append(f"{name} runs one input size (--rect shapes each batch)")
            continue
        try:
            onnx = ensure_onnx(path, img_size=img_size, cfg=cfg, dynamic=dynamic,
                               announce=lambda text, end: say(f"auto: {text}" if end == "" else text, end))
            backend = build(name, onnx)
        except Exception as e:  # any failure: the next runtime, PyTorch at the latest
            passed.append(f"{name} failed: {' '.join(str(e).split())[:160] or type(e).__name__}")
            continue
        why = "; ".join(passed + [f"fastest exact f32 CPU runtime installed, order {' > '.join(cpu_order())} "
                                  f"as measured in docs/performance.md; ${ORDER_ENV} or --backend override"])
        return backend, _said(Choice(name, onnx, why))
    return _torch(build, path, "; ".join(passed) or f"${ORDER_ENV} puts torch first")


def _torch(build, path: Path, why: str):
    return build("torch", path), _said(Choice("torch", path, why))


def _said(choice: Choice) -> Choice:
    say(f"auto: {choice.backend} ({choice.reason})")
    return choice

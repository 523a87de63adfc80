"""yolov5's ``--device`` convention, for every subcommand and backend.

``''`` (the default) picks CUDA when the runtime has it, else the CPU; ``cpu``; ``0`` or
``cuda:0`` one GPU; ``0,1`` several (one per process under ``torchrun``; a single process uses
the first).
"""
from __future__ import annotations

import re

AUTO = ""
_GPUS = re.compile(r"^(?:cuda:?)?(\d+(?:,\d+)*)$")


def parse_device(spec: str | None) -> list[int] | str:
    """``spec`` -> ``"auto"``, ``"cpu"`` or the list of GPU indices it names."""
    text = (spec or "").strip().lower().replace(" ", "")
    if text in ("", "auto"):
        return "auto"
    if text == "cpu":
        return "cpu"
    if text == "cuda":
        return [0]
    m = _GPUS.match(text)
    if not m:
        raise ValueError(f"--device {spec!r}: unknown device (use '' for auto, cpu, 0, 0,1 or cuda:N)")
    return [int(i) for i in m.group(1).split(",")]


def select_device(spec: str | None, *, rank: int = 0) -> str:
    """A PyTorch device string (``"cpu"`` or ``"cuda:N"``) for ``spec``; ``rank`` picks a GPU
    from a list under DDP. Naming a GPU that PyTorch cannot see is an error, never a silent CPU."""
    import torch

    parsed = parse_device(spec)
    if parsed == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if parsed == "auto":
        return f"cuda:{rank % torch.cuda.device_count()}" if available else "cpu"
    if not available:
        raise ValueError(f"--device {spec}: CUDA is not available to this PyTorch build "
                         f"(torch {torch.__version__}); use --device cpu")
    index = parsed[rank % len(parsed)]
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {spec}: GPU {index} does not exist "
                         f"(this machine has {torch.cuda.device_count()})")
    return f"cuda:{index}"


def is_auto(spec: str | None) -> bool:
    return parse_device(spec) == "auto"

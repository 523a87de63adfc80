"""PyTorch speed on a GPU: the facts a GPU figure is meaningless without, and the time of a
forward pass with the device synchronised around it (optionally replayed from a CUDA graph).

CUDA kernels run asynchronously: without ``torch.cuda.synchronize`` a timer measures how fast
Python queues work, not how fast the GPU does it. On the CPU the same code runs with no sync.
"""
from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .timing import Stat, cpu_model, time_calls

NVIDIA_PROC = Path("/proc/driver/nvidia/version")


def driver_version() -> str | None:
    """The NVIDIA driver version: from /proc (Linux), else nvidia-smi; None when neither answers."""
    if NVIDIA_PROC.is_file():
        m = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", NVIDIA_PROC.read_text(errors="replace"))
        if m:
            return m.group(1)
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else None


def gpu_info(device) -> dict:
    """GPU name, memory, driver, CUDA/cuDNN/torch versions, TF32 and cuDNN autotune settings, date."""
    import torch

    info = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
            "device": str(device), "cuda_runtime": torch.version.cuda}
    if device.type != "cuda":
        return {**info, "gpu": None, "driver": None, "cpu": cpu_model(), "threads": torch.get_num_threads()}
    props = torch.cuda.get_device_properties(device)
    return {**info, "gpu": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "driver": driver_version(),
            "cudnn": torch.backends.cudnn.version(), "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "tf32_conv": torch.backends.cudnn.allow_tf32, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}


def sync_for(device) -> Callable[[], None]:
    import torch

    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def cuda_graph(fn: Callable[[], object], warmup: int = 3) -> Callable[[], None]:
    """``fn`` (which must read and write only fixed tensors) captured once; returns its replay.
    The warm-up runs on a side stream, as PyTorch requires, so lazy setup (cuDNN autotune, the
    decoder's grids) happens before capture."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def detector_forward(model, decoder, x) -> Callable[[], object]:
    """``decoder(model(x))`` as the torch backend computes it (maps to FP32 before decoding),
    without gradients; ``x`` stays the same tensor, so the call can be graph-captured."""
    import torch

    def run():
        with torch.no_grad():
            return decoder([m.float() for m in model(x)])
    return run


def time_forward(fn: Callable[[], object], device, runs: int, warmup: int, graph: bool = False) -> Stat:
    """Milliseconds per call of ``fn`` (median of ``runs``), the device synchronised after each."""
    sync = sync_for(device)
    if graph:
        fn = cuda_graph(fn)

    def call():
        fn()
        sync()
    sync()
    return time_calls(call, runs, warmup)

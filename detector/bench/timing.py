"""Latency statistics and the machine facts a benchmark number is meaningless without."""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Stat:
    """Summary of repeated timings in milliseconds."""

    median: float
    p90: float
    mean: float
    min: float
    n: int
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, ms: Sequence[float]) -> "Stat":
        a = np.asarray(ms, dtype=np.float64)
        if a.size == 0:
            raise ValueError("Stat.of: no timings")
        return cls(float(np.median(a)), float(np.percentile(a, 90)), float(a.mean()), float(a.min()), int(a.size),
                   tuple(float(v) for v in a))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "samples"}


def time_calls(fn: Callable[[], object], runs: int, warmup: int, tick: Callable[[], None] | None = None) -> Stat:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed; ``tick`` after each call."""
    for _ in range(warmup):
        fn()
        if tick:
            tick()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
        if tick:
            tick()
    return Stat.of(ms)


def _cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical CPU (empty where the file does not exist)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return []
    cpus, cur = [], {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            if cur:
                cpus.append(cur)
            cur = {}
            continue
        key, _, value = line.partition(":")
        cur[key.strip()] = value.strip()
    if cur:
        cpus.append(cur)
    return cpus


def physical_cores() -> int:
    """Distinct (package, core) pairs; hyper-threads share a core's FMA units, so a compute-bound
    net gains little from them and loses to their contention."""
    cores = {(c.get("physical id", "0"), c.get("core id", c.get("processor"))) for c in _cpuinfo()}
    return len(cores) or os.cpu_count() or 1


def cpu_model() -> str:
    cpus = _cpuinfo()
    return (cpus[0].get("model name") if cpus else None) or platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # an optional runtime missing is a fact to record, not an error
        return None


def machine_info(threads: int) -> dict:
    """CPU, core counts, load and library versions, for the JSON report."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu_model(),
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "load_average": list(load) if load else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {m: _version(m) for m in ("numpy", "torch", "onnxruntime", "onnx", "cv2", "openvino")},
    }

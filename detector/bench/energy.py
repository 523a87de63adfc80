"""Energy per frame from the machine's own power counters -- measured, never modelled.

- **RAPL** (Intel, and AMD Zen through the same powercap driver): the cumulative
  ``energy_uj`` counter of each CPU package zone, ``/sys/class/powercap/<zone>/energy_uj``,
  summed over sockets. It wraps at ``max_energy_range_uj``; a read each time a window opens and
  closes, and ``poll()`` in long runs, sees each wrap. Since Linux 5.10 the counters are readable
  by root only (``sudo chmod o+r .../energy_uj`` lends them to a user).
- **Jetson**: ``tegrastats`` prints the board's input rail ``VDD_IN`` (current/average in mW)
  every interval; the meter integrates those samples over time.
- Elsewhere there is no counter, and the report says ``energy: n/a (no power counters)``; it
  gives the process CPU-seconds per frame instead. No estimate is ever printed as a measurement.

``CSPDET_POWERCAP_ROOT`` points the RAPL reader at another tree and ``CSPDET_TEGRASTATS`` at
another ``tegrastats`` executable (the tests use a fake tree and a recorded tegrastats output).
No library reads these portably from Python (pyRAPL is Intel-only and unmaintained, jtop needs
its root service), so this reads the files and the tool's output itself.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

POWERCAP_ENV, TEGRASTATS_ENV = "CSPDET_POWERCAP_ROOT", "CSPDET_TEGRASTATS"
POWERCAP_ROOT = "/sys/class/powercap"
NO_COUNTERS = "energy: n/a (no power counters)"
_ZONE = re.compile(r"^[a-z]+-rapl:\d+$")  # top-level zones (intel-rapl:0), not subzones (intel-rapl:0:0)
# TX2 on JetPack 4.6: 'VDD_IN 2591/2591' (mW); JetPack 5 and Orin: 'VDD_IN 4782mW/4782mW'
_VDD_IN = re.compile(r"\bVDD_IN (\d+)(?:mW)?/(\d+)(?:mW)?")


@dataclass
class RaplZone:
    path: Path
    name: str
    max_range: int
    last: int = 0
    total_uj: int = 0

    def read(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())

    def poll(self) -> None:
        """Add the energy since the last read; a counter below its last value wrapped once."""
        now = self.read()
        self.total_uj += now - self.last if now >= self.last else self.max_range - self.last + now
        self.last = now


class RaplMeter:
    """Cumulative joules of the CPU package zones since ``start()`` (``joules()``)."""

    kind = "RAPL"

    def __init__(self, zones: list[RaplZone]):
        self.zones = zones
        self.source = f"RAPL {'+'.join(z.name for z in zones)}"

    def start(self) -> "RaplMeter":
        for z in self.zones:
            z.last, z.total_uj = z.read(), 0
        return self

    def poll(self) -> None:
        for z in self.zones:
            z.poll()

    def joules(self) -> float:
        self.poll()
        return sum(z.total_uj for z in self.zones) / 1e6

    def stop(self) -> None:
        pass


def rapl_zones(root: str | os.PathLike | None = None) -> tuple[list[RaplZone], str | None]:
    """The readable package zones under the powercap ``root`` (default: $CSPDET_POWERCAP_ROOT or
    /sys/class/powercap), or ([], why not)."""
    root = Path(root or os.environ.get(POWERCAP_ENV) or POWERCAP_ROOT)
    if not root.is_dir():
        return [], None
    zones, problems = [], []
    for d in sorted(p for p in root.iterdir() if _ZONE.match(p.name)):
        try:
            name = (d / "name").read_text().strip()
            if not name.startswith("package"):
                continue  # psys and dram overlap or add to the package; the package is the CPU
            zone = RaplZone(d, name, int((d / "max_energy_range_uj").read_text().strip()))
            zone.read()
        except (OSError, ValueError) as e:
            problems.append(f"{d / 'energy_uj'} {type(e).__name__}")
            continue
        zones.append(zone)
    if zones or not problems:
        return zones, None
    return [], f"RAPL counters not readable, {problems[0]}: root only since Linux 5.10"


def parse_tegrastats(line: str) -> float | None:
    """The current VDD_IN power in watts of one tegrastats line, or None."""
    m = _VDD_IN.search(line)
    return int(m.group(1)) / 1e3 if m else None


@dataclass
class PowerSamples:
    """Timestamped power samples (s, W), integrated by the trapezoid rule between samples."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def add(self, t: float, watts: float) -> None:
        self.points.append((t, watts))

    def joules(self, t0: float = float("-inf"), t1: float = float("inf")) -> float:
        """Energy between t0 and t1, over the samples that fall inside (the ends are not extrapolated)."""
        pts = [p for p in self.points if t0 <= p[0] <= t1]
        return sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(pts, pts[1:]))


class TegrastatsMeter:
    """Joules of the Jetson's VDD_IN rail from a ``tegrastats --interval MS`` child process."""

    kind = "tegrastats"

    def __init__(self, exe: str, interval_ms: int = 100):
        self.exe, self.interval = exe, interval_ms
        self.samples = PowerSamples()
        self.lock = threading.Lock()
        self.proc = self.thread = None
        self.t0 = 0.0
        self.source = f"tegrastats VDD_IN every {interval_ms} ms"

    def start(self) -> "TegrastatsMeter":
        self.proc = subprocess.Popen([self.exe, "--interval", str(self.interval)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True, name="cspdet-tegrastats")
        self.thread.start()
        self.t0 = time.monotonic()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            watts = parse_tegrastats(line)
            if watts is not None:
                with self.lock:
                    self.samples.add(time.monotonic(), watts)

    def poll(self) -> None:
        pass

    def joules(self) -> float:
        with self.lock:
            return self.samples.joules(self.t0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def open_meter(tegrastats: bool = True):
    """(a started meter, None) where power counters can be read, else (None, why not): RAPL first,
    then tegrastats (on $PATH or $CSPDET_TEGRASTATS) when ``tegrastats`` is allowed."""
    zones, why = rapl_zones()
    if zones:
        return RaplMeter(zones).start(), None
    exe = os.environ.get(TEGRASTATS_ENV) or shutil.which("tegrastats")
    if tegrastats and exe:
        try:
            return TegrastatsMeter(exe).start(), None
        except OSError as e:
            why = f"tegrastats did not start: {e}"
    return None, why


@dataclass
class EnergyReading:
    """One measured stretch: frames, wall seconds, process CPU-seconds, joules (None without counters)."""

    frames: int
    seconds: float
    cpu_seconds: float
    joules: float | None
    source: str | None
    why_not: str | None = None

    @property
    def joules_per_frame(self) -> float | None:
        return None if self.joules is None or not self.frames else self.joules / self.frames

    @property
    def cpu_per_frame(self) -> float:
        return self.cpu_seconds / max(self.frames, 1)

    def line(self) -> str:
        """'energy: 0.412 J/frame (RAPL package-0, 12.4 J in 3.1 s, 4.0 W) | CPU 0.0123 s/frame' or
        'energy: n/a (no power counters) | CPU 0.0123 s/frame'."""
        cpu = f"CPU {self.cpu_per_frame:.4f} s/frame"
        if self.joules is None:
            return f"{NO_COUNTERS[:-1]}{': ' + self.why_not if self.why_not else ''}) | {cpu}"
        watts = self.joules / self.seconds if self.seconds > 0 else 0.0
        return (f"energy: {self.joules_per_frame:.4g} J/frame ({self.source}, {self.joules:.3g} J in "
                f"{self.seconds:.1f} s, {watts:.3g} W) | {cpu}")

    def to_dict(self) -> dict:
        return {"frames": self.frames, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "cpu_s_per_frame": self.cpu_per_frame, "joules": self.joules,
                "joules_per_frame": self.joules_per_frame, "source": self.source, "why_not": self.why_not}


class EnergyWindow:
    """Measure stretches of work: ``with window: ...`` (or ``open()``/``close(frames)``) adds their
    wall time, process CPU time and joules; ``reading()`` sums them. Without counters only the
    times are kept."""

    def __init__(self, meter=None, why_not: str | None = None):
        self.meter, self.why_not = meter, why_not
        self.frames, self.seconds, self.cpu, self.joules = 0, 0.0, 0.0, 0.0
        self._t = self._c = self._j = None

    def open(self) -> None:
        self._t, self._c = time.perf_counter(), time.process_time()
        self._j = self.meter.joules() if self.meter is not None else None

    def close(self, frames: int) -> None:
        self.seconds += time.perf_counter() - self._t
        self.cpu += time.process_time() - self._c
        if self.meter is not None:
            self.joules += self.meter.joules() - self._j
        self.frames += frames

    def reading(self) -> EnergyReading:
        source = self.meter.source if self.meter is not None else None
        return EnergyReading(self.frames, self.seconds, self.cpu, self.joules if self.meter is not None else None,
                             source, None if self.meter is not None else self.why_not)

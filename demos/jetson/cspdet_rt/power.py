"""Energy per frame on a Jetson, measured from ``tegrastats``' VDD_IN rail (the whole board's
input power), and the power mode it was measured in. Python 3.6.

tegrastats prints one line every ``--interval`` ms; on a TX2 (JetPack 4.6) the rails read
``VDD_IN 3041/3041`` (current/average mW), on JetPack 5 ``VDD_IN 4782mW/4782mW``. A reader thread
integrates the samples over time (trapezoid rule). Where tegrastats is not there (a desktop, a
container without it) nothing is measured and the summary says so: no estimate is printed.
"""
import os
import re
import shutil
import subprocess
import threading
import time

VDD_IN = re.compile(r"\bVDD_IN (\d+)(?:mW)?/(\d+)(?:mW)?")
NO_COUNTERS = "energy: n/a (no power counters)"


def parse_vdd_in(line):
    """Watts of the current VDD_IN reading in one tegrastats line, or None."""
    m = VDD_IN.search(line)
    return int(m.group(1)) / 1000.0 if m else None


def integrate(points, t0=float("-inf"), t1=float("inf")):
    """Joules of (seconds, watts) samples between t0 and t1 (trapezoid rule)."""
    pts = [p for p in points if t0 <= p[0] <= t1]
    return sum((b[0] - a[0]) * (a[1] + b[1]) / 2.0 for a, b in zip(pts, pts[1:]))


class Tegrastats(object):
    """``start()``, then ``joules()`` since the start; ``stop()`` ends the child process. ``exe``:
    the tegrastats binary (default: $CSPDET_TEGRASTATS, else tegrastats on $PATH)."""

    def __init__(self, exe=None, interval_ms=100):
        self.exe = exe or os.environ.get("CSPDET_TEGRASTATS") or shutil.which("tegrastats")
        self.interval = interval_ms
        self.points, self.lock, self.proc, self.t0 = [], threading.Lock(), None, 0.0

    @property
    def available(self):
        return bool(self.exe)

    def start(self):
        self.proc = subprocess.Popen([self.exe, "--interval", str(self.interval)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.t0 = time.monotonic()
        return self

    def _read(self):
        for line in self.proc.stdout:
            watts = parse_vdd_in(line)
            if watts is not None:
                with self.lock:
                    self.points.append((time.monotonic(), watts))

    def joules(self):
        with self.lock:
            return integrate(self.points, self.t0)

    def samples(self):
        with self.lock:
            return len(self.points)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def power_mode():
    """'MAXN (mode 0)'-style text from ``nvpmodel -q``, or None where it cannot be read."""
    exe = shutil.which("nvpmodel")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "-q"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    name = re.search(r"NV Power Mode:\s*(\S+)", out)
    number = re.search(r"^\s*(\d+)\s*$", out, re.M)
    if not name:
        return None
    return name.group(1) + (" (mode {})".format(number.group(1)) if number else "")


def energy_line(meter, frames, seconds):
    """'energy: 0.312 J/frame (tegrastats VDD_IN, 9.4 J in 3.0 s, 3.1 W)' or the n/a line."""
    if meter is None or not meter.samples() or frames < 1:
        return NO_COUNTERS
    joules = meter.joules()
    return "energy: {:.4g} J/frame (tegrastats VDD_IN, {:.3g} J in {:.1f} s, {:.3g} W)".format(
        joules / frames, joules, seconds, joules / seconds if seconds > 0 else 0.0)

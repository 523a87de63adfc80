"""What Ray Data costs and gives: images/s and CPU per image of ``cspdet batch`` (2 actors x 1
thread, 1 x 1, 1 x 2) on this machine's local cluster against plain ``cspdet detect`` (as is, and
with --streams 2) on the same images with the same backend, and what N nodes would give, as
arithmetic.

    python benchmarks/ray_batch.py [--images 1000] [--rounds 3] [--backend torch] [--img-size N]
                                   [--plot ray_batch.png] [--json ray_batch.json]

The images are coco128's, linked ``--images`` times in turn under numeric names. Every command
runs in this process and the rounds alternate them, so a busy machine slows each alike.
detect's rate is its own "fps end-to-end" (its frame loop, after the model is loaded); a Ray
run's is its rate once every actor runs (from the tenth of the images to the last; the time to
the first result, the actors' start-up, is reported apart). The
local cluster runs its workers at niceness 0, as detect runs (Ray's default is 15).

On a machine that others share, images/s measures the machine as much as the code, so CPU time
is measured too: every process of the run (for Ray: the driver, the actors, the raylet, GCS and
Ray's agents, sampled every 0.5 s over the same window) in CPU-ms per image. On two free cores
a run could at best reach 2000 / (CPU-ms per image) images/s; the ratio of two runs' CPU per
image is their overhead whatever else the machine is doing (the sampling itself, ~1% of a core,
falls on the driver of both). The driver's own cost per image is
timed apart: every result passes through it, so it bounds what adding nodes gives.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from detector.bench.report import table
from detector.cli import main as cspdet

SHARED = Path(os.environ.get("CSPDET_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
RAY_POOLS = {"ray 2 actors x 1 thread": (2, 1), "ray 1 actor x 1 thread": (1, 1), "ray 1 actor x 2 threads": (1, 2)}
DETECTS = {"detect": [], "detect --streams 2": ["--streams", "2"]}


class TreeCPU:
    """CPU seconds of this process and its descendants, sampled every ``every`` s in a thread;
    a process that ends keeps its last sample."""

    def __init__(self, every: float = 0.5):
        import psutil  # Ray's own dependency

        self.psutil, self.every, self.samples = psutil, every, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        me = self.psutil.Process()
        while not self.stop.is_set():
            now, cpu = time.perf_counter(), {}
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(self.psutil.Error):
                    t = proc.cpu_times()
                    cpu[proc.pid] = (self.label(proc, me), t.user + t.system)
            self.samples.append((now, cpu))
            self.stop.wait(self.every)

    @staticmethod
    def label(proc, me) -> str:
        if proc.pid == me.pid:
            return "driver"
        name = " ".join(proc.cmdline()[:1]) or proc.name()
        if "MapWorker" in name:
            return "actors"
        return "raylet + GCS + agents"

    def spent(self, start: float, end: float, only_driver: bool = False) -> dict[str, float]:
        """CPU seconds per label between ``start`` and ``end`` (perf_counter times)."""
        before = next((cpu for t, cpu in reversed(self.samples) if t <= start), {})
        inside = [cpu for t, cpu in self.samples if start < t <= end]
        last: dict[int, tuple[str, float]] = {}
        for cpu in inside:
            last.update(cpu)
        out: dict[str, float] = {}
        for pid, (label, value) in last.items():
            if only_driver and label != "driver":
                continue
            out[label] = out.get(label, 0.0) + value - before.get(pid, (label, 0.0))[1]
        return out


def image_folder(dest: Path, count: int) -> Path:
    """``count`` links to coco128's images, in turn, as 000001.jpg, 000002.jpg, ..."""
    images = sorted((SHARED / "data" / "coco128" / "images").glob("*.jpg"))
    if not images:
        sys.exit(f"coco128 not found under {SHARED}/data/coco128 (set CSPDET_SHARED)")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (dest / f"{i + 1:06d}.jpg").symlink_to(images[i % len(images)])
    return dest


def run_detect(folder: Path, model: list[str], extra: list[str], project: Path, cpu: TreeCPU, n: int) -> dict:
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cspdet(["detect", "--source", str(folder), *model, *extra, "--nosave", "--save-json",
                       "--project", str(project)])
    t1 = time.perf_counter()
    assert code == 0, out.getvalue()[-2000:]
    time.sleep(2 * cpu.every)  # a sample after the end
    spent = cpu.spent(t0, t1, only_driver=True)
    return {"rate": float(re.search(r"([\d.]+) fps end-to-end", out.getvalue()).group(1)),
            "cpu_ms": 1e3 * sum(spent.values()) / n, "cpu": spent}


def run_ray(folder: Path, weights: str, detector: dict, actors: int, threads: int, project: Path,
            cpu: TreeCPU) -> dict:
    from detector.integrations.ray import job

    opts = job.Options(source=str(folder), weights=weights, detector=dict(detector, threads=threads), actors=actors,
                       project=str(project))
    with contextlib.redirect_stderr(io.StringIO()):
        s = job.run(opts)
    start, end, steady = s.steady()
    spent = cpu.spent(s.started_at + start, s.started_at + end)
    return {"rate": s.steady_rate, "overall": (s.images + s.skipped) / s.seconds, "first_result_s": s.first_result_s,
            "cpu_ms": 1e3 * sum(spent.values()) / steady, "cpu": spent, "steady_images": steady}


def driver_us_per_image(folder: Path, project: Path) -> tuple[float, float]:
    """µs the driver spends per image while results stream in (``ImageOutputs.add``) and at the
    end (``close``: sorting, COCO ids, predictions.json, results.parquet), timed on tables like
    the actors' (20 boxes an image)."""
    import numpy as np

    from detector.integrations.ray.columns import detection_table
    from detector.integrations.ray.outputs import ImageOutputs
    from detector.runtime.results import Results

    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(4)]
    res = [Results(rng.uniform(0, 600, (20, 4)).astype(np.float32), rng.random(20, dtype=np.float32),
                   rng.integers(0, 4, 20), names, np.zeros((480, 640, 3), np.uint8)) for _ in range(16)]

    def columns(k: int) -> dict:
        return {"index": np.arange(k, k + 16), "path": np.array([str(folder / f"{k + i:06d}.jpg") for i in range(16)]),
                "name": np.array([f"{k + i:06d}.jpg" for i in range(16)])}

    tables = [detection_table(columns(k), res, [None] * 16) for k in range(0, 2000, 16)]
    outputs, n = ImageOutputs(project, names, list(range(4))), sum(t_.num_rows for t_ in tables)
    t0 = time.perf_counter()
    for t_ in tables:
        outputs.add(t_)
    t1 = time.perf_counter()
    outputs.close()
    return (t1 - t0) / n * 1e6, (time.perf_counter() - t1) / n * 1e6


def plot(medians: dict[str, float], cpu_ms: dict[str, float], out: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6), dpi=120)
    a, b = fig.subplots(1, 2)
    names = list(medians)[::-1]
    colors = ["tab:gray" if n.startswith("detect") else "tab:blue" for n in names]
    for ax, values, label in ((a, medians, "images/s (median)"), (b, cpu_ms, "CPU-ms per image, all processes")):
        ax.barh(names, [values[n] for n in names], color=colors)
        for i, n in enumerate(names):
            ax.text(values[n], i, f" {values[n]:.1f}", va="center")
        ax.set_xlim(0, max(values.values()) * 1.2)
        ax.set(xlabel=label)
    b.set_yticklabels([])
    fig.suptitle(f"cspdet batch (Ray Data, local cluster) vs cspdet detect: {os.cpu_count()} cores, shared machine")
    fig.tight_layout()
    fig.savefig(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="runs of each command, alternating")
    p.add_argument("--weights", default=str(Path(__file__).resolve().parents[1] / "weights" / "cspdet-shapes.pt"))
    p.add_argument("--backend", default="torch")
    p.add_argument("--img-size", type=int, default=None)
    p.add_argument("--plot", type=Path, default=Path("ray_batch.png"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    import ray

    model = ["--weights", args.weights, "--backend", args.backend] + (["--img-size", str(args.img_size)]
                                                                      if args.img_size else [])
    detector = dict(backend=args.backend, img_size=args.img_size, conf_thres=0.25)
    runs: dict[str, list[dict]] = {name: [] for name in [*DETECTS, *RAY_POOLS]}
    load = os.getloadavg()[0]
    cpu = TreeCPU()
    with tempfile.TemporaryDirectory() as tmp:
        folder = image_folder(Path(tmp) / "images", args.images)
        t = time.perf_counter()
        owned = not ray.is_initialized()
        if owned:
            # Ray starts its workers at niceness 15 (to keep its own daemons responsive); on a
            # machine others share, that alone would slow the actors against detect at niceness 0
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="warning")
        cluster_start_s = time.perf_counter() - t
        try:
            for r in range(args.rounds):
                for name, extra in DETECTS.items():
                    runs[name].append(run_detect(folder, model, extra, Path(tmp) / "detect", cpu, args.images))
                for name, (actors, threads) in RAY_POOLS.items():
                    runs[name].append(run_ray(folder, args.weights, detector, actors, threads, Path(tmp) / "batch",
                                              cpu))
                for name in runs:
                    got = runs[name][-1]
                    print(f"round {r + 1}: {name}: {got['rate']:.1f} images/s, {got['cpu_ms']:.1f} CPU-ms per image"
                          + (f" (first result at {got['first_result_s']:.1f} s)" if "first_result_s" in got else ""),
                          flush=True)
            stream_us, end_us = driver_us_per_image(folder, Path(tmp) / "driver")
        finally:
            cpu.stop.set()
            if owned:
                ray.shutdown()
    load = (load + os.getloadavg()[0]) / 2
    medians = {name: statistics.median(r["rate"] for r in v) for name, v in runs.items()}
    cpu_ms = {name: statistics.median(r["cpu_ms"] for r in v) for name, v in runs.items()}
    rows = []
    for name, v in runs.items():
        rates = [r["rate"] for r in v]
        split = " / ".join(f"{statistics.median(1e3 * r['cpu'].get(k, 0.0) / r.get('steady_images', 1) for r in v):.1f}"
                           for k in ("driver", "actors", "raylet + GCS + agents"))
        first = statistics.median(r["first_result_s"] for r in v) if "first_result_s" in v[0] else None
        rows.append([name, f"{medians[name]:.1f}", f"{min(rates):.1f}-{max(rates):.1f}", f"{cpu_ms[name]:.1f}",
                     split if first is not None else "-", f"{2000 / cpu_ms[name]:.1f}",
                     f"{first:.1f}" if first is not None else "-"])
    print(f"\n{args.images} images (coco128, linked in turn), {args.backend}, {os.cpu_count()} cores, load average "
          f"{load:.1f}, {args.rounds} rounds (median); local cluster started in {cluster_start_s:.1f} s\n")
    print(table(["command", "images/s", "range", "CPU-ms/image", "driver / actors / Ray daemons",
                 "2 free cores: images/s", "first result (s)"], rows))
    ray2, base = "ray 2 actors x 1 thread", "detect"
    by_rate, by_cpu = 1 - medians[ray2] / medians[base], cpu_ms[ray2] / cpu_ms[base] - 1
    cap = 1e6 / stream_us
    print(f"\nRay at 2 actors x 1 thread against detect: {by_rate:+.1%} images/s lost, {by_cpu:+.1%} CPU per image "
          "(target: at most 15% overhead)")
    print(f"driver: {stream_us:.0f} µs per image as results stream in -> at most {cap:,.0f} images/s through one "
          f"driver; {end_us:.0f} µs per image at the end (predictions.json, results.parquet)")
    print(f"N nodes like this one (arithmetic, not measured): N x {medians[ray2]:.1f} images/s while below "
          f"{cap:,.0f}, i.e. up to N = {int(cap // max(medians[ray2], 1e-9)):,}; 10 nodes: {10 * medians[ray2]:.0f} "
          f"images/s, plus {end_us:.0f} s at the end per million images")
    print(f"plot: {plot(medians, cpu_ms, args.plot)}")
    if args.json:
        report = {"runs": runs, "medians": medians, "cpu_ms": cpu_ms, "cluster_start_s": cluster_start_s,
                  "load_average": load, "driver_us_per_image": {"stream": stream_us, "end": end_us},
                  "overhead_2x1": {"rate": by_rate, "cpu": by_cpu}, "images": args.images, "backend": args.backend}
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

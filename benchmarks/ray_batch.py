"""What Ray Data costs and gives: images/s of ``cspdet batch`` (2 actors x 1 thread, 1 x 1, 1 x 2) on
this machine's local cluster against plain ``cspdet detect`` (as is, and with --streams 2) on the
same images with the same backend, and what N nodes would give, as arithmetic.

    python benchmarks/ray_batch.py [--images 1000] [--rounds 2] [--backend torch] [--img-size N]
                                   [--plot ray_batch.png] [--json ray_batch.json]

The images are coco128's, linked ``--images`` times in turn under numeric names. Every command
runs in this process, one after the other, and the rounds alternate them, so a busy machine
slows each alike. detect's rate is its own "fps end-to-end" (the frame loop, after the model is
loaded); the Ray runs report theirs over the whole pipeline and after the first result (the
steady rate, without the actors' start-up), which is the one compared. The driver's own cost
per image (taking a result table, counting, keeping it) is timed too: it bounds what adding
nodes can give, since every result passes through it.
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
import time
from pathlib import Path

from detector.bench.report import table
from detector.cli import main as cspdet

SHARED = Path(os.environ.get("CSPDET_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
RAY_POOLS = {"ray 2 actors x 1 thread": (2, 1), "ray 1 actor x 1 thread": (1, 1), "ray 1 actor x 2 threads": (1, 2)}
DETECTS = {"detect": [], "detect --streams 2": ["--streams", "2"]}


def image_folder(dest: Path, count: int) -> Path:
    """``count`` links to coco128's images, in turn, as 000001.jpg, 000002.jpg, ..."""
    images = sorted((SHARED / "data" / "coco128" / "images").glob("*.jpg"))
    if not images:
        sys.exit(f"coco128 not found under {SHARED}/data/coco128 (set CSPDET_SHARED)")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (dest / f"{i + 1:06d}.jpg").symlink_to(images[i % len(images)])
    return dest


def run_detect(folder: Path, model: list[str], extra: list[str], project: Path) -> float:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cspdet(["detect", "--source", str(folder), *model, *extra, "--nosave", "--save-json",
                       "--project", str(project)])
    assert code == 0, out.getvalue()[-2000:]
    return float(re.search(r"([\d.]+) fps end-to-end", out.getvalue()).group(1))


def run_ray(folder: Path, weights: str, detector: dict, actors: int, threads: int, project: Path) -> dict:
    from detector.integrations.ray import job

    opts = job.Options(source=str(folder), weights=weights, detector=dict(detector, threads=threads), actors=actors,
                       project=str(project))
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        summary = job.run(opts)
    return {"steady": summary.steady_rate, "overall": (summary.images + summary.skipped) / summary.seconds,
            "first_result_s": summary.first_result_s, "wall_s": time.perf_counter() - t}


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


def plot(medians: dict[str, float], out: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.4), dpi=120)
    ax = fig.subplots()
    names = list(medians)
    colors = ["tab:gray" if n.startswith("detect") else "tab:blue" for n in names]
    ax.barh(names[::-1], [medians[n] for n in names][::-1], color=colors[::-1])
    for i, n in enumerate(names[::-1]):
        ax.text(medians[n], i, f" {medians[n]:.1f}", va="center")
    ax.set(xlabel="images/s (Ray: after the first result; detect: its frame loop)",
           title=f"cspdet batch on Ray Data vs cspdet detect, {os.cpu_count()} cores")
    ax.set_xlim(0, max(medians.values()) * 1.18)
    fig.tight_layout()
    fig.savefig(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2, help="runs of each command, alternating")
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
    rates: dict[str, list[float]] = {name: [] for name in [*DETECTS, *RAY_POOLS]}
    ray_runs: dict[str, list[dict]] = {name: [] for name in RAY_POOLS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = image_folder(Path(tmp) / "images", args.images)
        t = time.perf_counter()
        owned = not ray.is_initialized()
        if owned:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="warning")
        cluster_start_s = time.perf_counter() - t
        try:
            for r in range(args.rounds):
                for name, extra in DETECTS.items():
                    rates[name].append(run_detect(folder, model, extra, Path(tmp) / "detect"))
                    print(f"round {r + 1}: {name}: {rates[name][-1]:.1f} images/s", flush=True)
                for name, (actors, threads) in RAY_POOLS.items():
                    got = run_ray(folder, args.weights, detector, actors, threads, Path(tmp) / "batch")
                    rates[name].append(got["steady"])
                    ray_runs[name].append(got)
                    print(f"round {r + 1}: {name}: {got['steady']:.1f} images/s after the first result "
                          f"({got['overall']:.1f} overall, first result at {got['first_result_s']:.1f} s)", flush=True)
            driver_us = driver_us_per_image(folder, Path(tmp) / "driver")
        finally:
            if owned:
                ray.shutdown()
    medians = {name: statistics.median(v) for name, v in rates.items()}
    base, ray2 = medians["detect"], medians["ray 2 actors x 1 thread"]
    rows = [[name, f"{medians[name]:.1f}", f"{min(v):.1f}-{max(v):.1f}",
             f"{medians[name] / base:.2f}",
             f"{statistics.median(r['first_result_s'] for r in ray_runs[name]):.1f}" if name in ray_runs else "-"]
            for name, v in rates.items()]
    print(f"\n{args.images} images (coco128, linked in turn), {args.backend}, {os.cpu_count()} cores, "
          f"{args.rounds} rounds (median; min-max); local cluster started in {cluster_start_s:.1f} s\n")
    print(table(["command", "images/s", "range", "x detect", "first result (s)"], rows))
    overhead = 1 - ray2 / base
    stream_us, end_us = driver_us
    cap = 1e6 / stream_us
    print(f"\nRay overhead at 2 actors x 1 thread against detect: {overhead:+.1%} (target: at most 15%)")
    print(f"driver: {stream_us:.0f} µs per image as results stream in -> at most {cap:,.0f} images/s through one "
          f"driver; {end_us:.0f} µs per image at the end (predictions.json, results.parquet)")
    print(f"N nodes like this one (arithmetic, not measured): N x {ray2:.1f} images/s while N x {ray2:.1f} "
          f"< {cap:,.0f}, i.e. up to N = {int(cap // max(ray2, 1e-9))}; 10 nodes: {10 * ray2:.0f} images/s, "
          f"plus {end_us * 1e-6 * 1e6 / 60:.0f} min at the end per million images")
    out = plot(medians, args.plot)
    print(f"plot: {out}")
    if args.json:
        report = {"medians": medians, "rates": rates, "ray_runs": ray_runs, "cluster_start_s": cluster_start_s,
                  "driver_us_per_image": {"stream": stream_us, "end": end_us}, "overhead_2x1": overhead,
                  "images": args.images, "backend": args.backend}
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

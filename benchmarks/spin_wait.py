"""Busy-waiting worker threads, per backend: latency with and without ``--spin``, on an idle CPU
and with a CPU hog running beside it.

Each (backend, spin, hog) cell runs in a fresh process: PyTorch's OpenMP wait policy is read once,
when torch loads (``detector.waiting``), so it cannot be flipped inside one process. The hog is
one busy-looping process per core, started by this script before the cell and stopped after it
(each also ends itself after ``--hog-limit`` seconds, so nothing outlives a killed benchmark).

    python benchmarks/spin_wait.py --out docs/spin_wait.json --plot docs/spin_wait.png

Prints a Markdown table (median / p90 ms per image of ``Detector.predict``, after warm-up).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnxruntime", "openvino")
HOG = "import time\nend = time.time() + {limit}\nwhile time.time() < end:\n    pass\n"


def worker(args) -> None:
    """One cell: build the Detector, warm it up, time ``runs`` predictions, print JSON."""
    import numpy as np

    from detector import Detector
    from detector.bench import synthetic_frame

    det = Detector(args.model, backend=args.backend, img_size=args.img_size, spin=args.spin, device="cpu",
                   threads=args.threads)
    img = synthetic_frame()
    for _ in range(args.warmup):
        det.predict([img])
    ms = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        det.predict([img])
        ms.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "samples": ms}))


def start_hog(n: int, limit: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", HOG.format(limit=limit)]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def cell(args, backend: str, spin: bool, hog: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "CSPDET_SPIN")}
    env["PYTHONPATH"] = str(ROOT)
    if spin:
        env["CSPDET_SPIN"] = "1"  # torch: ACTIVE before torch loads; the others take spin=True
    cmd = [sys.executable, __file__, "--worker", "--backend", backend, "--model", args.model, "--img-size",
           str(args.img_size), "--runs", str(args.runs), "--warmup", str(args.warmup)]
    cmd += ["--spin"] * spin + (["--threads", str(args.threads)] if args.threads else [])
    hogs = start_hog(args.hog_procs or os.cpu_count() or 1, args.hog_limit) if hog else []
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True,
                             timeout=args.hog_limit).stdout
    finally:
        stop(hogs)
    return {"backend": backend, "spin": spin, "hog": hog, **json.loads(out.strip().splitlines()[-1])}


def table(rows: list[dict]) -> str:
    lines = ["| backend | spin | idle CPU: ms (median / p90) | with CPU hog: ms (median / p90) |",
             "|---|---|---|---|"]
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for spin in (False, True):
            got = {r["hog"]: r for r in rows if r["backend"] == backend and r["spin"] == spin}
            cells = [f"{got[h]['median']:.1f} / {got[h]['p90']:.1f}" if h in got else "–" for h in (False, True)]
            lines.append(f"| {backend} | {'on' if spin else 'off (default)'} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(r["backend"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, hog in zip(axes, (False, True)):
        for k, spin in enumerate((False, True)):
            vals = [next((r["median"] for r in rows if r["backend"] == b and r["spin"] == spin and r["hog"] == hog),
                         0.0) for b in backends]
            xs = [i + (k - 0.5) * 0.38 for i in range(len(backends))]
            bars = ax.bar(xs, vals, 0.38, label="spin on" if spin else "spin off (default)",
                          color="tab:red" if spin else "tab:blue")
            ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.set_xticks(range(len(backends)), backends)
        ax.set_title("with a CPU hog beside it (a busy process per core)" if hog else "no hog", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("ms per image (median)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT.parent / "shared" / "darknet" / "yolov4-tiny.cfg"))
    p.add_argument("--img-size", type=int, default=416)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--hog-procs", type=int, default=None, help="busy processes of the hog (default: one per core)")
    p.add_argument("--hog-limit", type=float, default=600.0, help="seconds after which a hog and a cell give up")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--from-json", type=Path, default=None, help="print and plot a saved --out file, measure nothing")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    p.add_argument("--spin", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        meta, rows = saved["meta"], saved["rows"]
    else:
        meta, rows = measure(args)
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if args.plot:
        plot(rows, args.plot, f"{Path(meta['model']).stem} @{meta['img_size']}, {meta['cpus']} CPUs (load average "
                              f"{meta['load_average'][0]:.1f} at the end): busy-waiting threads per backend (--spin)")
        print(f"saved {args.plot}")


def measure(args) -> tuple[dict, list[dict]]:
    from tqdm import tqdm

    cells = [(b, s, h) for b in args.backends.split(",") for h in (False, True) for s in (False, True)]
    rows = []
    for backend, spin, hog in tqdm(cells, desc="spin_wait", unit="cell"):
        rows.append(cell(args, backend, spin, hog))
        tqdm.write(f"{backend} spin={spin} hog={hog}: {rows[-1]['median']:.1f} ms")
    meta = {"model": args.model, "img_size": args.img_size, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "runs": args.runs, "warmup": args.warmup}
    return meta, rows


if __name__ == "__main__":
    main()

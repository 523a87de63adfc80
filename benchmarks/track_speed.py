"""What tracking costs: ByteTrack's time per frame at 5, 20 and 100 objects, and end-to-end fps of
``cspdet detect`` against ``cspdet track`` on the bundled demo video.

    python benchmarks/track_speed.py [--frames 300] [--rounds 3] [--video demos/media/demo.mp4] [--plot track_speed.png] [--json out.json]

The tracker runs on boxes of objects that move at constant speed with jittered boxes, a tenth of
them with a low score and a few dropped each frame (so the second round and lost tracks do
work); the first 20 frames are not timed. End to end, the three runs (detect as is, detect at
track's settings: --conf-thres 0.1 and NMS across classes, and track) alternate over
``--rounds`` so a busy machine slows each alike; each prints its own fps.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from detector.bench.report import table
from detector.cli import main as cspdet
from detector.resources import demo_media_dir
from detector.runtime.tracking import ByteTracker

WARMUP = 20


def moving_boxes(n: int, frames: int, seed: int = 0):
    """Per frame: (xyxy [K, 4], scores [K], class ids [K]) of ``n`` objects on a 1920x1080 frame."""
    rng = np.random.default_rng(seed)
    pos, vel = rng.uniform(0, 1800, (n, 2)) * (1, 0.55), rng.uniform(-6, 6, (n, 2))
    size, cls = rng.uniform(30, 120, (n, 1)), rng.integers(0, 4, n)
    for _ in range(frames):
        pos = pos + vel
        vel[(pos < 0) | (pos > (1800, 1000))] *= -1
        boxes = np.concatenate([pos, pos + size], 1) + rng.normal(0, 1.5, (n, 4))
        scores = np.where(rng.random(n) < 0.1, rng.uniform(0.1, 0.25, n), rng.uniform(0.3, 1.0, n))
        keep = rng.random(n) > 0.05
        yield boxes[keep], scores[keep], cls[keep]


def tracker_ms(n: int, frames: int) -> dict[str, float]:
    """Median and 90th-percentile ms of one ``ByteTracker.update`` with ``n`` objects."""
    tracker, times = ByteTracker(), []
    for i, (boxes, scores, cls) in enumerate(moving_boxes(n, frames + WARMUP)):
        t = time.perf_counter()
        tracker.update(boxes, scores, cls)
        if i >= WARMUP:
            times.append((time.perf_counter() - t) * 1e3)
    return {"objects": n, "median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)),
            "tracks": len(tracker.confirmed)}


def end_to_end_fps(video: Path, rounds: int) -> dict[str, float]:
    """Median end-to-end fps (as each run prints it) of detect, detect at track's settings, track."""
    runs = {"detect": ["detect"], "detect --conf-thres 0.1 --agnostic-nms": ["detect", "--conf-thres", "0.1",
                                                                            "--agnostic-nms"],
            "track": ["track"]}
    fps: dict[str, list[float]] = {k: [] for k in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for name, argv in runs.items():
                out = io.StringIO()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                    assert cspdet([*argv, "--source", str(video), "--nosave", "--project", tmp]) == 0
                fps[name].append(float(re.search(r"([\d.]+) fps end-to-end", out.getvalue()).group(1)))
    return {k: statistics.median(v) for k, v in fps.items()}


def plot(rows: list[dict], fps: dict[str, float], out: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=120)
    a, b = fig.subplots(1, 2)
    a.bar([str(r["objects"]) for r in rows], [r["median_ms"] for r in rows], color="tab:blue")
    a.axhline(1.0, color="tab:red", ls="--", label="goal at 20 objects: 1 ms")
    a.set(xlabel="objects per frame", ylabel="ms per frame (median)", title="ByteTrack update")
    a.legend()
    b.barh(list(fps), list(fps.values()), color="tab:green")
    b.set(xlabel="fps end to end", title="bundled model, --nosave")
    fig.tight_layout()
    fig.savefig(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=300, help="timed frames per object count")
    p.add_argument("--rounds", type=int, default=3, help="end-to-end runs of each command")
    p.add_argument("--objects", type=int, nargs="+", default=[5, 20, 100])
    p.add_argument("--video", type=Path, default=demo_media_dir() / "demo.mp4", help="end-to-end clip")
    p.add_argument("--plot", type=Path, default=Path("track_speed.png"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = [tracker_ms(n, args.frames) for n in args.objects]
    print(table(["objects", "median ms / frame", "p90 ms", "tracks made"],
                [[r["objects"], f"{r['median_ms']:.3f}", f"{r['p90_ms']:.3f}", r["tracks"]] for r in rows]))
    fps = end_to_end_fps(args.video, args.rounds)
    print()
    print(table([f"command ({args.video.name}, bundled model, --nosave)", "fps end to end"],
                [[k, f"{v:.1f}"] for k, v in fps.items()]))
    print(f"plot: {plot(rows, fps, args.plot)}")
    if args.json:
        args.json.write_text(json.dumps({"tracker": rows, "fps": fps}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

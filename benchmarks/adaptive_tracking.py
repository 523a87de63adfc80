"""What key-frame tracking saves: every-frame tracking against ``--adaptive`` at K = 2, 4, 8 on the
seeded synthetic clips (crossing, occluded, stop-and-go, entering and leaving shapes).

    PYTHONPATH=. python benchmarks/adaptive_tracking.py [--clips 4] [--frames 120] [--rounds 2]
        [--backend onnxruntime] [--plot adaptive_tracking.png] [--json out.json]

For each mode it prints detector calls per frame, process CPU-seconds per frame (decoding,
detection, tracking: everything ``cspdet track --adaptive --nosave`` does per frame), joules per
frame where RAPL or tegrastats can be read ('n/a (no power counters)' elsewhere), MOTA and IDF1
pooled over the clips (motmetrics, IoU >= 0.5), and AP50 of the boxes the tracker reports against
the clips' ground truth. The modes run in turn, ``--rounds`` times each in a new order, with one
thread, so a busy spell of the machine slows each alike; CPU and energy are summed over rounds.
``adaptive K=6 (default)`` is ``cspdet track --adaptive`` as shipped; ``adaptive K=8 no flow``
shows what the optical-flow correction buys.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np

from detector.bench.energy import EnergyWindow, open_meter
from detector.bench.report import table
from detector.data.synthetic_tracks import make_tracking_videos, read_mot
from detector.engine.metrics import ap_per_class, match_detections
from detector.geometry.boxes import ltwh2xyxy
from detector.resources import default_weights_path
from detector.runtime.pipeline import detect_stream
from detector.runtime.sources import VideoSource
from detector.runtime.tracking import ByteTracker, TrackSession
from detector.runtime.tracking.adaptive import AdaptiveTracker, adaptive_stream
from detector.runtime.tracking.keyframes import KeyFramePolicy
from tests.tracking.mot import score

MODES = {"every frame": None, "adaptive K=2": 2, "adaptive K=4": 4, "adaptive K=6 (default)": 6, "adaptive K=8": 8,
         "adaptive K=8 no flow": -8}


def run_clip(det, clip: Path, k: int | None) -> tuple[list, int, int]:
    """Track one clip in mode ``k`` (None: every frame; negative: no flow) -> (rows
    (frame, id, x1, y1, x2, y2, score, class), detector calls, frames)."""
    session = TrackSession(ByteTracker(), det.names)
    src = VideoSource(clip)
    keyed = None
    try:
        if k is None:
            items = session.wrap(detect_stream(det, src))
        else:
            keyed = AdaptiveTracker(det, session, KeyFramePolicy(interval=abs(k)), flow=k > 0)
            items = adaptive_stream(keyed, src)
        rows, frames = [], 0
        for item in items:
            r, f = item.result, item.frame.index + 1
            frames += 1
            rows += [(f, i, *b, s, c) for b, s, c, i in zip(r.xyxy.tolist(), r.scores.tolist(), r.class_ids.tolist(),
                                                          r.ids.tolist())]
    finally:
        src.close()
    return rows, keyed.stats.calls if keyed else frames, frames


def ap50(gt: np.ndarray, rows: np.ndarray) -> float:
    """AP50 (COCO 101-point, mean over classes) of reported boxes against MOT ground truth rows."""
    tps, confs, classes = [], [], []
    for f in np.unique(gt[:, 0]):
        g, h = gt[gt[:, 0] == f], rows[rows[:, 0] == f]
        tp, _ = match_detections(h[:, 2:6], h[:, 6], h[:, 7], ltwh2xyxy(g[:, 2:6]), g[:, 7])
        tps.append(tp), confs.append(h[:, 6]), classes.append(h[:, 7])
    return ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(classes), gt[:, 7]).map


def measure(det, clips: list[Path], rounds: int) -> dict[str, dict]:
    """Every mode over every clip, ``rounds`` times in shuffled order -> per-mode numbers."""
    meter, why = open_meter()
    windows = {m: EnergyWindow(meter, why) for m in MODES}
    out = {m: {"calls": 0, "frames": 0} for m in MODES}
    order, rng = list(MODES), random.Random(0)
    try:
        for rnd in range(rounds):
            rng.shuffle(order)
            for mode in order:
                g, h = [], []
                windows[mode].open()
                results = [run_clip(det, clip, MODES[mode]) for clip in clips]
                windows[mode].close(sum(frames for _, _, frames in results))
                if rnd:
                    continue  # one round of accuracy suffices: the runs are deterministic
                for n, (clip, (rows, calls, frames)) in enumerate(zip(clips, results)):
                    gt = read_mot(clip.with_suffix(".txt"))
                    shift = np.zeros(gt.shape[1])
                    shift[:2] = 1000 * n  # frames and IDs apart per clip: one score pools them
                    g.append(gt + shift)
                    h.append(np.array(rows, np.float64).reshape(-1, 8) + shift[:8])
                    out[mode]["calls"] += calls
                    out[mode]["frames"] += frames
                gt, hyp = np.concatenate(g), np.concatenate(h)
                mot = hyp[:, :6].copy()
                mot[:, 4:6] -= mot[:, 2:4]  # xyxy -> ltwh
                out[mode].update(score(gt, mot), ap50=ap50(gt, hyp))
    finally:
        if meter is not None:
            meter.stop()
    for mode, w in windows.items():
        out[mode]["energy"] = w.reading().to_dict()
    return out


def plot(res: dict[str, dict], path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), dpi=120)
    a, b = fig.subplots(1, 2)
    names = list(res)
    cpu = [1e3 * res[m]["energy"]["cpu_s_per_frame"] for m in names]
    calls = [res[m]["calls"] / res[m]["frames"] for m in names]
    colours = ["tab:gray", "tab:green", "tab:blue", "tab:red", "tab:purple", "tab:orange"]
    a.barh(names, cpu, color=colours)
    for y, (c, k) in enumerate(zip(cpu, calls)):
        a.text(c, y, f" {c:.2f} ms, {100 * k:.0f}% calls", va="center", fontsize=8)
    a.set_xlim(0, 1.5 * max(cpu))
    a.invert_yaxis()
    a.set(xlabel="process CPU ms per frame", title="cost per frame (detector calls in %)")
    lo = min(res[m][k] for m in names for k in ("mota", "idf1", "ap50"))
    hi = max(res[m][k] for m in names for k in ("mota", "idf1", "ap50"))
    for key, marker in (("mota", "o"), ("idf1", "s"), ("ap50", "^")):
        b.plot([], [], marker, color="k", mfc="none", label=key.upper())
        for x, m, c in zip(cpu, names, colours):
            b.plot(x, res[m][key], marker, color=c, ms=7)
    for x, m, c in zip(cpu, names, colours):
        b.annotate(m.replace("adaptive ", ""), (x, res[m]["idf1"]), textcoords="offset points", xytext=(4, 6),
                   fontsize=7, color=c)
    b.set(xlabel="process CPU ms per frame", ylabel="score (pooled over the clips)", title="accuracy against cost",
          ylim=(lo - 0.05, hi + 0.06))
    b.legend(fontsize=8, loc="lower right")
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=4, help="seeded clips (seeds 0..N-1)")
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--img-size", type=int, default=128, help="detector input size")
    p.add_argument("--clip-size", type=int, nargs=2, default=[128, 192], metavar=("H", "W"), help="frame size")
    p.add_argument("--weights", default=str(default_weights_path()))
    p.add_argument("--plot", type=Path, default=Path("adaptive_tracking.png"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    import cv2

    from detector import Detector

    cv2.setNumThreads(1)  # decoding, letterbox and flow on the one thread the detector gets
    det = Detector(args.weights, backend=args.backend, img_size=args.img_size, conf_thres=0.1, agnostic=True,
                   threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_tracking_videos(tmp, args.clips, args.frames, tuple(args.clip_size), seed=0, stop_go=True,
                                     entering=2)
        res = measure(det, clips, args.rounds)
    base = res["every frame"]
    body = []
    for mode, r in res.items():
        e = r["energy"]
        jpf = "n/a" if e["joules_per_frame"] is None else f"{e['joules_per_frame']:.4f}"
        body.append([mode, f"{r['calls'] / r['frames']:.2f}", f"{r['frames'] / r['calls']:.1f}x",
                     f"{1e3 * e['cpu_s_per_frame']:.2f}",
                     f"{base['energy']['cpu_s_per_frame'] / e['cpu_s_per_frame']:.1f}x", jpf,
                     f"{r['mota']:.3f}", f"{r['idf1']:.3f}", f"{r['ap50']:.3f}", int(r["num_switches"])])
    print(table(["mode", "calls / frame", "fewer calls", "CPU ms / frame", "less CPU", "J / frame", "MOTA", "IDF1",
                 "AP50", "ID switches"], body))
    e = base["energy"]
    if e["joules"] is None:
        print(f"energy: n/a (no power counters{': ' + e['why_not'] if e['why_not'] else ''}): CPU-seconds per frame "
              "are given instead")
    print(f"{args.clips} clips x {args.frames} frames of {args.clip_size[0]}x{args.clip_size[1]} (stop-and-go, 2 "
          f"entering objects), {args.backend} at {args.img_size}, 1 thread, {args.rounds} rounds")
    print(f"plot: {plot(res, args.plot)}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

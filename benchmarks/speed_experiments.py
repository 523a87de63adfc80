"""A/B experiments behind the runtime's speed settings, run as interleaved rounds so a busy
machine slows every variant alike (each round times every variant once, in a shuffled order).

    python benchmarks/speed_experiments.py [--model csppeleenet-efm-sam] [--size 320] [--rounds 12]
                                           [--only graph,ort,opencv,torch,slim,pre,precision,video]
                                           [--json out.json]

Each experiment prints median milliseconds per variant (pre / inference / post / total per
image for whole-pipeline variants) and the change against its first variant. "infer CPU" is
the calling thread's CPU time during inference: with ``--threads 1`` every backend computes on
that thread, so it measures the work itself even while other processes share the cores.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from detector.bench import physical_cores, synthetic_frame
from detector.bench.report import table
from detector.export import export_onnx
from detector.models.loading import load_detector
from detector.runtime.backends.ort_backend import session_options
from detector.runtime.predictor import Detector

Variant = tuple[Callable[[], None], Callable[[], dict[str, float]]]  # (untimed setup, timed call)
# Spin at most 100 us between ops, then sleep (ONNX Runtime >= 1.26).
BOUNDED_SPIN = {"session.intra_op.allow_spinning": "1", "session.intra_op.spin_duration_us": "100"}


def interleaved(variants: dict[str, Variant], rounds: int, calls: int) -> dict[str, dict[str, float]]:
    """Median per-call milliseconds of every key a variant's call returns, over ``rounds``."""
    samples: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    rng = random.Random(0)
    for _ in range(2):  # warm every variant first (first calls build kernels and caches)
        for setup, call in variants.values():
            setup()
            call()
    for _ in range(rounds):
        for name in rng.sample(list(variants), len(variants)):
            setup, call = variants[name]
            setup()
            for _ in range(calls):
                samples[name].append(call())
    return {k: {m: float(np.median([s[m] for s in v])) for m in v[0]} for k, v in samples.items()}


def pipeline_call(det: Detector, image: np.ndarray) -> Callable[[], dict[str, float]]:
    def call():
        t0 = time.perf_counter()
        blob, infos = det.preprocess([image])
        t1, c1 = time.perf_counter(), time.thread_time()
        pred = det.infer(blob)
        t2, c2 = time.perf_counter(), time.thread_time()
        det.postprocess(pred, infos, [image])
        t3 = time.perf_counter()
        return {"pre": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "post": (t3 - t2) * 1e3,
                "total": (t3 - t0) * 1e3, "infer CPU": (c2 - c1) * 1e3}
    return call


def noop() -> None:
    pass


def ort_detector(path: Path, threads: int, **options) -> Detector:
    """A Detector whose ORT session is rebuilt with ``options`` on top of the runtime's own
    (``session.*`` keys are session config entries, the rest SessionOptions attributes)."""
    import onnxruntime as ort

    det = Detector(path, backend="onnxruntime", threads=threads)
    so = session_options(threads)
    for key, value in options.items():
        if key.startswith("session."):
            so.add_session_config_entry(key, value)
        else:
            setattr(so, key, value)
    det.backend.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return det


def exp_ort(path: Path, threads: int, image) -> dict[str, Variant]:
    import onnxruntime as ort

    level = ort.GraphOptimizationLevel
    variants = {
        f"runtime default (ALL, sequential, intra={threads}, spinning on)": (threads, {}),
        "spinning off": (threads, {"session.intra_op.allow_spinning": "0"}),
        "intra-op threads 1": (1, {}),
        "graph opt BASIC": (threads, {"graph_optimization_level": level.ORT_ENABLE_BASIC}),
        "graph opt EXTENDED": (threads, {"graph_optimization_level": level.ORT_ENABLE_EXTENDED}),
        "parallel execution, inter 2": (threads, {"execution_mode": ort.ExecutionMode.ORT_PARALLEL,
                                                  "inter_op_num_threads": 2}),
    }
    return {name: (noop, pipeline_call(ort_detector(path, n, **options), image))
            for name, (n, options) in variants.items()}


def exp_opencv(path: Path, threads: int, image) -> dict[str, Variant]:
    out = {}
    for n in sorted({threads, 1}, reverse=True):
        for winograd in (True, False):
            det = Detector(path, backend="opencv", threads=n)
            det.backend.net.enableWinograd(winograd)
            out[f"cv2 threads {n}, winograd {'on' if winograd else 'off'}"] = (
                lambda n=n: cv2.setNumThreads(n), pipeline_call(det, image))
    return out


def exp_torch(model: str, size: int, threads: int, image) -> dict[str, Variant]:
    import torch

    out = {}
    for n in sorted({threads, 1}, reverse=True):
        for mkldnn in (True, False):
            det = Detector(model, backend="torch", img_size=size, threads=n)

            def setup(n=n, mkldnn=mkldnn):
                torch.set_num_threads(n)
                torch.backends.mkldnn.enabled = mkldnn
            out[f"torch threads {n}, oneDNN {'on' if mkldnn else 'off'}"] = (setup, pipeline_call(det, image))
    return out


def fresh_onnx(model: str, size: int, dest: Path, optimize: bool = True) -> Path:
    """``model`` exported now (not the runtime's export cache, which outlives changes to the
    exporter), or copied when it is an .onnx file already."""
    if Path(model).suffix.lower() == ".onnx":
        dest.write_bytes(Path(model).read_bytes())
        return dest
    return export_onnx(load_detector(model), dest, img_size=size, optimize=optimize)


def exp_graph(model: str, size: int, work: Path, threads: int, image) -> dict[str, Variant]:
    """The export as traced (``optimize=False``) against the optimized export; same outputs."""
    plain = fresh_onnx(model, size, work.with_name(work.stem + "-plain.onnx"), optimize=False)
    out = {}
    for label, p in (("plain trace", plain), ("optimized", work)):
        out[f"ORT {label}"] = (noop, pipeline_call(Detector(p, backend="onnxruntime", threads=threads), image))
    for label, p in (("plain trace", plain), ("optimized", work)):
        out[f"OpenCV {label}"] = (lambda: cv2.setNumThreads(threads),
                                  pipeline_call(Detector(p, backend="opencv", threads=threads), image))
    return out


def exp_slim(path: Path, threads: int, image) -> dict[str, Variant]:
    import onnx

    try:
        import onnxslim
    except ImportError:
        print("slim: skipped (pip install onnxslim to run it; it is not a cspdet dependency)")
        return {}

    slim = path.with_name(path.stem + "-slim.onnx")
    model = onnxslim.slim(onnx.load(str(path)))
    model.ClearField("metadata_props")
    model.metadata_props.extend(onnx.load(str(path)).metadata_props)  # the runtime reads names/anchors here
    onnx.save(model, str(slim))
    n_nodes = (len(onnx.load(str(path)).graph.node), len(model.graph.node))
    print(f"onnxslim: {n_nodes[0]} -> {n_nodes[1]} nodes")
    out = {}
    for label, p in (("exported", path), ("onnxslim", slim)):
        out[f"ORT {label}"] = (noop, pipeline_call(Detector(p, backend="onnxruntime", threads=threads), image))
        out[f"OpenCV {label}"] = (lambda: cv2.setNumThreads(threads),
                                  pipeline_call(Detector(p, backend="opencv", threads=threads), image))
    return out


class PreallocatedLetterbox:
    """Letterbox into a reused canvas and blob: resize writes straight into the canvas's
    centre and one numpy pass does BGR->RGB, HWC->CHW and 1/255 into the reused blob."""

    def __init__(self, size: int, pad: int = 114):
        self.size, self.pad = size, pad
        self.canvas = np.full((size, size, 3), pad, np.uint8)
        self.blob = np.empty((1, 3, size, size), np.float32)
        self.shape = None

    def __call__(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        r = min(self.size / h, self.size / w)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        top, left = int(round((self.size - nh) / 2 - 0.1)), int(round((self.size - nw) / 2 - 0.1))
        if self.shape != (h, w):  # a new frame size moves the image: repaint the border
            self.canvas[:] = self.pad
            self.shape = (h, w)
        cv2.resize(img, (nw, nh), dst=self.canvas[top:top + nh, left:left + nw], interpolation=cv2.INTER_LINEAR)
        np.multiply(self.canvas.transpose(2, 0, 1)[::-1], np.float32(1 / 255), out=self.blob[0], casting="unsafe")
        return self.blob


def exp_pre(size: int, image) -> dict[str, Variant]:
    from detector.geometry.letterbox import preprocess

    fast = PreallocatedLetterbox(size)
    ref = preprocess(image, size)[0]
    assert np.array_equal(fast(image), ref), "the preallocated letterbox must give the runtime's blob exactly"

    def timed(fn):
        def call():
            t = time.perf_counter()
            fn()
            return {"pre": (time.perf_counter() - t) * 1e3}
        return call
    return {"runtime preprocess (letterbox + blobFromImages)": (noop, timed(lambda: preprocess(image, size))),
            "preallocated canvas + numpy blob": (noop, timed(lambda: fast(image)))}


def exp_precision(path: Path, size: int, threads: int, image) -> dict[str, Variant]:
    from detector.export import convert_fp16, quantize_int8
    from detector.data.synthetic import make_demo_images

    calib = Path(tempfile.mkdtemp(prefix="cspdet-calib-"))
    make_demo_images(calib, n=32, img_size=(720, 1280), seed=5)
    int8 = quantize_int8(path, path.with_name(path.stem + "-int8.onnx"), calib, n=32)
    fp16 = convert_fp16(path, path.with_name(path.stem + "-fp16.onnx"))
    out = {}
    for label, p in (("FP32", path), ("INT8 QDQ", int8), ("FP16", fp16)):
        out[f"ORT {label}"] = (noop, pipeline_call(Detector(p, backend="onnxruntime", threads=threads), image))
    for label, p in (("FP32", path), ("INT8 QDQ", int8)):
        try:
            det = Detector(p, backend="opencv", threads=threads)
        except Exception as e:  # OpenCV's ONNX importer lacks some quantized patterns
            print(f"OpenCV {label}: cannot load ({' '.join(str(e).split())[:120]})")
            continue
        out[f"OpenCV {label}"] = (lambda: cv2.setNumThreads(threads), pipeline_call(det, image))
    return out


def exp_video(path: Path, threads: int, frames: int = 60) -> dict[str, Variant]:
    """End-to-end video fps (the pipelined loop) against the loop's own inference-only fps."""
    from detector.bench import video_e2e
    from detector.data.synthetic import make_demo_video

    clip = make_demo_video(path.with_name("clip720p.mp4"), n_frames=frames, img_size=(720, 1280), fps=30)
    out = {}
    for label, n, spin in ((f"ORT threads {threads}, spinning on", threads, {"session.intra_op.allow_spinning": "1"}),
                           (f"ORT threads {threads}, spinning off", threads, {"session.intra_op.allow_spinning": "0"}),
                           (f"ORT threads {threads}, spinning 100 us", threads, BOUNDED_SPIN),
                           ("ORT threads 1", 1, {"session.intra_op.allow_spinning": "1"})):
        det = ort_detector(path, n, **spin)

        def run(det=det):
            r = video_e2e(det, clip, frames)
            return {"e2e fps": r["e2e_fps"], "loop inference fps": 1e3 / r["inference_ms"],
                    "e2e / inference": r["e2e_fps"] * r["inference_ms"] / 1e3}
        out[label] = (noop, run)
    return out


def show(title: str, results: dict[str, dict[str, float]]) -> None:
    metrics = list(next(iter(results.values())))
    key = "total" if "total" in metrics else metrics[0]
    first = next(iter(results.values()))[key]
    rows = [[name] + [f"{r[m]:.2f}" for m in metrics] + [f"{100 * (r[key] / first - 1):+.0f}%"]
            for name, r in results.items()]
    print(f"\n{title} (median ms per image)\n" + table(["variant", *metrics, f"{key} vs first"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="csppeleenet-efm-sam")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--calls", type=int, default=3, help="calls per variant per round")
    ap.add_argument("--only", default="graph,ort,opencv,torch,slim,pre,precision,video")
    ap.add_argument("--json", help="write all medians here")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    image = synthetic_frame()
    work = fresh_onnx(args.model, args.size, Path(tempfile.mkdtemp(prefix="cspdet-speed-")) / "model.onnx")
    experiments = {
        "graph": lambda: exp_graph(args.model, args.size, work, args.threads, image),
        "ort": lambda: exp_ort(work, args.threads, image),
        "opencv": lambda: exp_opencv(work, args.threads, image),
        "torch": lambda: exp_torch(args.model, args.size, args.threads, image),
        "slim": lambda: exp_slim(work, args.threads, image),
        "pre": lambda: exp_pre(args.size, image),
        "precision": lambda: exp_precision(work, args.size, args.threads, image),
        "video": lambda: exp_video(work, args.threads),
    }
    load = __import__("os").getloadavg()[0]
    print(f"{args.model} @{args.size}, {args.threads} threads, load average {load:.1f} at start")
    everything = {}
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        variants = experiments[name]()
        if not variants:
            continue
        results = interleaved(variants, args.rounds, args.calls)
        show(name, results)
        everything[name] = results
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()

"""Reproduce the README performance tables in one command, with the speed targets checked.

    python benchmarks/bench_table.py [--runs 56] [--block 8] [--warmup 10] [--threads N]
                                     [--json bench.json] [--plot bench.png] [--quick]

One run measures, in blocks (``--block``: every variant timed in turn, N calls at a time with
the first call dropped, in a new shuffled order each round, so a busy spell of the machine or a
runtime's threads still spinning after its block slow every variant alike):

- EFM(SAM)-CSPPeleeNet at 320 (random weights) in every precision on every backend: f32 on
  torch / ONNX Runtime (also with spinning threads) / OpenCV DNN / OpenVINO; bf16 in torch and
  OpenVINO (``--half``); its float16 ONNX file in ONNX Runtime and OpenCV; its INT8 (QDQ) file,
  calibrated on synthetic 720p frames, in ONNX Runtime, OpenCV and OpenVINO. A runtime not
  installed, or a precision this CPU lacks, is a row with the reason.
- The Darknet baselines in OpenCV's own Darknet importer (the paper's CPU setup): YOLOv3-tiny
  at 416 (the reference of every ratio), YOLOv3-tiny-PRN and YOLOv4-tiny at 320, YOLOv4-tiny at
  416. On OpenCV 5, which has no importer, they run as cspdet's ONNX export of the same cfg and
  weights; the tables name the OpenCV version and the path.
- YOLOv4-tiny-416 (the same random weights of yolov4-tiny.cfg) through cspdet's ONNX export on
  ONNX Runtime, OpenCV and OpenVINO, and whether its boxes equal the importer's.
- YOLOv7-tiny beside YOLOv4-tiny at 416 and 640 on every backend and precision, with the COCO
  AP / AP50 their authors published (``tiny_rows.py``; ``--no-tiny`` leaves them out).
- The paper's CSP vs plain backbone pairs as ImageNet classifiers (PeleeNet-family at 224,
  Darknet53 pair at 256, both leaky: the sizes the paper's FLOP ratios 0.87 and 0.70 are
  counted at), and the end-to-end video pipeline on a synthetic 720p clip.

Each reduced-precision row carries its AP50 change on the trained shapes model
(``weights/cspdet-shapes.pt``, 200 validation images at 128, ``cspdet val`` of the same file or
flag on the same backend against its f32). Prints Markdown tables and each target as measured /
target / PASS or MISS. Needs the Darknet cfgs in $CSPDET_SHARED/darknet (default ../shared).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from detector.bench import BenchConfig, parse_baseline, parse_model, plot, print_report, run_bench
from detector.bench.report import baseline_runtime, table
from detector.bench.specs import ModelSpec
from detector.data.synthetic import make_demo_video
from detector.io.files import write_bytes

REPO = Path(__file__).resolve().parents[1]
SHAPES = REPO / "weights" / "cspdet-shapes.pt"
DETECTOR = "csppeleenet-efm-sam@320"
F32_BACKENDS = ["torch", "onnxruntime", "onnxruntime-spin", "opencv", "openvino"]
HALF_FLAGS = ["torch-half", "openvino-half"]  # --half on the f32 model
# CSPDarknet53 defaults to Mish (YOLOv4's); the pair runs it with Darknet53's leaky ReLU so the
# latency ratio measures the cross-stage structure, not Mish's three element-wise ops per conv.
PAIRS = [("classifier:csppeleenet@224", "classifier:peleenet@224", "CSPPeleeNet / PeleeNet"),
         ("classifier:cspdarknet53?act=leaky@256", "classifier:darknet53@256", "CSPDarknet53 / Darknet53")]
PAIR_BACKENDS = ["torch", "onnxruntime", "opencv", "openvino"]
V4TINY_CFG, V4TINY_SIZE = "yolov4-tiny", 416
BASELINES = ["darknet:yolov3-tiny@416", "darknet:yolov3-tiny-prn@320", "darknet:yolov4-tiny@320",
             f"darknet:{V4TINY_CFG}@{V4TINY_SIZE}"]
REFERENCE = "darknet:yolov3-tiny@416"
ONNX_BACKENDS = ["onnxruntime", "opencv", "openvino"]
# The goals: f32 and reduced-precision ratios to YOLOv3-tiny-416 in cv2.dnn, the
# reduced-precision AP50 budget, and cspdet's YOLOv4-tiny-416 against OpenCV's importer.
F32_RATIO, PROJECT_RATIO, LOW_RATIO, AP50_BUDGET, V4TINY_RATIO = 2.8, 3.0, 4.5, 0.01, 2.0
ROOF_SHARE, VIDEO_SHARE = 0.70, 0.90
# backend, precision -> (bench backend, which file); None: not offered, with the reason.
PRECISIONS = {
    ("torch", "f32"): ("torch", "f32"), ("torch", "bf16"): ("torch-half", "f32"),
    ("torch", "INT8"): "PyTorch runs the .pt; the INT8 QDQ file is ONNX (onnxruntime, opencv, openvino run it)",
    ("onnxruntime", "f32"): ("onnxruntime", "f32"), ("onnxruntime", "f16"): ("onnxruntime", "f16"),
    ("onnxruntime", "INT8"): ("onnxruntime", "int8"),
    ("opencv", "f32"): ("opencv", "f32"), ("opencv", "f16"): ("opencv", "f16"),
    ("opencv", "INT8"): ("opencv", "int8"),
    ("openvino", "f32"): ("openvino", "f32"), ("openvino", "bf16"): ("openvino-half", "f32"),
    ("openvino", "INT8"): ("openvino", "int8"),
}
NOTES = {("onnxruntime", "f16"): "no bf16 CPU kernels; its f16 convs add casts on x86",
         ("opencv", "f16"): "OpenCV 4.x reads no float16 Conv weights, and its CPU FP16 target is ARMv8-only",
         ("openvino", "bf16"): "--half: the CPU's bf16 (else f16) hint",
         ("torch", "bf16"): "--half: oneDNN bf16 (AVX512-BF16 / AMX)"}


def tiny_rows():
    """benchmarks/tiny_rows.py, loaded by path (this script is run, or loaded by path by the tests)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_tiny_rows", Path(__file__).with_name("tiny_rows.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def detector_files(tmp: Path) -> dict[str, str]:
    """The detector's f32 ONNX export and its f16 and INT8 copies (as MODEL arguments)."""
    from detector.data.synthetic import make_demo_images
    from detector.export import convert_fp16, quantize_int8
    from detector.runtime.backends.base import ensure_onnx

    spec = parse_model(DETECTOR)
    calib = tmp / "calib"
    make_demo_images(calib, n=32, img_size=(720, 1280), seed=1)
    fp32 = ensure_onnx(spec.source, img_size=spec.size)
    return {"f16": str(convert_fp16(fp32, tmp / f"{spec.source}-f16.onnx")),
            "int8": str(quantize_int8(fp32, tmp / f"{spec.source}-int8.onnx", calib, n=32))}


def v4tiny_onnx() -> str:
    """cspdet's ONNX export of yolov4-tiny.cfg with the bench's random weights (the baseline's)."""
    from detector.bench.artifacts import darknet_weights
    from detector.runtime.backends.base import ensure_onnx

    cfg = parse_baseline(f"darknet:{V4TINY_CFG}").source
    return str(ensure_onnx(darknet_weights(cfg), cfg=cfg, img_size=V4TINY_SIZE))


def shapes_ap50(tmp: Path, n_val: int = 200) -> dict[tuple[str, str], float | str]:
    """(backend, precision) -> AP50 of the trained shapes model on ``n_val`` validation images,
    or why it could not run."""
    from detector.bench.runners import resolve
    from detector.cli import main
    from detector.data.synthetic import make_synthetic_dataset
    from detector.export import convert_fp16, export_onnx, quantize_int8
    from detector.models.loading import load_detector

    data = make_synthetic_dataset(tmp / "shapes", n_train=32, n_val=n_val, img_size=128, seed=0,
                                  objects=(2, 5), sizes=(22, 100))  # weights/README.md's cspdet synth
    files = {"f32": export_onnx(load_detector(SHAPES), tmp / "shapes-f32.onnx", 128, opset=13)}
    files["f16"] = convert_fp16(files["f32"], tmp / "shapes-f16.onnx")
    files["int8"] = quantize_int8(files["f32"], tmp / "shapes-int8.onnx", tmp / "shapes" / "images" / "train", n=32)
    out = {}
    for (backend, precision), how in PRECISIONS.items():
        if isinstance(how, str):
            continue
        bench_backend, file = how
        runtime, options = resolve(bench_backend)
        weights = SHAPES if runtime == "torch" else files[file]
        name = f"{backend}-{precision}"
        argv = ["val", "--weights", str(weights), "--data", str(data), "--img-size", "128", "--backend", runtime,
                "--project", str(tmp / "val"), "--name", name, *(["--half"] if options.get("half") else [])]
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = main(argv)
        metrics = tmp / "val" / name / "metrics.json"
        out[backend, precision] = (json.loads(metrics.read_text())["AP50"] if code == 0 and metrics.is_file()
                                   else (log.getvalue().strip().splitlines() or ["failed"])[-1])
    return out


def confident_weights(out: Path) -> Path:
    """yolov4-tiny.cfg with random weights whose heads are biased towards one class per anchor,
    so that hundreds of boxes clear the 0.25 threshold (the bench's random weights give about
    none, and OpenCV's Region layer zeroes every class score under 0.2)."""
    import torch

    from detector.bench.artifacts import random_init, yolo_prior
    from detector.darknet import DarknetModel, save_weights

    model = DarknetModel(parse_baseline(f"darknet:{V4TINY_CFG}").source)
    x = torch.rand(1, model.in_channels, *model.input_size, generator=torch.Generator().manual_seed(0))
    random_init(model, x, 0)
    yolo_prior(model, x)
    with torch.no_grad():
        for y in model.yolo:
            b = model.blocks[model.layers[y.index].sources[0]][0].bias.view(y.num_anchors, 5 + y.classes)
            b[:, 4] = -2.5
            b[:, 5:] = -4.0
            for a in range(y.num_anchors):
                b[a, 5 + (7 * a + y.index) % y.classes] = 1.5
    save_weights(model, out)
    return out


def same_boxes(backend: str, threads: int | None, images: list[np.ndarray], tmp: Path) -> dict:
    """cspdet's YOLOv4-tiny-416 (its ONNX export, on ``backend``) against OpenCV's Darknet
    importer on the same cfg and weights, image by image after the same NMS: every box matched
    one to one (corners within 0.1 px + 0.1% of its size, the same class), and the largest score gap."""
    from detector.bench.runners import DarknetRunner
    from detector.runtime.backends.base import ensure_onnx
    from detector.runtime.predictor import Detector

    cfg = parse_baseline(f"darknet:{V4TINY_CFG}@{V4TINY_SIZE}")
    weights = confident_weights(tmp / f"{V4TINY_CFG}-confident.weights")
    ref = DarknetRunner(cfg, "opencv-darknet", V4TINY_SIZE, 1, threads, weights=str(weights))
    det = Detector(ensure_onnx(weights, cfg=cfg.source, img_size=V4TINY_SIZE), backend=backend, threads=threads)
    conf = det.nms["conf_thres"]
    boxes = matched = boundary = 0
    gap = 0.0
    for img in images:
        blob, infos = ref.preprocess([img])
        a = ref.detections(ref.infer(blob), infos)[0]
        b = det.postprocess(det.infer(blob), infos, [img])[0]
        boxes += max(len(a.scores), len(b.scores))
        # corners within 0.1 px + 0.1% of the box's size, same class. Not IoU: boxes clipped to
        # zero height at an edge have none. Random weights make boxes of 1000 px, where float32
        # exp() in two runtimes differs by a few tenths of a pixel.
        size = np.maximum(a.boxes[:, 2] - a.boxes[:, 0], a.boxes[:, 3] - a.boxes[:, 1])
        dist = np.abs(a.boxes[:, None, :] - b.xyxy[None, :, :]).max(-1) - 1e-3 * size[:, None]
        dist[a.class_ids[:, None] != b.class_ids[None, :]] = np.inf
        free = np.ones(len(b.scores), bool)
        unmatched_a = []
        for i in np.argsort(-a.scores):  # one to one, best score first
            cand = np.where(free & (dist[i] <= 0.1))[0]
            if len(cand):
                k = cand[dist[i, cand].argmin()]
                free[k] = False
                matched += 1
                gap = max(gap, abs(float(a.scores[i]) - float(b.scores[k])))
            else:
                unmatched_a.append(float(a.scores[i]))
        left = [*unmatched_a, *b.scores[free]]
        # a score within 1e-3 of the threshold lands on either side through float32 rounding
        boundary += sum(abs(float(s) - conf) < 1e-3 for s in left)
    return {"images": len(images), "boxes": boxes, "matched": matched, "boundary": boundary,
            "max_score_gap": gap, "same": boxes > 0 and matched + boundary >= boxes and gap <= 1e-3}


def sample_images() -> list[np.ndarray]:
    """The bench's synthetic 720p frame and up to 8 coco128 images, if the shared data is here."""
    import os

    from detector.bench import synthetic_frame
    from detector.io.images import list_images, read_image

    images = [synthetic_frame()]
    coco = Path(os.environ.get("CSPDET_SHARED", REPO.parent / "shared")) / "data" / "coco128" / "images"
    if coco.is_dir():
        images += [read_image(p) for p in list_images(str(coco), recursive=True)[:8]]
    return images


def find(report, model: str, backend: str):
    return next((r for r in report.rows if r.model == model and r.backend == backend), None)


def precision_rows(report, labels: dict[str, str], ap50: dict) -> list[dict]:
    """One entry per backend x precision: the measured row (or the reason there is none) and its
    AP50 change against the same backend's f32 on the shapes model."""
    ref = find(report, REFERENCE, "opencv-darknet")
    skipped = {(s["model"], s["backend"]): s["reason"] for s in report.skipped}
    out = []
    for (backend, precision), how in PRECISIONS.items():
        entry = {"backend": backend, "precision": precision, "note": NOTES.get((backend, precision), "")}
        if isinstance(how, str):
            entry["reason"] = how
            out.append(entry)
            continue
        bench_backend, file = how
        row = find(report, labels[file], bench_backend)
        if row is None:
            entry["reason"] = skipped.get((labels[file], bench_backend), "not measured")
        else:
            entry.update(row=row, ratio=row.fps / ref.fps if ref else None)
        base, got = ap50.get((backend, "f32")), ap50.get((backend, precision))
        if isinstance(base, float) and isinstance(got, float):
            entry["ap50"], entry["ap50_change"] = got, got - base
        elif isinstance(got, str):
            entry["ap50_error"] = got
        out.append(entry)
    return out


def short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def precision_table(entries: list[dict]) -> str:
    body = []
    for e in entries:
        r = e.get("row")
        change = (f"{e['ap50_change']:+.4f} (AP50 {e['ap50']:.4f})" if "ap50_change" in e and e["precision"] != "f32"
                  else f"AP50 {e['ap50']:.4f}" if "ap50" in e else "–" if "reason" in e else short(e.get("ap50_error", "–")))
        if r is None:
            body.append([e["backend"], e["precision"], "–", "–", "–", "–", change,
                         e["note"] or short(e.get("reason", ""))])
        else:
            body.append([e["backend"], e["precision"], f"{r.inference.median:.1f}", f"{r.total.median:.1f}",
                         f"{r.fps:.1f}", f"{e['ratio']:.2f}x" if e.get("ratio") else "–", change, e["note"]])
    return table(["backend", "precision", "infer ms", "total ms", "fps", "vs YOLOv3-tiny-416",
                  "AP50 change (shapes model)", "note"], body)


def performance_table(report, labels: dict[str, str]) -> str:
    ref = find(report, REFERENCE, "opencv-darknet")
    rows = [r for r in report.rows if r.model in labels.values() or r.model.startswith("cspdet:")
            or r.kind == "darknet"]
    body = [[r.model.replace("darknet:", ""), r.size,
             baseline_runtime(r, report.machine) if r.kind == "darknet" else r.backend,
             f"{r.gflops:.2f}" if r.gflops else "–", f"{r.inference.median:.1f}", f"{r.total.median:.1f}",
             f"{r.fps:.1f}",
             f"{r.achieved_gflops_s:.1f} ({100 * r.roofline_ratio:.0f}%)" if r.roofline_ratio else "–",
             f"{r.fps / ref.fps:.2f}x"] for r in rows]
    return table(["model", "input", "runtime", "GFLOPs", "infer ms", "total ms", "fps",
                  "GFLOP/s (% of conv roofline)", "vs YOLOv3-tiny-416"], body)


def pair_rows(report) -> list[tuple[str, str, float, float]]:
    """(pair name, backend, latency ratio, FLOP ratio) for every backend both members ran on."""
    out = []
    for csp, plain, name in PAIRS:
        a, b = parse_model(csp).label, parse_model(plain).label
        for backend in PAIR_BACKENDS:
            ra, rb = find(report, a, backend), find(report, b, backend)
            if ra and rb:
                out.append((name, backend, ra.inference.median / rb.inference.median, ra.gflops / rb.gflops))
    return out


def targets(report, entries: list[dict], boxes: dict | None, v4_label: str) -> list[list[str]]:
    ref = find(report, REFERENCE, "opencv-darknet")
    base = baseline_runtime(ref, report.machine)
    lines = []
    f32 = [e for e in entries if e["precision"] == "f32" and "row" in e]
    spin = [r for r in report.rows if r.model == parse_model(DETECTOR).label and r.backend == "onnxruntime-spin"]
    f32_rows = [e["row"] for e in f32] + spin
    if f32_rows:
        best = max(f32_rows, key=lambda r: r.fps)
        ratio = best.fps / ref.fps
        lines.append([f"best f32 backend ({best.backend}) / YOLOv3-tiny-416 in {base}", f"{ratio:.2f}x",
                      f">= {F32_RATIO:.1f}x (project: {PROJECT_RATIO:.1f}x)",
                      f"{verdict(ratio >= F32_RATIO)} / {verdict(ratio >= PROJECT_RATIO)}"])
    low = [e for e in entries if e["precision"] != "f32" and "row" in e]
    within = [e for e in low if abs(e.get("ap50_change", np.inf)) <= AP50_BUDGET]
    if low:
        best = max(within or low, key=lambda e: e["row"].fps)
        change = f"{best['ap50_change']:+.4f}" if "ap50_change" in best else "unmeasured"
        lines.append([f"best reduced precision with |AP50 change| <= {AP50_BUDGET} ({best['backend']} "
                      f"{best['precision']}, change {change})", f"{best['ratio']:.2f}x", f">= {LOW_RATIO:.1f}x",
                      verdict(bool(within) and best["ratio"] >= LOW_RATIO)])
    v4_ref = find(report, f"darknet:{V4TINY_CFG}@{V4TINY_SIZE}", "opencv-darknet")
    v4 = [r for r in report.rows if r.model == v4_label]
    if v4_ref and v4:
        best = max(v4, key=lambda r: r.fps)
        same = boxes is not None and boxes["same"]
        detail = (f"{boxes['matched']}/{boxes['boxes']} boxes equal on {boxes['images']} images "
                  f"({boxes['boundary']} at the threshold), score gap {boxes['max_score_gap']:.1e}"
                  if boxes else "boxes not compared")
        lines.append([f"YOLOv4-tiny-416 in cspdet ({best.backend}) / OpenCV's own Darknet importer ({detail})",
                      f"{best.fps / v4_ref.fps:.2f}x", f">= {V4TINY_RATIO:.1f}x, same boxes",
                      verdict(best.fps / v4_ref.fps >= V4TINY_RATIO and same)])
    for e in f32:
        r = e["row"]
        if r.roofline_ratio:
            lines.append([f"achieved / single-conv GFLOP/s on {r.backend}", f"{100 * r.roofline_ratio:.1f}%",
                          f">= {100 * ROOF_SHARE:.0f}%", verdict(r.roofline_ratio >= ROOF_SHARE)])
    for e in f32:
        r = e["row"]
        if r.video:
            lines.append([f"video end-to-end ({r.video['streams']} streams) / pure inference fps on {r.backend}",
                          f"{100 * r.video['ratio']:.1f}%", f">= {100 * VIDEO_SHARE:.0f}%",
                          verdict(r.video["ratio"] >= VIDEO_SHARE)])
    for name, backend, lat, flops in pair_rows(report):
        lines.append([f"{name} inference latency ratio on {backend}", f"{lat:.2f}", f"<= {flops:.2f} (FLOP ratio)",
                      verdict(lat <= flops)])
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=56, help="timed calls per variant (7 blocks of 8)")
    ap.add_argument("--block", type=int, default=8, help="calls per block, the first dropped (0: back to back)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="default: physical cores")
    ap.add_argument("--video-frames", type=int, default=150)
    ap.add_argument("--video-streams", type=int, default=2, help="frames inferred at once in the video pipeline")
    ap.add_argument("--json", default="bench_table.json")
    ap.add_argument("--plot", default="bench_table.png")
    ap.add_argument("--ap-images", type=int, default=200, help="shapes-model validation images for the AP50 changes")
    ap.add_argument("--no-ap", action="store_true", help="skip the AP50 changes on the shapes model")
    ap.add_argument("--no-tiny", action="store_true", help="leave out the YOLOv7-tiny / YOLOv4-tiny rows")
    ap.add_argument("--quick", action="store_true", help="14 runs, 2 warm-up, 30 video frames, 16 AP images: a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.warmup, args.video_frames, args.ap_images = 14, 2, 30, 16
    with tempfile.TemporaryDirectory(prefix="cspdet-bench-table-") as tmp:
        tmp = Path(tmp)
        ap50 = {} if args.no_ap or not SHAPES.is_file() else shapes_ap50(tmp, args.ap_images)
        video = make_demo_video(tmp / "clip720p.mp4", n_frames=args.video_frames, img_size=(720, 1280), fps=30)
        files = detector_files(tmp)
        det = parse_model(DETECTOR)
        models = {"f32": det, **{k: parse_model(v) for k, v in files.items()}}
        labels = {k: m.label for k, m in models.items()}
        v4 = ModelSpec("onnx", v4tiny_onnx(), f"cspdet:{V4TINY_CFG}@{V4TINY_SIZE}", V4TINY_SIZE)
        pairs = [parse_model(m) for pair in PAIRS for m in pair[:2]]
        backends_for = {labels["f16"]: ["onnxruntime", "opencv"], labels["int8"]: ONNX_BACKENDS,
                        v4.label: ONNX_BACKENDS, **{p.label: PAIR_BACKENDS for p in pairs}}
        tiny, tiny_baselines = [], []
        if not args.no_tiny:
            # --quick: YOLOv7-tiny at 416 only (YOLOv4-tiny-416 runs as the baselines above), 8 calibration images
            quick = dict(sizes=(416,), names=("yolov7-tiny",), calib_n=8) if args.quick else {}
            tiny, tiny_baselines, tiny_backends = tiny_rows().tiny_models(tmp, tmp / "calib", **quick)
            backends_for.update(tiny_backends)
        baselines = [parse_baseline(b) for b in BASELINES]
        baselines += [b for b in tiny_baselines if b.label not in {x.label for x in baselines}]
        cfg = BenchConfig(models=[*models.values(), v4, *pairs, *tiny], baselines=baselines,
                          backends=F32_BACKENDS + HALF_FLAGS, backends_for=backends_for, threads=args.threads,
                          runs=args.runs, warmup=args.warmup, block=args.block, video=video,
                          video_frames=args.video_frames, video_streams=args.video_streams)
        report = run_bench(cfg)
        v4_rows = [r for r in report.rows if r.model == v4.label]
        best_v4 = max(v4_rows, key=lambda r: r.fps).backend if v4_rows else None
        boxes = same_boxes(best_v4, report.settings["threads"], sample_images(), tmp) if best_v4 else None
    entries = precision_rows(report, labels, ap50)
    print_report(report)
    how = (f"blocks of {args.block} calls, the first dropped, variants in a new shuffled order each round"
           if args.block else "each variant's runs back to back")
    print(f"\nMeasured in {how}; {args.runs} timed calls per variant, one process, {report.settings['threads']} "
          f"threads.")
    print("\n## Precision x backend (EFM(SAM)-CSPPeleeNet-320)\n\n" + precision_table(entries))
    print("\n## Performance (CPU)\n\n" + performance_table(report, labels))
    if not args.no_tiny:
        print("\n## YOLOv7-tiny and YOLOv4-tiny, every backend and precision (random weights)\n\n"
              + tiny_rows().tiny_table(report))
    print("\n## Targets\n\n" + table(["target", "measured", "target", "result"], targets(report, entries, boxes, v4.label)))
    extra = {"precisions": [{k: v for k, v in e.items() if k != "row"} | ({"fps": e["row"].fps} if "row" in e else {})
                            for e in entries], "yolov4_tiny_boxes": boxes}
    path = Path(args.json)
    write_bytes(path, json.dumps({**report.to_dict(), **extra}, indent=1, default=str).encode())
    print(f"\nsaved {path}")
    print(f"saved {plot(report, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``cspdet bench``: latency and fps of models on torch / ONNX Runtime / OpenCV DNN, beside the
paper's Darknet baselines in OpenCV and each backend's single-conv roofline."""
from __future__ import annotations

from pathlib import Path

from ..runtime.backends import BENCH_BACKENDS, BENCH_CHOICES
from .argtypes import img_size, nonnegative_int, positive_int, probability


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure latency/fps per backend beside Darknet baselines",
        description="Time pre-processing (letterbox of a 720p frame), inference and post-processing (NMS at "
                    "--conf-thres) for every MODEL x backend x size, with GFLOPs, achieved GFLOP/s and each "
                    "backend's roofline (one 128->128 3x3 conv at 80x80).",
        epilog="MODEL: a config name/YAML, .pt, .onnx, Darknet .cfg (random weights), an official model by name "
               "(cspdet models), classifier:NAME or "
               "backbone:NAME (a bare backbone); MODEL@SIZE pins its size. "
               "Example: cspdet bench csppeleenet-efm-sam --img-size 320 --baseline darknet:yolov3-tiny@416")
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to measure (see below)")
    p.add_argument("--backends", default=",".join(BENCH_BACKENDS),
                   help=f"comma-separated, from {', '.join(BENCH_CHOICES)} (onnxruntime-spin: ONNX Runtime with "
                        "busy-waiting worker threads, as --spin in detect; openvino-half: OpenVINO in bf16/f16, "
                        "torch-half: PyTorch in bf16, as --half)")
    p.add_argument("--img-size", "--imgsz", "--img", type=img_size, nargs="+", metavar="N", help="input sizes (default: each model's own)")
    p.add_argument("--batch", type=positive_int, default=1, help="images per inference call (times are per image)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for every library (default: physical cores)")
    p.add_argument("--runs", type=positive_int, default=50, help="timed passes per combination")
    p.add_argument("--warmup", type=nonnegative_int, default=10, help="untimed passes first")
    p.add_argument("--block", type=nonnegative_int, default=0, metavar="N",
                   help="time the combinations in turn, N passes each with the first dropped, in a shuffled order "
                        "each round, so every one meets the same machine (0: each combination's runs back to back)")
    p.add_argument("--image", default=None, help="BGR image to letterbox (default: a synthetic 1280x720 frame)")
    p.add_argument("--conf-thres", type=probability, default=0.25, help="score threshold of the timed NMS")
    p.add_argument("--baseline", action="append", default=[], metavar="darknet:CFG[@SIZE]",
                   help="a Darknet cfg (path or name in $CSPDET_SHARED/darknet) run in OpenCV DNN with random "
                        "weights: by OpenCV's Darknet importer, or on OpenCV 5 (which has none) as "
                        "cspdet's ONNX export; repeatable")
    p.add_argument("--video", default=None, help="also time the end-to-end video pipeline on this file")
    p.add_argument("--video-frames", type=positive_int, default=100, help="frames of --video to run (default 100)")
    p.add_argument("--video-streams", type=positive_int, default=1, help="frames inferred at once in the --video pipeline, "
                                                                 "as detect --streams (default 1)")
    p.add_argument("--energy", action="store_true",
                   help="also report joules per image from RAPL (/sys/class/powercap) or a Jetson's tegrastats "
                        "VDD_IN, and process CPU-seconds per image ('energy: n/a (no power counters)' elsewhere)")
    p.add_argument("--json", metavar="FILE", help="write every number and the machine facts as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="save fps and GFLOP/s bar charts")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _positive(name: str, value: int | None, minimum: int = 1) -> None:
    from . import CLIError

    if value is not None and value < minimum:
        raise CLIError(f"{name} must be at least {minimum}, got {value}")


def build_config(args):
    """Parsed arguments -> BenchConfig, refusing bad ones with one-line errors."""
    from ..bench import BenchConfig, parse_baseline, parse_model
    from ..io.images import read_image
    from . import CLIError

    if not args.models and not args.baseline:
        raise CLIError("give at least one MODEL or --baseline darknet:CFG")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BENCH_CHOICES]
    if unknown or not backends:
        raise CLIError(f"--backends {args.backends}: choose from {', '.join(BENCH_CHOICES)}")
    for name, value, low in (("--batch", args.batch, 1), ("--threads", args.threads, 1), ("--runs", args.runs, 1),
                             ("--warmup", args.warmup, 0), ("--video-frames", args.video_frames, 1),
                             ("--video-streams", args.video_streams, 1)):
        _positive(name, value, low)
    for size in args.img_size or []:
        _positive("--img-size", size, 32)
    if args.video is not None:
        if not Path(args.video).is_file():
            raise FileNotFoundError(f"--video {args.video}: no such file")
        if args.batch != 1:
            raise CLIError("--video runs frames one at a time; drop --batch or run it separately")
    if args.block == 1:
        raise CLIError("--block 1 would drop every pass (the first of each block is dropped); use 2 or more, or 0")
    if not 0 <= args.conf_thres <= 1:
        raise CLIError(f"--conf-thres must lie in [0, 1], got {args.conf_thres}")
    return BenchConfig(
        models=[parse_model(m) for m in args.models], baselines=[parse_baseline(b) for b in args.baseline],
        backends=list(dict.fromkeys(backends)), sizes=list(args.img_size or [None]), batch=args.batch,
        threads=args.threads, runs=args.runs, warmup=args.warmup,
        image=read_image(args.image) if args.image else None, video=Path(args.video) if args.video else None,
        video_frames=args.video_frames, video_streams=args.video_streams, conf_thres=args.conf_thres,
        block=args.block, energy=args.energy)


def run(args) -> int:
    from ..bench import plot, print_report, run_bench, write_json

    report = run_bench(build_config(args), progress=not args.no_progress)
    print_report(report)
    if args.json:
        print(f"saved {write_json(report, args.json)}")
    if args.plot and report.rows:
        print(f"saved {plot(report, args.plot)}")
    return 0 if report.rows else 1

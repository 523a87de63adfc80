"""Flags several subcommands share, and the bundled defaults."""
from __future__ import annotations

from pathlib import Path

from ..resources import default_weights_path, demo_media_dir
from ..runtime.backends import BACKENDS
from .argtypes import img_size, nonnegative_int, positive_int, probability

DEFAULT_WEIGHTS = default_weights_path()
DEFAULT_SOURCE = demo_media_dir()
FALLBACK_MODEL = "csppeleenet-efm-sam"


def default_weights() -> str:
    """The bundled trained model; a seeded random EFM(SAM)-CSPPeleeNet if it is missing."""
    if DEFAULT_WEIGHTS.is_file():
        return str(DEFAULT_WEIGHTS)
    print(f"note: {DEFAULT_WEIGHTS} not found; using a randomly initialised {FALLBACK_MODEL} "
          "(boxes will be meaningless)")
    return FALLBACK_MODEL


def default_source() -> Path:
    if not DEFAULT_SOURCE.is_dir():
        raise FileNotFoundError(f"--source not given and the demo media folder {DEFAULT_SOURCE} is missing")
    return DEFAULT_SOURCE


def add_model_args(p) -> None:
    p.add_argument("--weights", default=None,
                   help="model: .pt, .onnx, OpenVINO .xml, .engine, a config YAML/name (random weights), Darknet "
                        ".cfg/.weights, or an official model by name (cspdet models; downloaded on first "
                        "use) (default: the bundled weights/cspdet-shapes.pt)")
    p.add_argument("--cfg", default=None, help="Darknet .cfg to go with --weights X.weights")
    p.add_argument("--backend", choices=list(BACKENDS),
                   help="runtime (default: from the --weights suffix; .pt/.yaml/.cfg -> torch, .onnx -> onnxruntime, "
                        ".xml -> openvino)")
    add_device_arg(p)
    p.add_argument("--img-size", "--imgsz", "--img", type=img_size, default=None, help="inference size (default: the model's)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    p.add_argument("--half", action="store_true",
                   help="FP16 inference on CUDA; bf16 on the CPU in torch, bf16 (else f16) in OpenVINO, "
                        "where the CPU runs it")
    p.add_argument("--spin", action="store_true",
                   help="ONNX Runtime: worker threads busy-wait between ops (lower latency on an otherwise idle "
                        "CPU; off by default because it starves other work on shared cores)")


def add_device_arg(p) -> None:
    p.add_argument("--device", default="", help="'' (default: CUDA when the runtime has it, else CPU), cpu, 0, "
                                                "0,1 or cuda:N; gpu or gpu.N on OpenVINO")


def add_nms_args(p) -> None:
    p.add_argument("--conf-thres", type=probability, default=0.25, help="score threshold (objectness x class)")
    p.add_argument("--iou-thres", type=probability, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=positive_int, default=300, help="maximum detections per image")
    p.add_argument("--classes", type=nonnegative_int, nargs="+", default=None, help="keep only these class ids")
    p.add_argument("--agnostic-nms", action="store_true", help="NMS across classes")


def detector_kwargs(args) -> dict:
    return dict(backend=args.backend, device=args.device, img_size=args.img_size, threads=args.threads,
                cfg=args.cfg, half=args.half, spin=args.spin, conf_thres=args.conf_thres, iou_thres=args.iou_thres,
                max_det=args.max_det, classes=args.classes, agnostic=args.agnostic_nms)

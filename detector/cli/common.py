"""Flags several subcommands share, and the bundled defaults."""
from __future__ import annotations

from ..resources import default_model as default_weights  # noqa: F401  (the subcommands' default --weights)
from ..runtime.backends import AUTO, BACKENDS
from .argtypes import class_id_or_name, img_size, positive_int, probability

DEFAULT_SOURCE = "demo-images"  # resources.DEMO_SOURCES: the bundled still images


def add_model_args(p) -> None:
    p.add_argument("--weights", default=None,
                   help="model: .pt, .onnx, OpenVINO .xml, .engine, a config YAML/name (random weights), Darknet "
                        ".cfg/.weights, or an official model by name (cspdet models; downloaded on first "
                        "use) (default: the bundled weights/cspdet-shapes.pt)")
    p.add_argument("--cfg", default=None, help="Darknet .cfg to go with --weights X.weights")
    p.add_argument("--backend", choices=[AUTO, *BACKENDS], default=AUTO,
                   help="runtime. auto: .onnx -> onnxruntime, .xml -> openvino, .engine -> tensorrt; a model PyTorch "
                        "runs (.pt, .yaml, .cfg/.weights, names) -> on CUDA torch, on a CPU the fastest exact runtime "
                        "installed (openvino, else onnxruntime, else torch; exported once to $CSPDET_HOME/cache/"
                        "exports; $CSPDET_AUTO_ORDER reorders). torch: PyTorch as before")
    add_device_arg(p)
    p.add_argument("--img-size", "--imgsz", "--img", type=img_size, default=None, help="inference size (default: the model's)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    p.add_argument("--half", action="store_true",
                   help="FP16 inference on CUDA; bf16 on the CPU in torch, bf16 (else f16) in OpenVINO, "
                        "where the CPU runs it")
    p.add_argument("--spin", action="store_true",
                   help="worker threads busy-wait between ops (ONNX Runtime, PyTorch; OpenVINO and OpenCV have no "
                        "switch): lower latency on an otherwise idle CPU, off by default because it starves other "
                        "work on shared cores")


def add_device_arg(p) -> None:
    p.add_argument("--device", default="", help="'' (default: CUDA when the runtime has it, else CPU), cpu, 0, "
                                                "0,1 or cuda:N; gpu or gpu.N on OpenVINO")


def add_nms_args(p) -> None:
    p.add_argument("--conf-thres", type=probability, default=0.25, help="score threshold (objectness x class)")
    p.add_argument("--iou-thres", type=probability, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=positive_int, default=300, help="maximum detections per image")
    p.add_argument("--classes", type=class_id_or_name, nargs="+", default=None,
                   help="keep only these classes: ids or names (0 2, or circle cross)")
    p.add_argument("--agnostic-nms", action="store_true", help="NMS across classes")


def detector_kwargs(args) -> dict:
    return dict(backend=args.backend, device=args.device, img_size=args.img_size, threads=args.threads,
                cfg=args.cfg, half=args.half, spin=args.spin, conf_thres=args.conf_thres, iou_thres=args.iou_thres,
                max_det=args.max_det, classes=args.classes, agnostic=args.agnostic_nms,
                augment=getattr(args, "augment", False),
                dynamic=bool(getattr(args, "adaptive_size", None)))  # auto: an export that takes the small size too

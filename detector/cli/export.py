"""``cspdet export``: a model -> an ONNX file for ONNX Runtime, OpenCV DNN, TensorRT or a Jetson, and
from it, as yolov5's ``--include``, an OpenVINO IR or a TensorRT engine."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

from .argtypes import img_size, positive_int

DEFAULT_OPSET = 12
INT8_OPSET = 13  # per-channel DequantizeLinear (its ``axis``) needs opset 13
MODEL_SUFFIXES = (".pt", ".yaml", ".yml", ".cfg", ".weights")
FORMATS = ("onnx", "openvino", "engine")


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (optionally checked for a Jetson TX2)",
                       description="Export a model to one ONNX file with its class names, anchors and "
                                   "letterbox settings in the metadata. Never overwrites without --force.")
    p.add_argument("--weights", default=None,
                   help="a cspdet .pt, a config YAML or name (random weights, for benchmarking), a Darknet "
                        ".cfg, Darknet .weights with --cfg, or an official model by name (cspdet models) "
                        "(default: the bundled weights)")
    p.add_argument("--cfg", default=None, help="Darknet .cfg: alone (random weights) or with --weights X.weights")
    p.add_argument("--img-size", "--imgsz", "--img", type=img_size, nargs="+", metavar="N",
                   help="input size N or H W (default: the model's)")
    p.add_argument("--opset", type=int, choices=[11, 12, 13], default=None,
                   help=f"ONNX opset (default {DEFAULT_OPSET}; 11 with --target jetson; 13 with --int8)")
    p.add_argument("--batch", type=positive_int, default=1, help="static batch size (default 1)")
    p.add_argument("--dynamic", action="store_true", help="free batch, height and width (ONNX Runtime only)")
    p.add_argument("--raw", action="store_true",
                   help="output the raw head maps raw0, raw1.. instead of decoded [B, N, 5 + nc] rows")
    p.add_argument("--target", choices=["jetson"], default=None,
                   help="jetson: opset 11, static shapes, batch 1, FP32 and only ops TensorRT 8.2 and "
                        "OpenCV 4.x accept (checked; see docs/jetson.md)")
    p.add_argument("--format", "--include", nargs="+", choices=FORMATS, default=["onnx"], metavar="FORMAT",
                   help="what to write, as yolov5's --include / ultralytics' format=: onnx; openvino (an IR in "
                        "<name>_openvino_model/, from the ONNX export); engine (a TensorRT engine and its .json "
                        "sidecar, built here: needs TensorRT and a CUDA GPU) (default: onnx)")
    p.add_argument("-o", "--output", default=None,
                   help="the .onnx file to write (default: <weights stem>-<size>.onnx in this folder); other formats "
                        "are named after it")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.add_argument("--int8", action="store_true",
                   help="statically quantised INT8 (QDQ, ONNX Runtime's quantiser), calibrated on --calib")
    p.add_argument("--calib", metavar="DIR", help="folder of calibration images for --int8")
    p.add_argument("--calib-images", type=positive_int, default=100, help="how many calibration images (default 100)")
    p.add_argument("--half", action="store_true", help="FP16 weights (float32 input/output), for GPUs")
    p.set_defaults(run=run)


def model_source(args) -> tuple[str, str | None]:
    """(what load_detector takes, the Darknet cfg to pair with .weights or None)."""
    from . import CLIError
    from .common import default_weights

    if args.weights is None and args.cfg is not None:
        weights, cfg = args.cfg, None  # a Darknet cfg alone: random weights
    else:
        weights, cfg = args.weights or default_weights(), args.cfg
    suffix = Path(weights).suffix.lower()
    if suffix in (".onnx", ".engine", ".trt"):
        raise CLIError(f"--weights {weights} is already an exported model; give the .pt, YAML, .cfg or .weights")
    if cfg is not None and suffix != ".weights":
        raise CLIError(f"--cfg {cfg} goes with Darknet --weights X.weights, not {weights}")
    flag = "--cfg" if args.weights is None and args.cfg is not None else "--weights"
    for name, path in ((flag, weights), ("--cfg", cfg)):
        if path is not None and Path(path).suffix.lower() in MODEL_SUFFIXES and not Path(path).is_file():
            raise FileNotFoundError(f"{name} {path}: no such file")
    return weights, cfg


def check_options(args) -> int:
    """The opset to use, after refusing combinations a target cannot take."""
    from . import CLIError

    if args.int8 and args.half:
        raise CLIError("choose one of --int8 and --half")
    if args.int8 and not args.calib:
        raise CLIError("--int8 needs --calib DIR (a folder of representative images)")
    import importlib

    needs = (("engine", "tensorrt", None), ("openvino", "openvino", 'pip install "cspdet[openvino]"'))
    for fmt, package, hint in needs:
        try:
            if fmt in args.format:  # before any work
                importlib.import_module(package)
        except ImportError:
            from ..export.tensorrt import INSTALL

            raise CLIError(INSTALL if hint is None else f"--format {fmt} needs OpenVINO: {hint}") from None
    if "engine" in args.format and (args.int8 or args.target == "jetson"):
        raise CLIError("--format engine builds FP32 or (--half) FP16 engines for this machine's GPU; for a Jetson "
                       "export --target jetson and run demos/jetson/build_engine.sh on the device")
    if (args.int8 or args.half) and args.target == "jetson":
        raise CLIError("--target jetson exports FP32; TensorRT picks FP16 when the engine is built "
                       "(demos/jetson/build_engine.sh), and the TX2 has no fast INT8")
    if args.int8:
        if args.opset not in (None, INT8_OPSET):
            raise CLIError(f"--int8 writes opset {INT8_OPSET} (per-channel DequantizeLinear); drop --opset {args.opset}")
        return INT8_OPSET
    if args.target != "jetson":
        return args.opset or DEFAULT_OPSET
    from ..export.jetson import JETSON_OPSET

    if args.opset not in (None, JETSON_OPSET):
        raise CLIError(f"--target jetson exports opset {JETSON_OPSET} (OpenCV 4.x on the device); "
                       f"drop --opset {args.opset}")
    if args.dynamic or args.batch != 1:
        raise CLIError("--target jetson needs static shapes and batch 1 (TensorRT engines on the TX2); "
                       "drop --dynamic/--batch")
    return JETSON_OPSET


def output_paths(args, source: str, hw: tuple[int, int]) -> dict[str, Path]:
    """{format: the file it writes}, each refused before any work when it exists without --force."""
    from . import CLIError

    size = str(hw[0]) if hw[0] == hw[1] else f"{hw[0]}x{hw[1]}"
    out = Path(args.output) if args.output else Path.cwd() / f"{Path(source).stem}-{size}.onnx"
    if out.is_dir():
        raise CLIError(f"-o {out} is a folder; give a file name such as {out / 'model.onnx'}")
    named = {"onnx": out, "openvino": out.with_name(f"{out.stem}_openvino_model") / f"{out.stem}.xml",
             "engine": out.with_suffix(".engine")}
    paths = {fmt: named[fmt] for fmt in dict.fromkeys(args.format)}
    for path in paths.values():
        if path.exists() and not args.force:
            raise CLIError(f"{path} exists; pass --force to overwrite it")
    return paths


def write_onnx(model, out: Path, hw, opset: int, args) -> None:
    """Export through a temp file beside ``out``: a failed export leaves ``out`` as it was."""
    import onnx
    import torch

    from . import CLIError
    from ..export import export_jetson, export_onnx
    from ..io.files import atomic_output

    with warnings.catch_warnings():
        # The tracer's note on the reversed (steps=-1) Slice that F.pad becomes at opset 11, which
        # it leaves unfolded (export_jetson folds it), and, with --dynamic, its notes on shape
        # checks that read channel counts (fixed at any input size): neither is actionable.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        try:
            if args.target == "jetson":
                export_jetson(model, out, hw, raw=args.raw)
            else:
                with atomic_output(out) as tmp:
                    export_onnx(model, tmp, hw, opset=opset, batch=args.batch, dynamic=args.dynamic, raw=args.raw)
        except onnx.checker.ValidationError as e:
            raise CLIError(f"{out}: onnx.checker failed: {str(e).strip().splitlines()[0]}") from None
        except RuntimeError as e:
            if not str(e).startswith("export_onnx:"):  # a model bug: keep the traceback
                raise
            raise CLIError(str(e).splitlines()[0]) from None  # its refusal of ops the runtimes reject


def _dims(dims) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in dims) + "]"


def summary(out: Path, source: str, args) -> list[str]:
    """The lines printed after a successful export, read back from the written file."""
    import onnx

    from ..export.graph import default_opset, static_shapes

    proto = onnx.load(str(out), load_external_data=False)
    g, shapes = proto.graph, static_shapes(proto)  # inferred: Darknet graphs declare symbolic outputs
    outputs = ", ".join(f"{o.name} {_dims(shapes[o.name])}" for o in g.output)
    fmt = "raw head maps" if args.raw else "decoded cx, cy, w, h, obj, class probs"
    size = out.stat().st_size
    size_text = f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
    lines = [f"wrote {out} ({size_text}) from {source}",
             f"  opset {default_opset(proto, 1)}; input {g.input[0].name} {_dims(shapes[g.input[0].name])} float32 RGB 0..1 letterboxed",
             f"  output {outputs} ({fmt})",
             "  onnx.checker: passed"]
    if args.target == "jetson":
        ops = sorted({n.op_type for n in g.node})
        lines.append(f"  jetson check: passed ({len(g.node)} nodes; {', '.join(ops)}: all on the TensorRT 8.2 "
                     "whitelist; static shapes, batch 1, FP32)")
        lines.append(f"  next: copy {out.name} to the device and run demos/jetson/build_engine.sh {out.name}")
    return lines


def run(args) -> int:
    from ..models.loading import load_detector
    from . import CLIError
    from .info import img_size

    source, cfg = model_source(args)
    opset = check_options(args)
    model = load_detector(source, cfg=cfg)
    if not model.strides:
        raise CLIError(f"{cfg or source}: no [yolo] layers, so not a detector (a classifier cfg?); "
                       "cspdet export writes detectors")
    hw = img_size(args, getattr(model, "img_size", None) or 416)
    stride = max(model.strides)
    if hw[0] % stride or hw[1] % stride:
        raise CLIError(f"--img-size {hw[0]} {hw[1]}: each side must be a multiple of the model's stride {stride}")
    paths = output_paths(args, source, hw)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = paths.get("onnx") or Path(tmp) / "model.onnx"  # the other formats are made from it
        if args.int8 or args.half:
            write_reduced(model, out, hw, opset, args, source)
        else:
            write_onnx(model, out, hw, opset, args)
        if "onnx" in paths:
            print("\n".join(summary(out, source, args)))
        for fmt in paths.keys() - {"onnx"}:
            write_format(fmt, out, paths[fmt], args)
    return 0


def write_format(fmt: str, onnx_path: Path, path: Path, args) -> None:
    """The OpenVINO IR or TensorRT engine made from ``onnx_path``, and the line that says so."""
    from . import CLIError

    try:
        if fmt == "openvino":
            from ..export.openvino import export_openvino

            export_openvino(onnx_path, path)
            print(f"wrote {path} and {path.with_suffix('.bin').name} (OpenVINO IR, f32 weights); run it with: "
                  f"cspdet detect --weights {path}")
        else:
            from ..export.tensorrt import export_engine

            export_engine(onnx_path, path, half=args.half)
            print(f"wrote {path} and {path.name}.json (TensorRT{' FP16' if args.half else ''}); run it with: "
                  f"cspdet detect --weights {path}")
    except ImportError as e:
        raise CLIError(str(e)) from None


def write_reduced(model, out: Path, hw, opset: int, args, source: str) -> None:
    """FP32 export to a temp folder, then INT8 quantisation or FP16 conversion into ``out``."""
    import tempfile

    from . import CLIError
    from ..export.quantize import convert_fp16, quantize_int8
    from ..io.files import atomic_output

    with tempfile.TemporaryDirectory() as d:
        fp32 = Path(d) / "fp32.onnx"
        write_onnx(model, fp32, hw, opset, args)
        with atomic_output(out) as tmp, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                if args.int8:
                    quantize_int8(fp32, tmp, args.calib, img_size=hw, n=args.calib_images)
                else:
                    convert_fp16(fp32, tmp)
            except ValueError as e:  # about the temp FP32 file: name the model instead
                if not str(e).startswith(str(fp32)):
                    raise
                raise CLIError(f"{source} (--int8){str(e)[len(str(fp32)):]}") from None
            finally:  # calibration's notes (few or unreadable images), as plain lines
                for w in caught:
                    print(f"cspdet export: warning: {w.message}", file=sys.stderr)
    if args.int8:
        from ..export import read_metadata

        n = read_metadata(out).get("calibration_images")
        print(f"  INT8 (QDQ), calibrated on {n} image(s) of {args.calib}; the decoder and the head's last convs float")
    else:
        print("  FP16 weights")

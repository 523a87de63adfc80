"""YOLOv7-tiny beside YOLOv4-tiny at 416 and 640, on every backend and precision, for
``bench_table.py``: the random weights of the official cfgs (timing does not depend on them), with
the COCO AP / AP50 their authors published (from the zoo) beside each row.

Per model and size: the cfg in PyTorch (f32, and bf16 with ``--half``), its ONNX export in ONNX
Runtime, OpenCV DNN and OpenVINO (f32; OpenVINO also bf16/f16), the export's float16 copy (ONNX
Runtime, OpenCV) and INT8 copy (ONNX Runtime, OpenCV, OpenVINO), and the cfg in OpenCV's own
Darknet importer.
"""
from __future__ import annotations

from pathlib import Path

from detector.bench import parse_baseline, parse_model
from detector.bench.report import table
from detector.bench.specs import ModelSpec

TINY = [("yolov4-tiny", 416), ("yolov4-tiny", 640), ("yolov7-tiny", 416), ("yolov7-tiny", 640)]
CFG_BACKENDS = ["torch", "torch-half", "onnxruntime", "opencv", "openvino", "openvino-half"]
PRECISION = {"torch": "f32", "torch-half": "bf16", "onnxruntime": "f32", "opencv": "f32", "openvino": "f32",
             "openvino-half": "bf16/f16", "opencv-darknet": "f32 (Darknet importer)"}


def tiny_models(tmp: Path, calib: Path, sizes=(416, 640), names=("yolov4-tiny", "yolov7-tiny"),
                calib_n: int = 32) -> tuple[list[ModelSpec], list[ModelSpec], dict]:
    """(models, Darknet-importer baselines, backends per model label) for every (cfg, size) of TINY
    with its name in ``names`` and size in ``sizes``; INT8 calibrated on ``calib_n`` images."""
    from detector.bench.artifacts import darknet_weights
    from detector.export import convert_fp16, quantize_int8
    from detector.runtime.backends.base import ensure_onnx

    models, baselines, backends_for = [], [], {}
    for name, size in (t for t in TINY if t[1] in sizes and t[0] in names):
        base = parse_baseline(f"darknet:{name}@{size}")
        baselines.append(base)
        cfg_spec = parse_model(f"{base.source}@{size}")
        models.append(ModelSpec("detector", cfg_spec.source, f"{name}@{size}", size))
        backends_for[f"{name}@{size}"] = CFG_BACKENDS
        fp32 = ensure_onnx(darknet_weights(base.source), cfg=base.source, img_size=size)
        for kind, path, backends in (
                ("f16", convert_fp16(fp32, tmp / f"{name}-{size}-f16.onnx"), ["onnxruntime", "opencv"]),
                ("int8", quantize_int8(fp32, tmp / f"{name}-{size}-int8.onnx", calib, n=calib_n),
                 ["onnxruntime", "opencv", "openvino"])):
            label = f"{name}-{kind}@{size}"
            models.append(ModelSpec("onnx", str(path), label, size))
            backends_for[label] = backends
    return models, baselines, backends_for


def tiny_table(report) -> str:
    """Markdown: one row per model x size x backend x precision, with the published accuracy."""
    from detector.bench.published import zoo_name
    from detector.models.zoo import ZOO

    body = []
    for name, size in TINY:
        m = ZOO[name]
        published = (f"AP {m.ap:.1f} / " if m.ap is not None else "AP – / ") + f"AP50 {m.ap50_text} @{m.ap50_size}"
        for r in report.rows:
            if r.size != size or zoo_name(r.model) != name:
                continue
            precision = ("f16" if "-f16@" in r.model else "INT8" if "-int8@" in r.model
                         else PRECISION.get(r.backend, "f32"))
            body.append([name, size, r.backend.replace("-half", ""), precision, f"{r.inference.median:.1f}",
                         f"{r.total.median:.1f}", f"{r.fps:.1f}", f"{r.gflops:.2f}" if r.gflops else "–", published])
    return table(["model", "input", "backend", "precision", "infer ms", "total ms", "fps", "GFLOPs",
                  "COCO accuracy as published (trained weights)"], body)

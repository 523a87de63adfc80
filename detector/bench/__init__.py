"""Speed measurement: ``cspdet bench``'s engine, usable from Python.

    from detector.bench import BenchConfig, parse_model, parse_baseline, run_bench, print_report
    report = run_bench(BenchConfig([parse_model("csppeleenet-efm-sam@320")],
                                   [parse_baseline("darknet:yolov3-tiny@416")]))
    print_report(report)

Also: ``roofline`` (a backend's single-conv GFLOP/s), ``onnx_gflops`` (FLOPs from an ONNX
graph), ``detect_stream`` / ``video_e2e`` (the pipelined video loop and its end-to-end speed),
and ``quantize_int8`` / ``convert_fp16`` (ONNX -> INT8 QDQ / FP16 files the bench runs like any
other). Heavy packages are imported where used.
"""
from .flops import model_gflops, onnx_gflops
from .measure import BenchConfig, Report, Row, run_bench, synthetic_frame
from .quantize import convert_fp16, quantize_int8
from .report import plot, print_report, write_json
from .roofline import Roofline, roofline
from .specs import ModelSpec, parse_baseline, parse_model
from .stream import StreamItem, detect_stream, video_e2e
from .timing import Stat, machine_info, physical_cores

__all__ = ["BenchConfig", "ModelSpec", "Report", "Roofline", "Row", "Stat", "StreamItem", "convert_fp16",
           "detect_stream", "machine_info", "model_gflops", "onnx_gflops", "parse_baseline", "parse_model",
           "physical_cores", "plot", "print_report", "quantize_int8", "roofline", "run_bench",
           "synthetic_frame", "video_e2e", "write_json"]

"""Speed measurement: ``cspdet bench``'s engine, usable from Python.

    from detector.bench import BenchConfig, parse_model, parse_baseline, run_bench, print_report
    report = run_bench(BenchConfig([parse_model("csppeleenet-efm-sam@320")],
                                   [parse_baseline("darknet:yolov3-tiny@416")]))
    print_report(report)

Also: ``roofline`` (a backend's single-conv GFLOP/s), ``onnx_gflops`` (FLOPs from an ONNX
graph) and ``detect_stream`` / ``video_e2e`` (the pipelined video loop and its end-to-end
speed). INT8 / FP16 copies of an export, which the bench runs like any other file, come from
``detector.export``. Heavy packages are imported where used.
"""
from .flops import model_gflops, onnx_gflops
from .measure import BenchConfig, Report, Row, run_bench, synthetic_frame
from .report import plot, print_report, write_json
from .roofline import Roofline, roofline
from .specs import ModelSpec, parse_baseline, parse_model
from .stream import StreamItem, detect_stream, video_e2e
from .timing import Stat, machine_info, physical_cores

__all__ = ["BenchConfig", "ModelSpec", "Report", "Roofline", "Row", "Stat", "StreamItem", "detect_stream",
           "machine_info", "model_gflops", "onnx_gflops", "parse_baseline", "parse_model", "physical_cores",
           "plot", "print_report", "roofline", "run_bench", "synthetic_frame", "video_e2e", "write_json"]

"""Exporters: ONNX (for ONNX Runtime, OpenCV DNN and TensorRT), its Jetson TX2 variant, and
INT8 / FP16 copies of an export. ``graph`` holds the ONNX graph lookups they share."""
from .fold import fold_constants
from .jetson import JETSON_OPS, JETSON_OPSET, JetsonExportError, check_jetson_graph, export_jetson
from .onnx import FORBIDDEN_OPS, build_metadata, export_onnx, read_metadata
from .quantize import convert_fp16, quantize_int8

__all__ = ["FORBIDDEN_OPS", "JETSON_OPS", "JETSON_OPSET", "JetsonExportError", "build_metadata",
           "check_jetson_graph", "convert_fp16", "export_jetson", "export_onnx", "fold_constants",
           "quantize_int8", "read_metadata"]

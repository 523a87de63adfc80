"""Exporters: ONNX (for ONNX Runtime, OpenCV DNN and TensorRT), and its Jetson TX2 variant."""
from .fold import fold_constants
from .jetson import JETSON_OPS, JETSON_OPSET, JetsonExportError, check_jetson_graph, export_jetson
from .onnx import FORBIDDEN_OPS, build_metadata, export_onnx, read_metadata

__all__ = ["FORBIDDEN_OPS", "JETSON_OPS", "JETSON_OPSET", "JetsonExportError", "build_metadata",
           "check_jetson_graph", "export_jetson", "export_onnx", "fold_constants", "read_metadata"]

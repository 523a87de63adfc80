"""Exporters: ONNX (for ONNX Runtime, OpenCV DNN and TensorRT)."""
from .onnx import FORBIDDEN_OPS, build_metadata, export_onnx, fold_bn, fuse_conv_bn, read_metadata

__all__ = ["FORBIDDEN_OPS", "build_metadata", "export_onnx", "fold_bn", "fuse_conv_bn", "read_metadata"]

"""Standalone cspdet runtime for a Jetson (JetPack 4.6: Python 3.6, TensorRT 8.2, OpenCV 4.x).

Needs numpy, OpenCV and one of TensorRT + pycuda, OpenCV DNN or ONNX Runtime; not the cspdet
package, torch or onnx. ``Model(path)(frame)`` runs one BGR frame through a .engine or .onnx.
"""
from .meta import ModelInfo, load_metadata, onnx_metadata_props, write_sidecar
from .model import Detections, Model
from .power import Tegrastats, energy_line, power_mode
from .processing import decode, draw, draw_fps, letterbox, postprocess, preprocess
from .sources import Source, csi_pipeline

__all__ = ["Detections", "Model", "ModelInfo", "Source", "Tegrastats", "csi_pipeline", "decode", "draw", "draw_fps",
           "energy_line", "letterbox", "load_metadata", "onnx_metadata_props", "postprocess", "power_mode",
           "preprocess", "write_sidecar"]

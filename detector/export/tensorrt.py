"""An exported ONNX file -> a TensorRT engine (``.engine``) plus the ``<engine>.json`` metadata
sidecar the TensorRT backend reads, as yolov5's ``--include engine``. It runs where TensorRT and a
CUDA GPU are (an engine is built for the GPU it will run on; on a Jetson,
``demos/jetson/build_engine.sh`` does the same with the device's trtexec)."""
from __future__ import annotations

import json
from pathlib import Path

from ..io.files import write_bytes
from .onnx import read_metadata

INSTALL = ("--format engine needs TensorRT and a CUDA GPU (pip install tensorrt on the machine the engine "
           "will run on; on a Jetson run demos/jetson/build_engine.sh MODEL.onnx)")


def export_engine(onnx_path: str | Path, engine_path: str | Path, *, half: bool = True,
                  workspace_mb: int = 1024) -> Path:
    """Build ``engine_path`` from ``onnx_path`` (FP16 where the GPU has fast FP16 and ``half``)
    and write the metadata sidecar beside it; the engine and its sidecar are written whole."""
    try:
        import tensorrt as trt
    except ImportError:
        raise ImportError(INSTALL) from None
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)  # implied from TensorRT 10
    network = builder.create_network(0 if explicit is None else 1 << int(explicit))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"{onnx_path}: TensorRT cannot parse it ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if half and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"{onnx_path}: TensorRT built no engine (its log above says why)")
    write_bytes(engine_path, bytes(engine))
    write_bytes(engine_path.with_suffix(engine_path.suffix + ".json"),
                json.dumps(read_metadata(onnx_path), indent=1).encode())
    return engine_path

"""An exported ONNX file -> an OpenVINO IR (``.xml`` + ``.bin``), as yolov5's ``--include
openvino``: weights kept in f32 (the runtime picks bf16 with ``--half``), the ONNX metadata kept
in the IR's ``framework`` rt_info, where cspdet's OpenVINO backend reads names and anchors."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def export_openvino(onnx_path: str | Path, xml_path: str | Path) -> Path:
    """Convert ``onnx_path`` into ``xml_path`` (its ``.bin`` beside it); both files appear
    together or not at all. Needs ``pip install "cspdet[openvino]"``."""
    try:
        import openvino as ov
    except ImportError:
        raise ImportError('--format openvino needs OpenVINO: pip install "cspdet[openvino]"') from None
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_path))
    with tempfile.TemporaryDirectory(dir=xml_path.parent, prefix=".openvino-") as tmp:
        staged = Path(tmp) / xml_path.name
        ov.save_model(model, str(staged), compress_to_fp16=False)
        for suffix in (".bin", ".xml"):  # the .xml last: a reader that finds it finds its weights
            os.replace(staged.with_suffix(suffix), xml_path.with_suffix(suffix))
    return xml_path

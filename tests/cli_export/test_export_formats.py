"""``cspdet export --format/--include`` as yolov5 and ultralytics users write it: an OpenVINO IR
that cspdet runs like the ONNX file it came from, and a TensorRT engine where TensorRT is."""
import json
import sys
import types

import numpy as np
import pytest

from detector import Detector
from detector.cli import main
from detector.export import read_metadata
from detector.resources import demo_images


def test_onnx_and_openvino_in_one_call_detect_the_same(tmp_path, monkeypatch, capsys):
    pytest.importorskip("openvino")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--include", "onnx", "openvino", "--img-size", "128"]) == 0
    xml = tmp_path / "cspdet-shapes-128_openvino_model" / "cspdet-shapes-128.xml"
    assert xml.is_file() and xml.with_suffix(".bin").is_file() and (tmp_path / "cspdet-shapes-128.onnx").is_file()
    assert f"run it with: cspdet detect --weights {xml}" in capsys.readouterr().out
    a, b = (Detector(str(w), conf_thres=0.3)(demo_images()[2]) for w in (tmp_path / "cspdet-shapes-128.onnx", xml))
    assert b.names == a.names and len(a) == len(b) > 0
    assert np.allclose(a.xyxy, b.xyxy, atol=0.5) and np.allclose(a.scores, b.scores, atol=1e-3)
    assert main(["export", "format=openvino", "imgsz=128"]) == 2  # never overwritten without --force
    assert "exists; pass --force" in capsys.readouterr().err


def test_engine_without_tensorrt_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # not installed, as on a machine without a GPU
    assert main(["export", "format=engine"]) == 2
    assert "needs TensorRT and a CUDA GPU" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def fake_tensorrt(log: dict) -> types.ModuleType:
    """Just enough of the TensorRT builder API to see how export_engine drives it."""
    trt = types.ModuleType("tensorrt")

    class Parser:
        def __init__(self, network, logger):
            self.num_errors = 0

        def parse(self, data):
            log["parsed"] = data
            return True

    class Config:
        def set_memory_pool_limit(self, pool, size):
            log["workspace"] = size

        def set_flag(self, flag):
            log.setdefault("flags", []).append(flag)

    class Builder:
        platform_has_fast_fp16 = True

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return "network"

        def create_builder_config(self):
            return Config()

        def build_serialized_network(self, network, config):
            return b"ENGINE"

    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.Builder, trt.OnnxParser, trt.MemoryPoolType = Builder, Parser, types.SimpleNamespace(WORKSPACE="ws")
    trt.BuilderFlag = types.SimpleNamespace(FP16="fp16")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace()  # TensorRT 10: explicit batch implied
    return trt


def test_engine_export_builds_from_the_onnx_file_and_writes_the_sidecar(tmp_path, monkeypatch, capsys):
    log = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(log))
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--include", "onnx", "engine", "--img-size", "96", "--half"]) == 0
    onnx_path, engine = tmp_path / "cspdet-shapes-96.onnx", tmp_path / "cspdet-shapes-96.engine"
    assert engine.read_bytes() == b"ENGINE" and log["parsed"] == onnx_path.read_bytes()
    assert log["flags"] == ["fp16"] and log["workspace"] == 1024 << 20
    assert json.loads((tmp_path / "cspdet-shapes-96.engine.json").read_text()) == read_metadata(onnx_path)

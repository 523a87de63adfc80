"""INT8 keeps the trained shapes model's accuracy: ``cspdet val`` of its FP32 and INT8 exports on
the validation split it was trained against (the same generator and seed: ``weights/README.md``).

Measured at 128 px on those 200 images, calibrated on 32 of its training images: FP32 AP50
0.7965, AP 0.5560; INT8 AP50 0.7952, AP 0.5563. With the head's last convs in int8 as well, AP
falls to 0.5401: the reason they stay float. About 15 s on 2 cores.
"""
from __future__ import annotations

import json

import pytest

from detector.cli import main
from detector.data.synthetic import make_synthetic_dataset
from detector.export import export_onnx, quantize_int8
from detector.models.loading import load_detector
from tests.conftest import REPO

SHAPES = REPO / "weights" / "cspdet-shapes.pt"


def val(weights, data, out, name: str) -> dict:
    assert main(["val", "--weights", str(weights), "--data", str(data), "--img-size", "128",
                 "--project", str(out), "--name", name]) == 0
    return json.loads((out / name / "metrics.json").read_text())


def test_int8_keeps_the_shapes_models_ap(tmp_path):
    if not SHAPES.is_file():
        pytest.skip(f"{SHAPES} not found")
    data = make_synthetic_dataset(tmp_path / "shapes", n_train=32, n_val=200, img_size=128, seed=0,
                                  objects=(2, 5), sizes=(22, 100))  # weights/README.md's cspdet synth
    fp32 = export_onnx(load_detector(SHAPES), tmp_path / "fp32.onnx", 128, opset=13)
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx", tmp_path / "shapes" / "images" / "train", n=32)
    ref, got = val(fp32, data, tmp_path / "runs", "fp32"), val(int8, data, tmp_path / "runs", "int8")
    assert ref["AP50"] > 0.75  # the model is the trained one
    assert abs(got["AP50"] - ref["AP50"]) <= 0.01 and abs(got["AP"] - ref["AP"]) <= 0.01, (ref, got)

"""The scripts behind the README's published figures run end to end (smoke runs: tiny settings,
the structure of what they print and write, not the figures)."""
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_dir


def script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_table_quick_prints_every_target(tmp_path, capsys):
    if not (shared_dir() / "darknet" / "yolov3-tiny.cfg").is_file():
        pytest.skip(f"{shared_dir() / 'darknet'} not found: set CSPDET_SHARED to the folder holding darknet/*.cfg")
    out_json, out_png = tmp_path / "t.json", tmp_path / "t.png"
    assert script("bench_table").main(["--quick", "--json", str(out_json), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "## Performance (CPU)" in text and "## Targets" in text
    for target in ("(a) EFM(SAM)-CSPPeleeNet-320", "(a, INT8 QDQ)", "(b) achieved", "(c) video end-to-end (2 streams)",
                   "(d) CSPPeleeNet / PeleeNet", "(d) CSPDarknet53 / Darknet53"):
        assert target in text, target
    report = json.loads(out_json.read_text())
    models = {r["model"] for r in report["rows"]}
    assert {"csppeleenet-efm-sam", "csppeleenet-efm-sam-int8", "darknet:yolov3-tiny@416"} <= models
    assert {"onnxruntime", "onnxruntime-spin"} <= {r["backend"] for r in report["rows"]}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_coco128_one_epoch_writes_its_curve(tmp_path, capsys):
    root = shared_dir() / "data" / "coco128"
    if not (root / "images").is_dir():
        pytest.skip(f"{root} not found: set CSPDET_SHARED to the folder holding data/coco128")
    out_json, out_png = tmp_path / "c.json", tmp_path / "c.png"
    argv = ["--model", "csppeleenet-efm-nano", "--img-size", "64", "--epochs", "1", "--batch-size", "32",
            "--workers", "0", "--project", str(tmp_path / "runs"), "--json", str(out_json), "--plot", str(out_png)]
    assert script("train_coco128").main(argv) == 0
    assert "| epoch | mAP50 | mAP50:95 | minutes |" in capsys.readouterr().out
    rows = json.loads(out_json.read_text())["epochs"]
    assert [r["epoch"] for r in rows] == [1] and 0 <= rows[0]["AP50"] <= 1
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (Path(tmp_path / "runs" / "exp") / "results.csv").is_file()

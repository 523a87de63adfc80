"""The scripts behind the README's published figures run end to end (smoke runs: tiny settings,
the structure of what they print and write, not the figures)."""
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, missing_shared, shared_dir


def script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_table_quick_prints_every_target(tmp_path, capsys):
    if not (shared_dir() / "darknet" / "yolov3-tiny.cfg").is_file():
        missing_shared(f"{shared_dir() / 'darknet'} not found: set CSPDET_SHARED to the folder holding darknet/*.cfg")
    out_json, out_png = tmp_path / "t.json", tmp_path / "t.png"
    assert script("bench_table").main(["--quick", "--json", str(out_json), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "## Performance (CPU)" in text and "## Targets" in text
    import cv2

    assert f"| OpenCV {cv2.__version__} DNN (" in text  # the baselines' runtime names the OpenCV and its path
    assert "## Precision x backend" in text and "Measured in blocks of 8 calls, the first dropped" in text
    tiny = text.split("## YOLOv7-tiny and YOLOv4-tiny")[1].split("##")[0]  # --quick: YOLOv7-tiny-416 only
    for row in ("| yolov7-tiny | 416   | opencv-darknet |", "| yolov7-tiny | 416   | onnxruntime    | INT8",
                "| yolov7-tiny | 416   | torch          | bf16", "| yolov4-tiny | 416   | opencv-darknet |"):
        assert row in tiny, row
    assert "AP 35.2 / AP50 52.8 @416" in tiny and "AP50 40.2 @416" in tiny
    for target in ("best f32 backend", "best reduced precision with |AP50 change| <= 0.01",
                   "YOLOv4-tiny-416 in cspdet", "achieved / single-conv", "video end-to-end (2 streams)",
                   "CSPPeleeNet / PeleeNet", "CSPDarknet53 / Darknet53"):
        assert target in text, target
    report = json.loads(out_json.read_text())
    models = {r["model"] for r in report["rows"]}
    assert {"csppeleenet-efm-sam", "csppeleenet-efm-sam-f16", "csppeleenet-efm-sam-int8", "darknet:yolov3-tiny@416",
            "darknet:yolov4-tiny@416", "cspdet:yolov4-tiny@416"} <= models
    assert {"onnxruntime", "onnxruntime-spin", "torch-half"} <= {r["backend"] for r in report["rows"]}
    precisions = {(p["backend"], p["precision"]): p for p in report["precisions"]}
    assert len(precisions) == 12 and "reason" in precisions["torch", "INT8"]  # 4 backends x f32, half, INT8
    for (backend, precision), p in precisions.items():  # every row measured, or says why not
        assert "fps" in p or p.get("reason"), (backend, precision, p)
    int8 = precisions["onnxruntime", "INT8"]
    assert abs(int8["ap50_change"]) < 0.2 and 0 < int8["ap50"] <= 1  # measured on the shapes model (16 images)
    boxes = report["yolov4_tiny_boxes"]
    assert boxes["same"] and boxes["boxes"] > 50, boxes  # cspdet's YOLOv4-tiny gives the importer's boxes
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_coco128_one_epoch_writes_its_curve(tmp_path, capsys):
    root = shared_dir() / "data" / "coco128"
    if not (root / "images").is_dir():
        missing_shared(f"{root} not found: set CSPDET_SHARED to the folder holding data/coco128")
    out_json, out_png = tmp_path / "c.json", tmp_path / "c.png"
    argv = ["--model", "csppeleenet-efm-nano", "--img-size", "64", "--epochs", "1", "--batch-size", "32",
            "--workers", "0", "--project", str(tmp_path / "runs"), "--json", str(out_json), "--plot", str(out_png)]
    assert script("train_coco128").main(argv) == 0
    assert "| epoch | mAP50 | mAP50:95 | minutes |" in capsys.readouterr().out
    rows = json.loads(out_json.read_text())["epochs"]
    assert [r["epoch"] for r in rows] == [1] and 0 <= rows[0]["AP50"] <= 1
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (Path(tmp_path / "runs" / "exp") / "results.csv").is_file()


def test_gpu_check_quick_on_cpu_writes_json_and_table_and_names_what_it_skipped(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the CPU run; on a GPU run the script itself")
    if not (shared_dir() / "darknet" / "yolov4-tiny.cfg").is_file() or not (shared_dir() / "data" / "coco128").is_dir():
        missing_shared(f"{shared_dir()}: needs darknet/yolov4-tiny.cfg and data/coco128; set CSPDET_SHARED")
    assert script("gpu_check").main(["--quick", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    table_md = (tmp_path / "gpu_check.md").read_text()
    env = report["environment"]
    assert env["gpu"] is None and env["device"] == "cpu" and env["torch"] == torch.__version__ and env["date"]
    assert "collected" in report["parts"]["tests"]["summary"] and report["failed"] == []
    train = report["parts"]["train"]
    assert train["images"] == 8 and train["steps"] == 2 and train["amp"] is False and train["images_per_s"] > 0
    rows = report["parts"]["fps"]["rows"]
    assert [(r["model"], r["device"], r["size"], r["batch"], r["precision"]) for r in rows] == [
        ("EFM(SAM)-CSPPeleeNet", "CPU", 320, 1, "fp32"), ("YOLOv4-tiny", "CPU", 320, 1, "fp32")]
    assert all(r["images_per_s"] > 0 for r in rows)
    skipped = " ".join(report["skipped"])
    for part, why in (("tests:", "no CUDA"), ("train:", "no AMP"), ("fps:", "YOLOv4")):
        assert part in skipped and why in skipped, (part, skipped)
    assert "# GPU check on CPU (reduced; no CUDA)" in table_md and "## Skipped" in table_md
    assert "| EFM(SAM)-CSPPeleeNet | CPU" in table_md and table_md.strip() in printed


def test_track_speed_prints_both_tables_and_plots(tmp_path, capsys):
    from detector.data.synthetic_tracks import make_tracking_videos

    pytest.importorskip("scipy")
    out_png, out_json = tmp_path / "t.png", tmp_path / "t.json"
    (clip,) = make_tracking_videos(tmp_path, 1, n_frames=6)
    argv = ["--frames", "5", "--rounds", "1", "--objects", "5", "--video", str(clip), "--plot", str(out_png),
            "--json", str(out_json)]
    assert script("track_speed").main(argv) == 0
    text = capsys.readouterr().out
    assert "| objects | median ms / frame" in text and "| track " in text
    assert set(json.loads(out_json.read_text())["fps"]) == {"detect", "detect --conf-thres 0.1 --agnostic-nms", "track"}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adaptive_tracking_prints_every_mode_and_plots(tmp_path, capsys):
    pytest.importorskip("motmetrics")
    out_png, out_json = tmp_path / "a.png", tmp_path / "a.json"
    argv = ["--clips", "1", "--frames", "12", "--rounds", "1", "--plot", str(out_png), "--json", str(out_json)]
    assert script("adaptive_tracking").main(argv) == 0
    text = capsys.readouterr().out
    assert "| mode " in text and "| adaptive K=8 no flow " in text and "CPU ms / frame" in text
    res = json.loads(out_json.read_text())
    assert set(res) == {"every frame", "adaptive K=2", "adaptive K=4", "adaptive K=6 (default)", "adaptive K=8",
                        "adaptive K=8 no flow"}
    assert res["every frame"]["calls"] == res["every frame"]["frames"] == 12
    assert all(0 < r["calls"] <= 12 and 0 <= r["ap50"] <= 1 and r["energy"]["cpu_s_per_frame"] > 0 for r in res.values())
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prune_table_quick_prints_both_models_and_plots(tmp_path, capsys):
    pytest.importorskip("torch_pruning")
    if not (shared_dir() / "darknet" / "yolov4-tiny.cfg").is_file():
        missing_shared(f"{shared_dir() / 'darknet'} not found: set CSPDET_SHARED to the folder holding darknet/*.cfg")
    out_json, out_png = tmp_path / "p.json", tmp_path / "p.png"
    assert script("prune_table").main(["--quick", "--json", str(out_json), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "| model " in text and "ONNX Runtime ms" in text and "OpenVINO ms" in text
    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["model"], r["ratio"]) for r in rows] == [(m, r) for m in ("shapes", "yolov4-tiny") for r in (0, 0.25, 0.5)]
    for model in ("shapes", "yolov4-tiny"):
        g = [r["gflops"] for r in rows if r["model"] == model]
        assert g[0] > g[1] > g[2] > 0
    assert all(r["onnxruntime"] > 0 and r["openvino"] > 0 for r in rows)
    assert all(0 <= r["ap50"] <= 1 for r in rows if r["model"] == "shapes")
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

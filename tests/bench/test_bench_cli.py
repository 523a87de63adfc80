"""``cspdet bench`` end to end on the smallest config, and its one-line argument errors."""
import json

import pytest

from detector.cli import main

ROW_KEYS = {"model", "kind", "backend", "engine", "size", "batch", "gflops", "detections", "fps", "inference_fps",
            "achieved_gflops_s", "roofline_gflops_s", "roofline_ratio", "ratios", "video", "via", "ms"}


def test_bench_all_backends_with_baseline_video_json_and_plot(tmp_path, darknet_cfg, clip, capsys):
    darknet_cfg("yolov3-tiny")
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", "csppeleenet-prn", "--img-size", "96", "--runs", "3", "--warmup", "1", "--threads", "1",
            "--backends", "torch,onnxruntime,opencv", "--baseline", "darknet:yolov3-tiny@96",
            "--video", str(clip), "--video-frames", "4", "--video-streams", "2", "--json", str(out_json),
            "--plot", str(out_png), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    for heading in ("Roofline", "Latency per image", "Speed vs baselines", "Video, end to end", "Summary"):
        assert heading in text
    assert "infer ms (med / p90)" in text and "vs darknet:yolov3-tiny@96" in text

    report = json.loads(out_json.read_text())
    assert report["skipped"] == []
    machine = report["machine"]
    assert machine["cpu"] and machine["physical_cores"] >= 1 and machine["threads"] == 1
    assert {"numpy", "torch", "onnxruntime", "onnx", "cv2"} <= set(machine["versions"])
    assert set(report["rooflines"]) == {"torch", "onnxruntime", "opencv"}
    assert all(r["gflops_per_s"] > 0 for r in report["rooflines"].values())

    rows = {r["backend"]: r for r in report["rows"]}
    assert set(rows) == {"torch", "onnxruntime", "opencv", "opencv-darknet"}
    base = rows.pop("opencv-darknet")
    assert base["model"] == "darknet:yolov3-tiny@96" and base["ratios"] == {} and base["video"] is None
    for backend, r in rows.items():
        assert ROW_KEYS <= set(r)
        assert r["size"] == 96 and r["batch"] == 1 and r["engine"] == backend and r["via"] is None
        assert set(r["ms"]) == {"pre", "inference", "post", "total"}
        assert all(r["ms"][k]["n"] == 3 and r["ms"][k]["p90"] >= r["ms"][k]["median"] > 0 for k in r["ms"])
        assert r["fps"] == pytest.approx(1000 / r["ms"]["total"]["median"])
        assert r["gflops"] == pytest.approx(rows["torch"]["gflops"]) and r["gflops"] > 0
        assert r["achieved_gflops_s"] == pytest.approx(r["gflops"] / (r["ms"]["inference"]["median"] / 1e3))
        assert r["roofline_gflops_s"] == pytest.approx(report["rooflines"][backend]["gflops_per_s"])
        assert r["roofline_ratio"] == pytest.approx(r["achieved_gflops_s"] / r["roofline_gflops_s"])
        assert r["ratios"]["darknet:yolov3-tiny@96"] == pytest.approx(r["fps"] / base["fps"])
        assert r["video"]["frames"] == 4 and r["video"]["e2e_fps"] > 0
        assert r["video"]["streams"] == (1 if backend == "opencv" else 2)
        assert r["video"]["ratio"] == pytest.approx(r["video"]["e2e_fps"] / r["inference_fps"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.cv_compat
def test_bench_baseline_names_its_opencv_and_path(tmp_path, darknet_cfg, capsys):
    """The Darknet baseline runs on any OpenCV: its own importer where it has one (4.x), else
    (5.x) cspdet's Darknet reader + ONNX export; the summary and the JSON say which, and the version."""
    import cv2

    from detector.runtime.backends.opencv_backend import has_darknet_importer

    darknet_cfg("yolov3-tiny")
    out_json = tmp_path / "b.json"
    argv = ["bench", "csppeleenet-prn", "--img-size", "96", "--backends", "opencv", "--baseline",
            "darknet:yolov3-tiny@96", "--runs", "2", "--warmup", "0", "--threads", "1", "--json", str(out_json),
            "--no-progress"]
    assert main(argv) == 0
    via, path = (("darknet-importer", "Darknet importer") if has_darknet_importer()
                 else ("cspdet-onnx", "cspdet Darknet reader + ONNX export"))
    assert f"darknet:yolov3-tiny@96 (OpenCV {cv2.__version__} DNN ({path})):" in capsys.readouterr().out
    report = json.loads(out_json.read_text())
    assert report["skipped"] == [] and report["machine"]["versions"]["cv2"] == cv2.__version__
    rows = {r["backend"]: r for r in report["rows"]}
    assert rows["opencv-darknet"]["via"] == via and rows["opencv-darknet"]["detections"] >= 0
    assert rows["opencv"]["via"] is None and rows["opencv"]["ratios"]["darknet:yolov3-tiny@96"] > 0


def test_bench_classifier_pair_and_batch(tmp_path, capsys):
    out_json = tmp_path / "b.json"
    argv = ["bench", "classifier:csppeleenet@64", "backbone:peleenet@64", "--backends", "onnxruntime,torch",
            "--batch", "2", "--runs", "2", "--warmup", "1", "--threads", "1", "--json", str(out_json), "--no-progress"]
    assert main(argv) == 0
    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["model"], r["backend"]) for r in rows] == [
        ("classifier:csppeleenet", "onnxruntime"), ("classifier:csppeleenet", "torch"),
        ("backbone:peleenet", "onnxruntime"), ("backbone:peleenet", "torch")]
    assert all(r["size"] == 64 and r["batch"] == 2 and r["detections"] == 0 for r in rows)
    assert rows[0]["gflops"] == pytest.approx(rows[1]["gflops"])  # ONNX and torch count the same model


def test_bench_measures_onnxruntime_spinning_beside_the_default(tmp_path):
    out_json = tmp_path / "spin.json"
    argv = ["bench", "csppeleenet-prn@96", "classifier:csppeleenet@64", "--backends", "onnxruntime,onnxruntime-spin",
            "--runs", "2", "--warmup", "1", "--json", str(out_json), "--no-progress"]
    assert main(argv) == 0
    report = json.loads(out_json.read_text())
    assert set(report["rooflines"]) == {"onnxruntime", "onnxruntime-spin"}
    rows = {(r["model"], r["backend"]): r for r in report["rows"]}
    assert set(rows) == {(m, b) for m in ("csppeleenet-prn", "classifier:csppeleenet")
                         for b in ("onnxruntime", "onnxruntime-spin")}
    for (model, backend), r in rows.items():
        assert r["engine"] == backend
        assert r["roofline_gflops_s"] == pytest.approx(report["rooflines"][backend]["gflops_per_s"])
    # The same ONNX graph either way: the same work, the same detections on the same frame.
    calm, spin = rows[("csppeleenet-prn", "onnxruntime")], rows[("csppeleenet-prn", "onnxruntime-spin")]
    assert spin["gflops"] == calm["gflops"] and spin["detections"] == calm["detections"]


@pytest.mark.parametrize("argv, needle", [
    (["bench"], "give at least one MODEL"),
    (["bench", "csppeleenet-prn", "--backends", "torch,tensorflow"], "--backends torch,tensorflow"),
    (["bench", "no-such-config"], "MODEL no-such-config"),
    (["bench", "missing.onnx"], "MODEL missing.onnx: no such file"),
    (["bench", "classifier:resnet9000"], "unknown backbone"),
    (["bench", "csppeleenet-prn", "--baseline", "yolov3-tiny"], "--baseline yolov3-tiny"),
    (["bench", "csppeleenet-prn", "--baseline", "darknet:not-a-cfg"], "--baseline darknet:not-a-cfg"),
    (["bench", "csppeleenet-prn", "--runs", "0"], "argument --runs: must be at least 1"),
    (["bench", "csppeleenet-prn", "--video", "nope.mp4"], "--video nope.mp4: no such file"),
])
def test_bench_bad_arguments_are_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err

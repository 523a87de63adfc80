"""Ordinary mistakes, each through the real CLI in a subprocess: a non-zero exit, one line that
names the culprit, no traceback, and nothing left behind."""
import os

import pytest

from tests.robustness.helpers import assert_one_line_error, cspdet

BAD_NUMBERS = [
    (["detect", "--vid-stride", "-2"], "--vid-stride"),
    (["detect", "--vid-stride", "0"], "--vid-stride"),
    (["detect", "--max-det", "0"], "--max-det"),
    (["detect", "--threads", "-3"], "--threads"),
    (["detect", "--img-size", "100000"], "--img-size"),
    (["detect", "--img-size", "0"], "--img-size"),
    (["detect", "--conf-thres", "nan"], "--conf-thres"),
    (["detect", "--iou-thres", "1.5"], "--iou-thres"),
    (["detect", "--classes", "-1"], "--classes"),
    (["detect", "--streams", "0"], "--streams"),
    (["detect", "--line-width", "0"], "--line-width"),
    (["val", "--data", "x.yaml", "--batch-size", "-4"], "--batch-size"),
    (["val", "--data", "x.yaml", "--batch-size", "0"], "--batch-size"),
    (["export", "--batch", "0"], "--batch"),
    (["export", "--calib-images", "0"], "--calib-images"),
    (["bench", "csppeleenet-prn", "--runs", "0"], "--runs"),
    (["synth", "out", "--img-size", "16"], "--img-size"),
    (["synth", "out", "--sizes", "500", "1000"], "--sizes"),
]


@pytest.mark.parametrize("argv, culprit", BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_bad_numbers_are_refused_before_any_work(argv, culprit, tmp_path):
    r = cspdet(*argv, cwd=tmp_path)
    assert_one_line_error(r, culprit, code=2)
    assert list(tmp_path.iterdir()) == []  # no run folder, no output


def test_unknown_device(tmp_path):
    assert_one_line_error(cspdet("detect", "--device", "tpu", cwd=tmp_path), "--device 'tpu'", code=2)
    assert list(tmp_path.iterdir()) == []


def test_missing_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert_one_line_error(cspdet("detect", "--device", "0", cwd=tmp_path), "--device 0", "CUDA", code=2)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "garbage.onnx").write_bytes(os.urandom(1000))
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    return tmp_path


@pytest.mark.parametrize("argv, culprits", [
    (["detect", "--weights", "garbage.onnx"], ["garbage.onnx", "not a readable ONNX"]),
    (["detect", "--weights", "garbage.onnx", "--backend", "opencv"], ["garbage.onnx"]),
    (["detect", "--weights", "empty.pt"], ["empty.pt", "not a readable cspdet checkpoint"]),
    (["detect", "--weights", "text.pt"], ["text.pt"]),
    (["val", "--weights", "empty.pt", "--data", "x.yaml"], ["x.yaml"]),
    (["detect", "--weights", "missing.engine"], ["missing.engine"]),
    (["detect", "--backend", "tensorrt"], ["--backend tensorrt", "cspdet-shapes.pt"]),
    (["detect", "--source", "nowhere/"], ["--source nowhere/"]),
    (["detect", "--source", "clip.mp4"], ["clip.mp4"]),
    (["export", "--img-size", "33", "-o", "a.onnx"], ["--img-size 33", "stride 32"]),
    (["export", "--weights", "garbage.onnx"], ["garbage.onnx", "already an exported model"]),
    (["convert", "--weights", "empty.pt", "-o", "x.weights"], ["empty.pt"]),
])
def test_bad_files_are_named(argv, culprits, bad_files):
    before = sorted(p.name for p in bad_files.iterdir())
    r = cspdet(*argv, cwd=bad_files)
    assert_one_line_error(r, *culprits)
    assert sorted(p.name for p in bad_files.iterdir()) == before


def test_show_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "detector", "detect", "--show"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert_one_line_error(r, "--show", "display", code=2)
    assert list(tmp_path.iterdir()) == []


def test_project_is_a_file(tmp_path):
    (tmp_path / "f").write_text("keep me")
    assert_one_line_error(cspdet("detect", "--project", "f", cwd=tmp_path), "--project f", "not a folder", code=2)
    assert (tmp_path / "f").read_text() == "keep me"


def test_project_below_a_file(tmp_path):
    (tmp_path / "f").write_text("keep me")
    assert_one_line_error(cspdet("detect", "--project", "f/runs", cwd=tmp_path), "f/runs")
    assert (tmp_path / "f").read_text() == "keep me"


def test_debug_shows_the_traceback(tmp_path):
    r = cspdet("--debug", "detect", "--source", "nowhere/", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr
    r = cspdet("detect", "--source", "nowhere/", cwd=tmp_path, env={"CSPDET_DEBUG": "1"})
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_same_file_names_in_subfolders_keep_their_own_outputs(tmp_path):
    import json
    import shutil

    from detector.resources import demo_media_dir

    media = demo_media_dir()
    for sub, src in (("a", "demo_000.jpg"), ("b", "demo_001.jpg")):
        (tmp_path / "src" / sub).mkdir(parents=True)
        shutil.copy(media / src, tmp_path / "src" / sub / "x.jpg")
    r = cspdet("detect", "--source", "src", "--recursive", "--save-txt", "--save-json", "--project", "out",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "out" / "exp"
    assert (run / "a" / "x.jpg").is_file() and (run / "b" / "x.jpg").is_file()
    assert (run / "labels" / "a" / "x.txt").read_text() != (run / "labels" / "b" / "x.txt").read_text()
    ids = {d["image_id"] for d in json.loads((run / "predictions.json").read_text())}
    files = json.loads((run / "image_ids.json").read_text())  # stems are no numbers: ids 0, 1 named here
    assert files == [{"id": 0, "file_name": "a/x.jpg"}, {"id": 1, "file_name": "b/x.jpg"}] and ids <= {0, 1}


def test_a_250_character_video_name_with_labels(tmp_path):
    from tests.robustness.helpers import video_frames, write_video

    video = write_video(tmp_path / ("v" * 246 + ".mp4"), frames=5)
    r = cspdet("detect", "--source", video, "--save-txt", "--project", "out", cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    run = tmp_path / "out" / "exp"
    assert len(list((run / "labels").glob("v*.txt"))) == 5
    assert video_frames(next(run.glob("v*.mp4"))) == 5

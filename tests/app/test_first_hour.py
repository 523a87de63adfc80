"""What a yolov5 user tries in the first hour: the bundled media by short name, ``predict``,
class names in ``--classes``, ``--save-crop``, videos inside a source folder, ``Detector()`` with
no argument, a short ``repr``, missing extras reported before any folder, quiet webcam errors."""
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from detector import Detector
from detector.cli import main
from detector.resources import demo_images, demo_video
from detector.runtime.results import Results
from tests.conftest import REPO


def test_demo_short_names_run_the_bundled_media(tmp_path, capsys):
    assert main(["predict", "--source", "demo", "--vid-stride", "12", "--nosave", "--save-txt",
                 "--project", str(tmp_path)]) == 0
    labels = sorted(p.name for p in (tmp_path / "exp" / "labels").iterdir())
    assert labels == [f"demo_{i}.txt" for i in (0, 1, 2, 3, 4)]  # 60 frames, every 12th
    assert main(["detect", "source=demo-images", "save=False", "save_txt=True", f"project={tmp_path}"]) == 0
    assert sorted(p.stem for p in (tmp_path / "exp2" / "labels").iterdir()) == [p.stem for p in demo_images()]


def test_a_folder_with_a_video_runs_its_frames_too(image_dir, video_file, tmp_path, capsys):
    shutil.copy(video_file, image_dir / "clip.avi")
    assert main(["detect", "--source", str(image_dir), "--project", str(tmp_path), "--save-txt"]) == 0
    out = capsys.readouterr()
    assert "Done: 10 items" in out.out and "1 skipped" in out.out  # 3 images + 7 frames; broken.jpg
    run = tmp_path / "exp"
    assert sorted(p.name for p in run.glob("*.jpg")) == ["000.jpg", "001.jpg", "002.jpg"]
    assert int(cv2.VideoCapture(str(run / "clip.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    assert len(list((run / "labels").glob("clip_*.txt"))) == 7


def test_tracking_a_folder_leaves_its_videos_out_and_says_so(image_dir, video_file, tmp_path, capsys):
    pytest.importorskip("scipy")
    shutil.copy(video_file, image_dir / "clip.avi")
    assert main(["track", "--source", str(image_dir), "--project", str(tmp_path), "--nosave"]) == 0
    err = capsys.readouterr().err
    assert "cspdet track: warning: --source" in err and "1 video(s) left out (clip.avi)" in err


def test_classes_by_name_keep_only_those(tmp_path, capsys):
    det = Detector(conf_thres=0.2, classes=["circle", "Cross"])
    kept = {lab for p in demo_images() for lab in det(p).labels}
    assert kept and kept <= {"circle", "cross"}
    assert main(["detect", "--classes", "circel", "--nosave"]) == 2
    err = capsys.readouterr().err.strip()
    assert "classes: 'circel' is not a class of this model (did you mean circle?)" in err and "triangle" in err


def test_save_crop_cuts_each_box_as_yolov5(tmp_path):
    assert main(["detect", "--save-crop", "--nosave", "--project", str(tmp_path), "--conf-thres", "0.3"]) == 0
    det = Detector(conf_thres=0.3)
    expected = {}
    for path in demo_images():
        res = det(path)
        for k, (label, crop) in enumerate(zip(res.labels, res.crops())):
            expected[f"{label}/{path.stem}_{k}.jpg"] = crop.shape
    found = {p.relative_to(tmp_path / "exp" / "crops").as_posix(): cv2.imread(str(p)).shape
             for p in (tmp_path / "exp" / "crops").rglob("*.jpg")}
    assert found == expected and len(found) >= 4


def test_crops_grow_the_box_by_2_percent_and_10_px_and_stay_inside():
    img = np.zeros((100, 100, 3), np.uint8)
    res = Results(np.array([[10, 20, 50, 60], [80, 80, 99, 99]], np.float32), np.array([0.9, 0.8]),
                  np.array([0, 0]), ["a"], img)
    a, b = res.crops()
    assert a.shape[:2] == (51, 51)  # 40 * 1.02 + 10 = 50.8 wide, from 30 - 25.4 to 30 + 25.4, truncated: 4..55
    assert b.shape[:2] == (100 - 74, 100 - 74)  # 89.5 - 14.69 = 74.8 -> 74, clipped at 100


def test_detector_with_no_argument_is_the_bundled_model_and_results_print_short():
    res = Detector(conf_thres=0.3)(demo_images()[1])
    text = repr(res)
    assert "\n" not in text and len(text) < 200, text
    assert text.startswith(f"Results({len(res)} boxes: ") and "image 360x640" in text and "4 classes" in text
    assert res.names == ["circle", "square", "triangle", "cross"]


def test_a_missing_track_extra_is_reported_before_any_folder(tmp_path, monkeypatch, capsys):
    from detector.runtime.tracking import assign

    def missing():
        raise ImportError(assign.INSTALL)

    monkeypatch.setattr(assign, "require_scipy", missing)
    assert main(["track", "--source", str(demo_video()), "--project", str(tmp_path / "runs")]) == 2
    assert "cspdet[track]" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_webcam_that_cannot_open_is_one_line_without_opencv_noise(tmp_path):
    r = subprocess.run([sys.executable, "-m", "detector", "detect", "--source", "7", "--nosave"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip() == "cspdet detect: error: --source 7: cannot open webcam", r.stderr


def test_the_webcam_demo_without_a_display_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "detector.demos.webcam", "--source", "demo"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "run with --no-show" in r.stderr, (r.returncode, r.stderr)
    r = subprocess.run([sys.executable, str(REPO / "demos" / "webcam.py"), "--source", "demo"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "run with --no-show" in r.stderr

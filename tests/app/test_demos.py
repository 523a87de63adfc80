"""The demos run as a user would start them, through the public API only."""
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from detector.runtime.sources import StreamSource

REPO = Path(__file__).resolve().parents[2]


def run(*argv, cwd):
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_folder_demo_annotates_and_never_overwrites(image_dir, model_files, tmp_path):
    out = tmp_path / "out"
    r = run(str(REPO / "demos" / "folder.py"), str(image_dir), str(out), "--weights", str(model_files[0]), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "3 images, 1 skipped" in r.stdout and "broken.jpg" in r.stdout
    assert sorted(p.name for p in out.glob("*.jpg")) == ["000.jpg", "001.jpg", "002.jpg"]
    assert (out / "detections.csv").read_text().startswith("image,class,score")
    again = run(str(REPO / "demos" / "folder.py"), str(image_dir), str(out), "--weights", str(model_files[0]), cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_webcam_demo_on_a_video_without_a_window(video_file, model_files, tmp_path):
    saved = tmp_path / "annotated.mp4"
    r = run(str(REPO / "demos" / "webcam.py"), "--source", str(video_file), "--weights", str(model_files[1]),
            "--no-show", "--save", str(saved), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "7 frames" in r.stdout
    assert int(cv2.VideoCapture(str(saved)).get(cv2.CAP_PROP_FRAME_COUNT)) == 7


def test_webcam_demo_tracks(video_file, tmp_path):
    pytest.importorskip("scipy")
    saved = tmp_path / "tracked.mp4"
    r = run(str(REPO / "demos" / "webcam.py"), "--source", str(video_file), "--track", "--trail", "5",
            "--no-show", "--save", str(saved), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "7 frames" in r.stdout
    assert int(cv2.VideoCapture(str(saved)).get(cv2.CAP_PROP_FRAME_COUNT)) == 7


def test_stream_reader_keeps_newest_frames_and_ends_cleanly(video_file):
    src = StreamSource(str(video_file), timeout=5)
    frames = []
    for f in src:
        frames.append(f)
    src.close()
    assert 1 <= len(frames) <= 7  # a slow consumer sees fewer frames, never a backlog
    assert all(f.image is not None and f.error is None for f in frames)
    assert [f.index for f in frames] == list(range(len(frames)))

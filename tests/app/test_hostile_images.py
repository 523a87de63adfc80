"""A hostile image (a header claiming 60000 x 60000, garbage) is reported by name and skipped in
every place that reads images, and never ends a run with a traceback."""
import subprocess
import sys

import cv2
import pytest

from detector import Detector

from ..io.helpers import REPO, one_line_error, png_claiming, run_cli
from .conftest import scene


@pytest.fixture
def hostile_dir(tmp_path):
    d = tmp_path / "hostile"
    d.mkdir()
    cv2.imwrite(str(d / "good.jpg"), scene(0))
    png_claiming(d / "bomb.png", 60000, 60000)
    (d / "loop.jpg").symlink_to(d / "loop.jpg")
    return d


def test_detect_folder_skips_the_bomb_and_goes_on(model_files, hostile_dir, tmp_path):
    r = run_cli("detect", "--weights", str(model_files[0]), "--source", str(hostile_dir), "--img-size", "160",
                "--project", str(tmp_path / "runs"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert f"skipped: {hostile_dir / 'bomb.png'}: 60000x60000 image is over the cap" in r.stderr
    assert "Done: 1 image: first call " in r.stdout and "2 skipped" in r.stdout  # the bomb and the looping link
    assert [p.name for p in (tmp_path / "runs" / "exp").glob("*.jpg")] == ["good.jpg"]


def test_folder_demo_survives_the_bomb_and_a_looping_link(model_files, hostile_dir, tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(REPO / "demos" / "folder.py"), str(hostile_dir), str(out),
                        "--weights", str(model_files[0])], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped:" in r.stdout and "bomb.png: 60000x60000 image is over the cap" in r.stdout
    assert "1 images, 2 skipped" in r.stdout  # the bomb and the looping link


def test_bench_image_names_the_bomb_in_one_line(hostile_dir, tmp_path):
    r = run_cli("bench", "csppeleenet-efm-nano", "--backends", "torch", "--runs", "1", "--warmup", "0",
                "--image", str(hostile_dir / "bomb.png"), "--no-progress", cwd=tmp_path)
    one_line_error(r, "bomb.png", "60000x60000 image is over the cap")


def test_the_python_api_raises_a_value_error_naming_the_file(model_files, hostile_dir):
    det = Detector(model_files[0], img_size=160)
    with pytest.raises(ValueError, match="bomb.png: 60000x60000 image is over the cap"):
        det(str(hostile_dir / "bomb.png"))
    assert len(det([str(hostile_dir / "good.jpg")])) == 1

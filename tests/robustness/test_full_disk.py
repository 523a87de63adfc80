"""A full disk: the run stops with exit 1 and one line naming the file it could not write, never
"Results saved" over files that are not there. Needs a 2 MB tmpfs (root, as CI runs)."""
import shutil
import subprocess

import pytest

from detector.resources import demo_media_dir
from tests.robustness.helpers import assert_one_line_error, cspdet, write_video

FREE = 300_000


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); CI runs as root and can")
    # fill all but FREE bytes, so a short run reaches the end of the disk
    free = shutil.disk_usage(mount).free
    (mount / "filler").write_bytes(b"\0" * (free - FREE))
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_images_on_a_full_disk(small_disk, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(8):  # about 1 MB of annotated copies for 300 kB
        shutil.copy(demo_media_dir() / f"demo_00{i % 4}.jpg", src / f"img{i:02d}.jpg")
    r = cspdet("detect", "--source", src, "--project", small_disk, cwd=tmp_path)
    line = assert_one_line_error(r, str(small_disk), "No space left", code=1)
    assert "Results saved" not in r.stdout, line
    for jpg in (small_disk / "exp").glob("*.jpg"):  # what was written is whole
        assert jpg.read_bytes()[-2:] == b"\xff\xd9", jpg


def test_video_on_a_full_disk(small_disk, tmp_path):
    video = write_video(tmp_path / "clip.mp4", frames=150, size=(640, 480))
    r = cspdet("detect", "--source", video, "--project", small_disk, cwd=tmp_path)
    assert_one_line_error(r, "clip.mp4", code=1)
    assert "Results saved" not in r.stdout

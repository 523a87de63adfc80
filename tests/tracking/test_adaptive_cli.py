"""``cspdet track --adaptive`` / ``detect --adaptive`` end to end: the summary says what the key
frames saved, every frame is still written, and misuse is a one-line error."""
import re

import cv2
import pytest

from detector.cli import main
from detector.data.synthetic_tracks import make_tracking_videos, read_mot
from detector.resources import default_weights_path

FRAMES = 40


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_tracking_videos(tmp_path_factory.mktemp("clips"), 1, n_frames=FRAMES, stop_go=True, entering=1)[0]


def run(cmd, clip, project, *extra):
    return main([cmd, "--weights", str(default_weights_path()), "--source", str(clip), "--img-size", "128",
                 "--threads", "1", "--project", str(project), *extra])


def test_track_adaptive_writes_every_frame_and_reports_the_calls(clip, tmp_path, capsys):
    assert run("track", clip, tmp_path, "--adaptive", "--nosave") == 0
    out = capsys.readouterr().out
    calls = int(re.search(rf"adaptive: {FRAMES} frames, (\d+) detector calls \(\d+%\), (\d+) propagated", out)[1])
    assert 2 <= calls < FRAMES and "key frames: first 1" in out
    assert re.search(r"energy: .* \| CPU \d\.\d+ s/frame", out)
    rows = read_mot(tmp_path / "exp" / "tracks" / "track_000.txt")
    assert set(rows[:, 0].astype(int)) == set(range(1, FRAMES + 1))  # propagated frames are reported too


def test_detect_adaptive_on_video_saves_the_tracked_boxes(clip, tmp_path, capsys):
    assert run("detect", clip, tmp_path, "--adaptive", "--key-interval", "4", "--no-flow") == 0
    out = capsys.readouterr().out
    assert "adaptive: 40 frames" in out
    cap = cv2.VideoCapture(str(next((tmp_path / "exp").glob("*.mp4"))))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES


def test_coast_adds_predicted_rows(clip, tmp_path):
    assert run("track", clip, tmp_path / "a", "--nosave") == 0
    assert run("track", clip, tmp_path / "b", "--nosave", "--coast", "5") == 0
    plain = read_mot(tmp_path / "a" / "exp" / "tracks" / "track_000.txt")
    coasted = read_mot(tmp_path / "b" / "exp" / "tracks" / "track_000.txt")
    assert len(coasted) > len(plain)


@pytest.mark.parametrize("extra, message", [
    (["--adaptive", "--streams", "2"], "drop --streams"),
    (["--adaptive", "--adaptive-size", "96", "--backend", "onnxruntime"], "fixed"),
])
def test_misuse_is_a_one_line_error(clip, tmp_path, capsys, extra, message):
    assert run("track", clip, tmp_path, *extra) == 2
    err = "\n".join(ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("auto: "))
    assert message in err and "\n" not in err  # the error is one line (after auto's line saying what it runs)


def test_detect_adaptive_refuses_unrelated_images(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cap = cv2.VideoCapture(str(make_tracking_videos(tmp_path, 1, n_frames=2)[0]))
    cv2.imwrite(str(folder / "a.jpg"), cap.read()[1])
    assert run("detect", folder, tmp_path / "runs", "--adaptive") == 2
    assert "--adaptive needs frames in order" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())

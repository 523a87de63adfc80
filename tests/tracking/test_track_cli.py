"""``cspdet track`` end to end: the shipped shapes model on a generated clip, scored against its
ground truth with motmetrics; frame order under --streams, --vid-stride numbering, a source
that ends early, and the Python API."""
import re

import cv2
import pytest

from detector.cli import main
from detector.data.synthetic_tracks import read_mot
from detector.resources import default_weights_path

from .mot import score

WEIGHTS = default_weights_path()
FRAMES = 60
# First measurement (seed 0, 60 frames, --img-size 128): MOTA 0.806, IDF1 0.848, 5 ID switches
# (19 misses, 20 false positives); the bounds leave room for other CPUs' rounding.
MIN_MOTA, MIN_IDF1, MAX_SWITCHES = 0.70, 0.75, 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    assert main(["synth", str(out), "--videos", "1", "--frames", str(FRAMES), "--seed", "0"]) == 0
    return out / "track_000.avi"


def track(clip, project, *extra):
    argv = ["track", "--weights", str(WEIGHTS), "--source", str(clip), "--img-size", "128", "--threads", "1",
            "--project", str(project), *extra]
    assert main(argv) == 0
    return sorted(project.glob("exp*"))[-1] / "tracks"


def test_shipped_model_tracks_the_generated_clip(clip, tmp_path, capsys):
    tracks = track(clip, tmp_path / "runs", "--trail", "10")
    m = score(read_mot(clip.with_suffix(".txt")), read_mot(tracks / "track_000.txt"))
    assert m["mota"] >= MIN_MOTA and m["idf1"] >= MIN_IDF1 and m["num_switches"] <= MAX_SWITCHES, m
    summary = (tracks / "track_000_summary.csv").read_text().splitlines()
    assert summary[0] == "id,class,first_frame,last_frame,length" and len(summary) > 4
    assert re.search(r"\d+ tracks of 1\+ frames", capsys.readouterr().out)
    cap = cv2.VideoCapture(str(tracks.parent / "track_000.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES


def test_streams_keep_frame_order(clip, tmp_path):
    one = (track(clip, tmp_path / "a", "--nosave") / "track_000.txt").read_text()
    two = (track(clip, tmp_path / "b", "--nosave", "--streams", "2") / "track_000.txt").read_text()
    assert one == two and one


def test_vid_stride_keeps_the_video_frame_numbers(clip, tmp_path):
    rows = read_mot(track(clip, tmp_path, "--nosave", "--vid-stride", "3") / "track_000.txt")
    assert set(rows[:, 0].astype(int)) <= set(range(1, FRAMES + 1, 3)) and len(rows)


def test_a_source_that_ends_early_ends_the_tracks_with_the_summary(clip, tmp_path, capsys):
    cut = tmp_path / "cut.avi"
    data = clip.read_bytes()
    cut.write_bytes(data[:len(data) // 2])  # the file stops mid-frame, as a dropped stream
    tracks = track(cut, tmp_path / "runs", "--nosave")
    rows = [ln.split(",") for ln in (tracks / "cut_summary.csv").read_text().splitlines()[1:]]
    assert rows and all(int(r[3]) < FRAMES for r in rows)  # last frames: before the cut
    assert "tracks of 1+ frames" in capsys.readouterr().out


def test_detector_track_yields_results_with_ids(clip):
    from detector import Detector
    from detector.runtime.tracking import ByteTracker

    det = Detector(WEIGHTS, img_size=128, conf_thres=0.1, agnostic=True, threads=1)
    tracker = ByteTracker(track_buffer=10)
    frames = []
    cap = cv2.VideoCapture(str(clip))
    for _ in range(10):
        frames.append(cap.read()[1])
    from_arrays = [r.ids.tolist() for r in det.track(frames, tracker=tracker)]
    from_file = [r.ids.tolist() for r, _ in zip(det.track(str(clip), track_buffer=10), range(10))]
    assert from_arrays == from_file and len(from_arrays) == 10 and from_arrays[-1]
    assert [t.id for t in tracker.summary()] == sorted({i for ids in from_arrays for i in ids})
    r = next(iter(det.track(frames[:1], trail=5)))
    assert r.plot().shape == frames[0].shape and len(r.ids) == len(r) and "track" in r.speed


def test_a_folder_of_frames_is_one_sequence(clip, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(clip))
    for i in range(8):
        cv2.imwrite(str(frames / f"{i:04d}.png"), cap.read()[1])
    rows = read_mot(track(frames, tmp_path / "runs") / "frames.txt")
    assert set(rows[:, 0].astype(int)) == set(range(1, 9)) and len(set(rows[:, 1])) >= 3
    assert len(list((tmp_path / "runs" / "exp").glob("*.png"))) == 8

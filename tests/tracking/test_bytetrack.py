"""ByteTrack on known boxes: perfect detections keep every identity (IDF1 = 1), gaps within the
buffer keep the ID, tracks end and are summarised, and the package stays light."""
import subprocess
import sys

import numpy as np
import pytest

from detector.data.synthetic_tracks import tracking_frames
from detector.runtime.results import Results
from detector.runtime.tracking import ByteTracker, TrackSession
from detector.runtime.tracking.draw import Trails, id_colour

from .mot import score

NAMES = ["circle", "square", "triangle", "cross"]


def box(x, y, s=20):
    return [x, y, x + s, y + s]


def test_perfect_detections_keep_every_identity(tmp_path):
    """The generated clip's ground truth, fed as detections: crossing shapes and pillar gaps
    must not switch or break an ID."""
    session = TrackSession(ByteTracker(), NAMES, out_dir=tmp_path, seq="perfect")
    gt_rows = []
    for f, (_, gt) in enumerate(tracking_frames(120, (128, 192), seed=0), 1):
        res = Results(gt[:, 2:6].astype(np.float32), np.ones(len(gt), np.float32), gt[:, 1].astype(int), NAMES)
        session.track(res, f)
        gt_rows += [[f, i, x1, y1, x2 - x1, y2 - y1] for i, _, x1, y1, x2, y2, _ in gt]
    session.close()
    hyp = np.loadtxt(tmp_path / "perfect.txt", delimiter=",", ndmin=2)
    gaps = len(gt_rows) < 4 * 120  # the clip does hide objects at times
    m = score(np.array(gt_rows), hyp)
    assert gaps and m["idf1"] == 1.0 and m["mota"] == 1.0 and m["num_switches"] == 0, m


def test_a_gap_within_the_buffer_keeps_the_id_and_a_longer_one_ends_the_track():
    tr = ByteTracker(track_buffer=5)
    seen = []
    for f in range(1, 30):
        x = 10 + 3 * f
        present = not (8 <= f < 12 or f >= 20)  # hidden 4 frames, then gone for good
        out = tr.update([box(x, 50)] if present else np.zeros((0, 4)), [0.9] * present, [2] * present, f)
        seen += out.ids.tolist()
    assert set(seen) == {1}
    (t,) = tr.summary()
    assert (t.id, t.label, t.first, t.last, t.length) == (1, 2, 1, 19, 15)
    assert not tr.lost and not tr.active  # removed once the buffer ran out


def test_low_score_boxes_keep_a_track_but_do_not_start_one():
    tr = ByteTracker()
    tr.update([box(10, 10)], [0.9], [0], 1)
    out = tr.update([box(12, 10), box(100, 100)], [0.15, 0.15], [0, 1], 2)
    assert out.ids.tolist() == [1] and len(tr.confirmed) == 1


def test_ids_are_given_on_confirmation_without_gaps():
    """A box seen once after the first frame (a false positive) takes no ID."""
    tr = ByteTracker()
    tr.update([box(10, 10)], [0.9], [0], 1)
    tr.update([box(11, 10), box(100, 10)], [0.9, 0.9], [0, 0], 2)  # new box: unconfirmed
    tr.update([box(12, 10), box(150, 80)], [0.9, 0.9], [0, 0], 3)  # it is gone, another appears
    out = tr.update([box(13, 10), box(151, 80)], [0.9, 0.9], [0, 0], 4)
    assert sorted(out.ids.tolist()) == [1, 2]


def test_min_len_holds_rows_back_until_a_track_qualifies(tmp_path):
    session = TrackSession(ByteTracker(), NAMES, out_dir=tmp_path, seq="s", min_len=3)
    for f in range(1, 6):
        boxes = [box(10 + f, 10)] + ([box(100, 60)] if f <= 2 else [])  # the second lasts 2 frames
        session.track(Results(np.array(boxes, np.float32), np.full(len(boxes), 0.9, np.float32),
                              np.array([1] * len(boxes)), NAMES), f)
    assert "1 tracks of 3+ frames" in session.close()
    rows = np.loadtxt(tmp_path / "s.txt", delimiter=",", ndmin=2)
    assert rows[:, 0].tolist() == [1, 2, 3, 4, 5] and set(rows[:, 1]) == {1}
    assert rows[0, 7:].tolist() == [-1, -1, -1]
    assert (tmp_path / "s_summary.csv").read_text().splitlines() == [
        "id,class,first_frame,last_frame,length", "1,square,1,5,5"]


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="low_thresh"):
        ByteTracker(low_thresh=0.5, high_thresh=0.3)
    with pytest.raises(ValueError, match="min-track-len"):
        TrackSession(ByteTracker(), NAMES, min_len=0)


def test_trails_and_colours():
    trails = Trails(3)
    for f in range(5):
        pts = trails.update(np.array([box(f, 0, 10)], np.float64), np.array([7]))
    assert pts[7].tolist() == [[7, 5], [8, 5], [9, 5]]
    assert id_colour(1) != id_colour(2) and id_colour(1) == id_colour(1)


def test_import_detector_needs_no_tracking_library():
    code = ("import sys, detector, detector.cli.track, detector.runtime.results; "
            "assert 'scipy' not in sys.modules, 'scipy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    tr = ByteTracker()
    tr.update([box(0, 0)], [0.9], [0])  # nothing to assign yet
    with pytest.raises(ImportError, match=r'pip install "cspdet\[track\]"'):
        tr.update([box(0, 0)], [0.9], [0])

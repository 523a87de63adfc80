"""Generated tracking clips: seeded, with MOT ground truth that hides what is hidden."""
import numpy as np

from detector.cli import main
from detector.data.synthetic_tracks import MIN_VISIBLE, read_mot, tracking_frames


def test_a_seed_fixes_the_clip_and_the_ground_truth_holds_what_is_seen():
    a, b = list(tracking_frames(30, (96, 144), seed=3)), list(tracking_frames(30, (96, 144), seed=3))
    assert all(np.array_equal(fa, fb) and np.array_equal(ga, gb) for (fa, ga), (fb, gb) in zip(a, b))
    assert not np.array_equal(a[0][0], next(tracking_frames(1, (96, 144), seed=4))[0])
    gt = np.concatenate([g for _, g in a])
    assert set(gt[:, 0]) == {1, 2, 3, 4} and (gt[:, 6] >= MIN_VISIBLE).all()
    assert len(a[0][1]) == 4  # every object is in the first frame
    assert (gt[:, 2:4] >= 0).all() and (gt[:, 4] <= 144).all() and (gt[:, 5] <= 96).all()


def test_synth_videos_writes_clips_and_mot_ground_truth(tmp_path):
    assert main(["synth", str(tmp_path / "c"), "--videos", "2", "--frames", "5", "--video-objects", "3"]) == 0
    for v in ("track_000", "track_001"):
        rows = read_mot(tmp_path / "c" / f"{v}.txt")
        assert rows.shape[1] == 9 and set(rows[:, 0]) <= {1, 2, 3, 4, 5} and set(rows[:, 1]) <= {1, 2, 3}
    assert main(["synth", str(tmp_path / "d"), "--videos", "1", "--video-objects", "1"]) == 2

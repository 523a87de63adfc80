"""The synthetic shapes dataset and demo media: deterministic, valid, shape-discriminative."""
import hashlib
import warnings

import cv2
import numpy as np
import pytest

from detector.data import build_dataset, make_demo_images, make_demo_video, make_synthetic_dataset
from detector.data.synthetic import SHAPES, demo_frames, shape_mask


def digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.endswith(".cache.json"):
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_dataset_labels_are_valid_and_balanced(tmp_path):
    yaml_path = make_synthetic_dataset(tmp_path, n_train=100, n_val=20, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every label passes validation
        train = build_dataset(yaml_path, "train", img_size=256)
        val = build_dataset(yaml_path, "val", img_size=256)
    assert len(train) == 100 and len(val) == 20 and train.names == ["circle", "square", "triangle", "cross"]
    labels = np.concatenate(train.labels)
    counts = np.bincount(labels[:, 0].astype(int), minlength=4)
    assert counts.min() > 0.15 * len(labels)  # classes roughly balanced
    sides = labels[:, 3:] * 256
    assert sides.min() >= 12 and sides.max() <= 150 and 35 < np.median(sides) < 80
    assert all(len(lb) for lb in train.labels)


def test_same_seed_same_bytes(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        make_synthetic_dataset(tmp_path / name, n_train=12, n_val=4, img_size=(96, 128), seed=seed)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_a_rerun_with_fewer_images_leaves_no_stale_files(tmp_path):
    make_synthetic_dataset(tmp_path, n_train=6, n_val=2, img_size=(64, 96))
    make_synthetic_dataset(tmp_path, n_train=3, n_val=1, img_size=(64, 96))
    assert len(list((tmp_path / "images" / "train").glob("*.jpg"))) == 3
    assert len(list((tmp_path / "labels" / "val").glob("*.txt"))) == 1
    assert cv2.imread(str(tmp_path / "images" / "train" / "train_00000.jpg")).shape == (64, 96, 3)


def test_shapes_are_told_apart_by_their_fill_of_the_box_not_by_colour():
    fills = {}
    for shape in SHAPES:
        mask = shape_mask(shape, (200, 200), (100, 100), 60, angle=0, aspect=1.0)
        x, y, w, h = cv2.boundingRect(mask)
        fills[shape] = (mask > 0).sum() / (w * h)
    assert fills["square"] > 0.97 and 0.74 < fills["circle"] < 0.82 and 0.45 < fills["triangle"] < 0.55
    assert 0.5 < fills["cross"] < 0.65 and fills["ring"] < 0.6
    with pytest.raises(ValueError, match="classes must be distinct names"):
        make_synthetic_dataset("unused", classes=("circle", "blob"))


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_demo_video_plays_back_with_every_frame(tmp_path, suffix):
    path = make_demo_video(tmp_path / f"demo{suffix}", n_frames=12, img_size=(120, 160), fps=10)
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 12 and frames[0].shape == (120, 160, 3)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1  # things moved
    with pytest.raises(ValueError, match="suffix must be one of"):
        make_demo_video(tmp_path / "demo.gif")


def test_demo_frames_keep_objects_inside_and_images_are_written(tmp_path):
    for frame, labels in demo_frames(n_frames=40, img_size=(96, 128), seed=1, n_objects=3):
        assert frame.shape == (96, 128, 3) and labels.shape == (3, 5)
        assert (labels[:, 1:] >= 0).all() and (labels[:, 1:] <= 1).all()
    paths = make_demo_images(tmp_path / "imgs", n=3, img_size=(90, 120))
    assert [p.name for p in paths] == ["demo_000.jpg", "demo_001.jpg", "demo_002.jpg"]
    assert all(cv2.imread(str(p)).shape == (90, 120, 3) for p in paths)


def test_synth_cli_writes_a_trainable_dataset_and_never_overwrites(tmp_path, capsys):
    from detector.cli import main
    from detector.data import load_data_config

    out = tmp_path / "shapes"
    assert main(["synth", str(out), "--train", "5", "--val", "2", "--img-size", "96", "--classes", "circle", "cross",
                 "--seed", "4"]) == 0
    cfg = load_data_config(out / "data.yaml")
    assert cfg.names == ["circle", "cross"]
    ds = build_dataset(cfg, "train", img_size=96, augment=False)
    assert len(ds) == 5 and all(ds[i][0].shape[-2:] == (96, 96) for i in range(5))
    assert "train with: cspdet train --data" in capsys.readouterr().out
    before = sorted(p.name for p in (out / "images" / "train").iterdir())
    assert main(["synth", str(out), "--train", "1", "--val", "1"]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == before
    assert main(["synth", str(tmp_path / "bad"), "--sizes", "50", "10"]) == 2

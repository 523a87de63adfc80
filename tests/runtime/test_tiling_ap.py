"""The proof that tiling pays: small objects in generated 4K images, scored with pycocotools
through ``cspdet synth`` and ``cspdet val`` (docs/tiling.md has the larger measurement)."""
import json

import pytest

from detector.cli import main

from tests.conftest import REPO

SHAPES = REPO / "weights" / "cspdet-shapes.pt"


@pytest.fixture(scope="module")
def four_k(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth4k") / "set"
    assert main(["synth", str(out), "--train", "1", "--val", "2", "--img-size", "2160", "3840",
                 "--sizes-px", "20", "48", "--objects", "30", "40", "--seed", "4"]) == 0
    return out / "data.yaml"


def val_metrics(data, tmp_path, name, *extra) -> dict:
    argv = ["val", "--weights", str(SHAPES), "--data", str(data), "--img-size", "128", "--project",
            str(tmp_path), "--name", name, *extra]
    assert main(argv) == 0
    return json.loads((tmp_path / name / "metrics.json").read_text())


def test_tiles_raise_small_object_ap_on_4k_images(four_k, tmp_path, capsys):
    plain = val_metrics(four_k, tmp_path, "plain")
    tiled = val_metrics(four_k, tmp_path, "tiled", "--tile", "256")
    capsys.readouterr()
    # measured: APs 0.000 -> 0.140, AP50 0.000 -> 0.460, AP 0.000 -> 0.307 (the whole image at
    # 128 px shows 20-48 px shapes as 1-3 px dots; 256-px tiles at 128 px as 10-24 px shapes)
    assert plain["APs"] < 0.02 and plain["AP50"] < 0.05
    assert tiled["APs"] > 0.10 and tiled["AP50"] > 0.35
    assert tiled["APs"] - plain["APs"] > 0.10


def test_detect_takes_the_tile_flags(four_k, tmp_path, capsys):
    image = four_k.parent / "images" / "val" / "val_00000.jpg"
    assert main(["detect", "--weights", str(SHAPES), "--source", str(image), "--img-size", "128", "--tile", "256",
                 "--tile-overlap", "0.25", "--tile-merge", "nms", "--project", str(tmp_path), "--save-txt"]) == 0
    labels = (tmp_path / "exp" / "labels" / "val_00000.txt").read_text().splitlines()
    assert len(labels) > 10  # the shapes of a 4K image, found through its tiles (16 at conf 0.25)
    assert main(["detect", "--weights", str(SHAPES), "--source", str(image), "--tile", "256",
                 "--tile-overlap", "0.95"]) == 2
    assert "--tile-overlap" in capsys.readouterr().err


def test_track_takes_the_tile_flags(tmp_path, capsys):
    import cv2
    import numpy as np

    from .test_tiling import moving_shapes

    frames, _ = moving_shapes()
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames[0].shape[1::-1])
    for f in frames:
        writer.write(f)
    writer.release()
    assert main(["track", "--weights", str(SHAPES), "--source", str(clip), "--img-size", "128", "--tile", "256",
                 "--project", str(tmp_path), "--nosave"]) == 0
    mot = np.loadtxt(tmp_path / "exp" / "tracks" / "clip.txt", delimiter=",", ndmin=2)
    ids, counts = np.unique(mot[:, 1], return_counts=True)
    assert (counts >= 5).sum() >= 3  # most of the four small shapes tracked through the clip

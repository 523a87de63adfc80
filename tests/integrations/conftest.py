"""Inputs the Ray integration tests share: a few pictures the shapes model finds things in, a
corrupt one, and short videos of a moving square."""
import cv2
import numpy as np
import pytest

from tests.app.conftest import scene
from tests.conftest import REPO
from tests.robustness.helpers import write_video

WEIGHTS = REPO / "weights" / "cspdet-shapes.pt"
SIZE = 256  # small inputs keep every test's inference in milliseconds


def shapes_picture(seed: int, h: int = 240, w: int = 320) -> np.ndarray:
    """``scene`` plus a filled circle and a square, which the shapes model detects."""
    img = scene(seed, h, w)
    rng = np.random.default_rng(seed + 100)
    cx, cy = int(rng.integers(60, w - 60)), int(rng.integers(60, h - 60))
    cv2.circle(img, (cx, cy), 35, (40, 220, 240), -1)
    cv2.rectangle(img, (10, 10), (70, 70), (230, 60, 30), -1)
    return img


@pytest.fixture
def pictures(tmp_path):
    """A folder: 000.jpg..003.jpg, a PNG, a corrupt JPEG and a text file (not listed)."""
    d = tmp_path / "pictures"
    d.mkdir()
    for i in range(4):
        cv2.imwrite(str(d / f"{i:03d}.jpg"), shapes_picture(i))
    cv2.imwrite(str(d / "scene.png"), shapes_picture(9))
    (d / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    """Two short videos of a moving square (24 and 15 frames) and a file that is no video."""
    d = tmp_path_factory.mktemp("videos")
    write_video(d / "a.mp4", frames=24)
    write_video(d / "b.mp4", frames=15)
    (d / "c.mp4").write_bytes(b"not a video")
    return d

import cv2
import numpy as np
import pytest

from detector.export import export_onnx
from tests.models_helpers import seeded_prn


def scene(seed: int, h: int = 240, w: int = 320) -> np.ndarray:
    """A deterministic BGR test picture: noise background with a few filled shapes."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    for _ in range(3):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        cv2.rectangle(img, (x, y), (x + 50, y + 40), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return img


@pytest.fixture(scope="session")
def tiny_model():
    """A seeded csppeleenet-prn (the smallest config) with non-trivial BN statistics."""
    return seeded_prn()


@pytest.fixture(scope="session")
def model_files(tiny_model, tmp_path_factory):
    """The same seeded model as a cspdet .pt and as a static 160x160 ONNX file."""
    from detector.models.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("models")
    pt = save_checkpoint(d / "tiny.pt", tiny_model)
    onnx_path = export_onnx(tiny_model, d / "tiny.onnx", img_size=160)
    return pt, onnx_path


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        cv2.imwrite(str(d / f"{i:03d}.jpg"), scene(i))
    (d / "broken.jpg").write_bytes(b"not a jpeg")
    (d / "notes.md").write_text("ignored")
    return d


@pytest.fixture
def video_file(tmp_path):
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    assert vw.isOpened()
    for i in range(7):
        vw.write(scene(i))
    vw.release()
    return path

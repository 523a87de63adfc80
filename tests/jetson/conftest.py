"""Shared pieces of the Jetson tests: the standalone demo runtime, seeded exported models, images.

The demo (demos/jetson) is not part of the package: it runs on the device without it. Its
``cspdet_rt`` package is loaded here from its file, as ``python3 cspdet_jetson.py`` would find it.
"""
import importlib.util
import sys

import cv2
import numpy as np
import pytest
import torch

from detector.export import export_jetson
from detector.geometry.letterbox import preprocess
from tests.conftest import REPO, shared_dir
from tests.export.helpers import random_model

DEMO = REPO / "demos" / "jetson"
SIZE = 160


def _load(name: str, path, package_dir=None):
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(package_dir)] if package_dir else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def demo_rt():
    """The demo's ``cspdet_rt`` package."""
    return _load("cspdet_rt", DEMO / "cspdet_rt" / "__init__.py", DEMO / "cspdet_rt")


@pytest.fixture(scope="session")
def demo_app(demo_rt):
    """The demo's entry script ``cspdet_jetson.py`` (it imports ``cspdet_rt``, loaded above)."""
    return _load("cspdet_jetson", DEMO / "cspdet_jetson.py")


def scene(seed: int, h: int = 300, w: int = 420) -> np.ndarray:
    """A deterministic BGR picture: a smooth gradient with filled shapes, not square."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = np.linspace(40, 200, w, dtype=np.uint8)[None, :, None]
    for _ in range(5):
        x, y = int(rng.integers(0, w - 80)), int(rng.integers(0, h - 80))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 80)), y + int(rng.integers(20, 80))), color, -1)
        else:
            cv2.circle(img, (x + 40, y + 40), int(rng.integers(10, 40)), color, -1)
    return img


@pytest.fixture(scope="session")
def images() -> list:
    """The first 4 coco128 images when the shared data is there, plus 2 synthetic scenes."""
    files = sorted((shared_dir() / "data" / "coco128" / "images").glob("*.jpg"))[:4]
    return [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files] + [scene(1), scene(2)]


def seeded_model(name: str, images: list):
    """``name`` with seeded weights, BN statistics calibrated on ``images`` and zeroed head
    biases: without the training prior (scores ~1e-5) scores spread over ~0.2..0.8, so a random
    model has detections to compare."""
    blob, _ = preprocess(images, SIZE)
    model = random_model(name, torch.from_numpy(blob), seed=0, head_scale=1.0)
    with torch.no_grad():
        for conv in model.head.convs:
            conv.bias.zero_()
    return model


@pytest.fixture(scope="session")
def jetson_models(images, tmp_path_factory):
    """Jetson exports at 160: the paper's TX2 model EFM(SAM)-CSPPeleeNet with the decoder in the
    graph, and CSPPeleeNet-PRN with raw outputs (decoded in numpy on the device)."""
    d = tmp_path_factory.mktemp("jetson")
    return {"decoded": export_jetson(seeded_model("csppeleenet-efm-sam", images), d / "efm-sam.onnx", SIZE),
            "raw": export_jetson(seeded_model("csppeleenet-prn", images), d / "prn-raw.onnx", SIZE, raw=True)}

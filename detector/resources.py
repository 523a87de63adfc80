"""Files that ship with cspdet: model YAMLs, the default weights and the demo media.

In a checkout they live at the repository's top level (``configs/models``, ``weights``,
``demos/media``); a built wheel carries copies inside the package (``detector/_assets``, written
by ``setup.py``'s build step). ``importlib.resources`` finds the packaged copies first, so an
installed cspdet works from any working directory; the source tree is the fallback for
editable installs and plain checkouts.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

# kind -> (folder inside detector/_assets, folder in the source tree, files the wheel carries)
ASSETS = {
    "configs": ("configs", "configs/models", ("*.yaml",)),
    "weights": ("weights", "weights", ("cspdet-shapes.pt", "README.md")),
    "media": ("media", "demos/media", ("*.jpg", "*.mp4")),
}
DEFAULT_WEIGHTS_NAME = "cspdet-shapes.pt"


def asset_dir(kind: str) -> Path:
    """The folder holding one kind of shipped file (see ``ASSETS``); it may not exist."""
    packaged, source, _ = ASSETS[kind]
    root = importlib.resources.files("detector")
    candidate = Path(str(root / "_assets" / packaged))
    if candidate.is_dir():
        return candidate
    return Path(__file__).resolve().parents[1] / source


def config_dir() -> Path:
    """Where the model YAMLs (``csppeleenet-efm-sam.yaml``, ...) are."""
    return asset_dir("configs")


def default_weights_path() -> Path:
    """The shipped trained model (``cspdet-shapes.pt``)."""
    return asset_dir("weights") / DEFAULT_WEIGHTS_NAME


def demo_media_dir() -> Path:
    """The shipped demo images and video."""
    return asset_dir("media")

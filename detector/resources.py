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


FALLBACK_MODEL = "csppeleenet-efm-sam"
# Short names for the bundled media, valid wherever a source is (``--source demo``,
# ``Detector.track("demo")``); a file or folder of that name in the working folder wins.
DEMO_SOURCES = {"demo": "demo.mp4", "demo-images": "demo_*.jpg"}


def default_model() -> str:
    """What ``Detector()`` and every ``--weights`` left out load: the bundled trained model, or,
    should an install lack it, a seeded random EFM(SAM)-CSPPeleeNet (with a warning saying so)."""
    path = default_weights_path()
    if path.is_file():
        return str(path)
    import warnings

    warnings.warn(f"{path} not found; using a randomly initialised {FALLBACK_MODEL} (boxes will be meaningless)",
                  stacklevel=2)
    return FALLBACK_MODEL


def demo_video() -> Path:
    """The bundled clip (``--source demo``): 60 frames of the shapes the bundled model knows."""
    return demo_media_dir() / DEMO_SOURCES["demo"]


def demo_images() -> list[Path]:
    """The bundled still images (``--source demo-images``), sorted."""
    return sorted(demo_media_dir().glob(DEMO_SOURCES["demo-images"]))


def resolve_source(spec: str) -> str:
    """``spec``, or the bundled file a short name in ``DEMO_SOURCES`` stands for."""
    if spec in DEMO_SOURCES and not Path(spec).exists():
        folder = demo_media_dir()
        if not any(folder.glob(DEMO_SOURCES[spec])):
            raise FileNotFoundError(f"--source {spec}: the bundled demo media ({folder / DEMO_SOURCES[spec]}) are "
                                    "missing from this install")
        return str(folder.resolve() / DEMO_SOURCES[spec])
    return spec

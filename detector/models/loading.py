"""One entry point for every model source a subcommand's ``--weights`` accepts.

- ``model.pt``: a cspdet checkpoint (from training or ``cspdet convert``);
- ``configs/models/x.yaml`` or a config name: the architecture with seeded random weights, for
  benchmarking and export tests;
- ``x.cfg``: a Darknet cfg with seeded random weights;
- ``x.weights`` (with ``cfg=`` or a same-named ``.cfg`` beside it), or ``cfg=x.cfg`` with
  ``weights=x.weights``: an official Darknet model, loaded exactly;
- a zoo name (``yolov4``, ``cspdet-shapes``, ... see ``cspdet models``): the cached official
  files, downloaded on first use (``zoo.resolve_weights``).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..io.text import read_text
from .checkpoint import load_checkpoint
from .config import config_from_dict, load_config
from .detector import YOLODetector
from .zoo import resolve_weights

YAML_SUFFIXES = (".yaml", ".yml")


def _darknet(cfg_path: Path, weights: Path | None, names: list[str] | None):
    from ..darknet.detector import DarknetDetector

    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path}: no such Darknet cfg")
    model = DarknetDetector.from_text(read_text(cfg_path), str(cfg_path), names=names)
    if weights is not None:
        model.load_darknet_weights(weights)
    return model


def model_from_arch(arch: dict, names: list[str] | None, source: str) -> nn.Module:
    """Rebuild the architecture a checkpoint's ``arch`` entry describes."""
    kind = arch.get("type")
    if kind == "yaml":
        config = config_from_dict(arch["config"], f"{source} (embedded config)")
        try:
            return YOLODetector(config, arch.get("widths"))
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
    if kind == "darknet":
        from ..darknet.detector import DarknetDetector

        return DarknetDetector.from_text(arch["cfg"], arch.get("source", source), names=names)
    raise ValueError(f"{source}: unknown architecture type {kind!r} in checkpoint")


def load_detector(weights: str | Path, *, cfg: str | Path | None = None,
                  names: list[str] | None = None, seed: int = 0) -> nn.Module:
    """Build a detector in eval mode from any supported source (see module docstring)."""
    weights, cfg = resolve_weights(weights, cfg)
    path = Path(weights)
    suffix = path.suffix.lower()
    if suffix == ".pt":
        ckpt = load_checkpoint(path)
        model = model_from_arch(ckpt["arch"], ckpt["names"], str(path))
        state = ckpt.get("ema") or ckpt["model"]
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: weights do not fit the stored architecture "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        model.names = list(ckpt["names"]) if names is None else list(names)
        if names is None and ckpt.get("category_ids") is not None:  # renamed classes: the ids no longer apply
            model.category_ids = [int(i) for i in ckpt["category_ids"]]
        return model.eval()
    torch.manual_seed(seed)
    if suffix == ".weights":
        if not path.is_file():
            raise FileNotFoundError(f"--weights {path}: no such Darknet .weights file")
        cfg_path = Path(cfg) if cfg else path.with_suffix(".cfg")
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{path}: Darknet weights need their .cfg (pass --cfg; "
                                    f"{cfg_path.name} is not beside it)")
        return _darknet(cfg_path, path, names).eval()
    if suffix == ".cfg":
        return _darknet(path, None, names).eval()
    if suffix in YAML_SUFFIXES or not suffix:
        model = YOLODetector(load_config(path))
        if names is not None:
            model.names = list(names)
        return model.eval()
    raise ValueError(f"--weights {weights}: unsupported model file (use .pt, .yaml, .cfg or .weights)")


def read_names(path: str | Path) -> list[str]:
    """Class names from a Darknet ``.names`` file (one per line, blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such names file")
    names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{path}: names file is empty")
    return names

"""Where a training run's model comes from, and which part of it stays fixed.

yolov5's conventions: ``--cfg X.yaml|X.cfg`` alone is an architecture trained from scratch;
``--weights X.pt|X.weights|NAME`` starts from those weights (``--cfg`` names the Darknet cfg
of a ``.weights``). When the data has other classes than the weights, the head is rebuilt for
them (YAML models: the head's output convs; Darknet: ``classes=`` and the conv feeding each
``[yolo]``, rewritten in the cfg text) and every other tensor is copied.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..models.loading import YAML_SUFFIXES, load_detector
from .config import WEIGHT_SUFFIXES


def check_sources(weights: str, cfg: str) -> None:
    """One-line errors for --weights/--cfg combinations that mean something else."""
    w, c = Path(weights).suffix.lower(), Path(cfg).suffix.lower()
    if weights and w in YAML_SUFFIXES + (".cfg",):
        raise ValueError(f"--weights {weights}: an architecture, not weights; pass it as --cfg {weights} "
                         "to train from scratch")
    if cfg and c in WEIGHT_SUFFIXES:
        raise ValueError(f"--cfg {cfg}: weights, not an architecture; pass it as --weights {cfg}")
    if weights and cfg and w == ".pt":
        raise ValueError(f"--cfg {cfg}: --weights {weights} carries its own architecture; drop --cfg "
                         "(it goes with a Darknet .weights)")


def load_pretrained(weights: str, cfg: str = "") -> nn.Module:
    """The one place a --weights value becomes a model: a .pt, a Darknet .weights with its
    .cfg, or (through ``load_detector``, where the model zoo resolves them) a name."""
    try:
        return load_detector(weights, cfg=cfg or None)
    except ValueError as e:
        if Path(weights).suffix.lower() != ".weights" or "expected" not in str(e):
            raise
        raise ValueError(f"{e} (--cfg must be the cfg the weights were trained with; training rewrites "
                         "the class count itself)") from None


def transfer_state(source: nn.Module, target: nn.Module) -> tuple[list[str], list[str]]:
    """Copy each tensor of ``source``'s state into ``target`` where name and shape agree.

    Returns (loaded, reinitialised): the names of ``target``'s state entries in each group."""
    src = source.state_dict()
    loaded, fresh = [], []
    with torch.no_grad():
        for name, value in target.state_dict().items():
            if name in src and src[name].shape == value.shape:
                value.copy_(src[name])
                loaded.append(name)
            else:
                fresh.append(name)
    return loaded, fresh


def with_classes(model: nn.Module, names: list[str]) -> tuple[nn.Module, list[str], list[str]]:
    """``model`` with a head for ``names`` and every other tensor kept: (model, loaded,
    reinitialised). Unchanged (all loaded) when the class count already fits."""
    if model.num_classes == len(names):
        return model, list(model.state_dict()), []
    new = model.with_classes(list(names))
    loaded, fresh = transfer_state(model, new)
    return new, loaded, fresh


def initial_model(weights: str, cfg: str, names: list[str]) -> tuple[nn.Module, str | None]:
    """The model a new run starts from, and (when it starts from weights) a line saying how
    many tensors were loaded and how many re-initialised."""
    check_sources(weights, cfg)
    if not weights:
        model, _, _ = with_classes(load_detector(cfg), names)
        model.reset_head_bias()  # a Darknet cfg's head starts at the same prior as a YAML head
        return model, None
    model, loaded, fresh = with_classes(load_pretrained(weights, cfg), names)
    line = f"weights {weights}: {len(loaded)} tensors loaded, {len(fresh)} re-initialised"
    if fresh:
        line += f" (the head for {len(names)} classes: {', '.join(fresh[:4])}{', ...' if len(fresh) > 4 else ''})"
    return model, line


def parse_freeze(value: str) -> int | str:
    """--freeze: '' or N (a count) or 'backbone'."""
    if value in ("", "backbone"):
        return value
    if not value.isdigit():
        raise ValueError(f"--freeze {value}: give a count N (the first N layers) or 'backbone'")
    return int(value)


def freeze(model: nn.Module, value: str) -> list[tuple[str, nn.Module]]:
    """Stop training the units ``--freeze`` names; returns them (name, module).

    A unit is a cfg layer for Darknet models, a backbone stage (stem, stage1, ...) for YAML
    models (``model.freeze_units()``); 'backbone' is ``model.backbone_units`` of them. Their
    parameters get requires_grad False; ``frozen_eval`` keeps their batch norms in eval.
    """
    n = parse_freeze(value)
    if n == "":
        return []
    units = model.freeze_units()
    n = model.backbone_units if n == "backbone" else n
    if n > len(units):
        raise ValueError(f"--freeze {value}: the model has {len(units)} freezable units ({units[0][0]} ... "
                         f"{units[-1][0]}); give at most {len(units)} or 'backbone'")
    for _, module in units[:n]:
        module.requires_grad_(False)
    return units[:n]


def frozen_eval(units: list[tuple[str, nn.Module]]) -> None:
    """Put frozen units in eval mode (after ``model.train()``): their BN statistics stay fixed too."""
    for _, module in units:
        module.eval()


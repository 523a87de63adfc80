"""YAML model configs -> typed dataclasses -> built detectors.

A config names one factory per stage (``{name: csppeleenet, ...kwargs}``); channel counts flow
from each stage's ``out_specs`` to the next, so a config never repeats one. Unknown keys, at the
top level or in a component, are errors naming the key and the file, and so is a config past the
caps of ``detector.limits`` (classes, input size, parameters -- counted by building the stages
on the meta device, where nothing is allocated).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..data.coco import COCO_NAMES
from ..io.text import load_yaml
from ..limits import MAX_CLASSES, MAX_INPUT_SIZE, check_cap, check_parameter_count
from ..resources import config_dir
from .backbones import BACKBONES
from .heads import HEADS
from .necks import NECKS

CONFIG_DIR = config_dir()  # the shipped YAMLs: packaged in a wheel, configs/models in a checkout
STAGES = {"backbone": BACKBONES, "neck": NECKS, "head": HEADS}
DERIVED = {"in_specs", "num_classes"}  # filled by the builder, never written in a config


@dataclass
class Component:
    """One stage: a factory name and its keyword arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.kwargs}


@dataclass
class ModelConfig:
    """A whole detector: backbone -> neck -> YOLO head."""

    name: str
    backbone: Component
    neck: Component
    head: Component = field(default_factory=lambda: Component("yolo"))
    num_classes: int = 80
    img_size: int = 416
    names: list[str] | None = None

    def class_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        if self.num_classes == len(COCO_NAMES):
            return list(COCO_NAMES)
        return [f"class{i}" for i in range(self.num_classes)]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (no Python objects), safe for YAML, JSON and weights-only checkpoints."""
        return {"name": self.name, "num_classes": self.num_classes, "img_size": self.img_size,
                "names": self.class_names(), "backbone": self.backbone.to_dict(),
                "neck": self.neck.to_dict(), "head": self.head.to_dict()}


def allowed_kwargs(factory) -> set[str]:
    params = inspect.signature(factory).parameters
    return {n for n, p in params.items() if p.kind == p.KEYWORD_ONLY or
            (p.kind == p.POSITIONAL_OR_KEYWORD and n not in DERIVED)} - DERIVED


def parse_component(stage: str, raw: Any, source: str) -> Component:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict) or "name" not in raw:
        raise ValueError(f"{source}: '{stage}' must be a mapping with a 'name' key, got {raw!r}")
    kwargs = dict(raw)
    name = kwargs.pop("name")
    factories = STAGES[stage]
    if name not in factories:
        raise ValueError(f"{source}: unknown {stage} '{name}'; choose from {sorted(factories)}")
    allowed = allowed_kwargs(factories[name])
    for key in kwargs:
        if key not in allowed:
            raise ValueError(f"{source}: unknown key '{stage}.{key}' for {stage} '{name}' "
                             f"(allowed: {', '.join(sorted(allowed)) or 'none'})")
    return Component(name, kwargs)


def config_from_dict(data: Any, source: str = "<config>") -> ModelConfig:
    """Validate a parsed YAML mapping into a ModelConfig; ``source`` names it in errors."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a model config must be a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(ModelConfig)}
    for key in data:
        if key not in known:
            raise ValueError(f"{source}: unknown key '{key}' (allowed: {', '.join(sorted(known))})")
    for key in ("name", "backbone", "neck"):
        if key not in data:
            raise ValueError(f"{source}: missing required key '{key}'")
    values = dict(data)
    for stage in STAGES:
        if stage in values:
            values[stage] = parse_component(stage, values[stage], source)
    cfg = ModelConfig(**values)
    for key, cap in (("num_classes", MAX_CLASSES), ("img_size", MAX_INPUT_SIZE)):
        value = getattr(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{source}: '{key}' must be a positive integer, got {value!r}")
        check_cap(value, cap, f"{source}: {key}")
    if cfg.names is not None and len(cfg.names) != cfg.num_classes:
        raise ValueError(f"{source}: {len(cfg.names)} names for num_classes={cfg.num_classes}")
    check_parameter_count(lambda: _stages_named(cfg, source), source)
    return cfg


def _stages_named(cfg: ModelConfig, source: str) -> tuple[nn.Module, nn.Module, nn.Module]:
    try:
        return build_stages(cfg)
    except (TypeError, ValueError) as e:  # a factory refusing a kwarg's value or type
        raise ValueError(f"{source}: {e}") from None


def build_stages(config: ModelConfig) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(backbone, neck, head) built from ``config``, each stage from the previous one's specs."""
    backbone = STAGES["backbone"][config.backbone.name](**config.backbone.kwargs)
    neck = STAGES["neck"][config.neck.name](backbone.out_specs, **config.neck.kwargs)
    head = STAGES["head"][config.head.name](neck.out_specs, num_classes=config.num_classes, **config.head.kwargs)
    return backbone, neck, head


def resolve_config_path(ref: str | Path) -> Path:
    """A config path, or a bare name like ``csppeleenet-efm`` looked up among the shipped YAMLs."""
    path = Path(ref)
    if path.is_file():
        return path
    candidate = CONFIG_DIR / (path.name if path.suffix in (".yaml", ".yml") else f"{ref}.yaml")
    if candidate.is_file():
        return candidate
    from ..hints import did_you_mean
    from .zoo import ZOO

    known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) if CONFIG_DIR.is_dir() else []
    raise FileNotFoundError(f"model '{ref}' not found{did_you_mean(path.stem, [*ZOO, *known])}: pretrained models "
                            f"by name (cspdet models): {', '.join(ZOO)}; configs (random weights): {', '.join(known)}; "
                            "or a .pt, .onnx, .yaml, .cfg path")


def load_config(ref: str | Path) -> ModelConfig:
    """Read a model config YAML (safe loader, no aliases) by path or by name."""
    path = resolve_config_path(ref)
    return config_from_dict(load_yaml(path), str(path))

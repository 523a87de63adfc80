"""Where a training run's model comes from, and which part of it stays fixed.

yolov5's conventions: ``--cfg X.yaml|X.cfg`` alone is an architecture trained from scratch;
``--weights X.pt|X.weights|NAME`` starts from those weights (``--cfg`` names the Darknet cfg
of a ``.weights``). When the data has other classes than the weights, the head is rebuilt for
them (YAML models: the head's output convs; Darknet: ``classes=`` and the conv feeding each
``[yolo]``, rewritten in the cfg text) and every other tensor is copied; in the head, the box
and objectness rows and the rows of every class the model knows by name are copied too, so
fine-tuning on person, car and dog starts from what a COCO model knows of them.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..data.coco import class_key
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


def transfer_state(source: nn.Module, target: nn.Module, skip: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Copy each tensor of ``source``'s state into ``target`` where name and shape agree, except
    names under a prefix in ``skip``.

    Returns (loaded, not loaded): the names of ``target``'s state entries in each group."""
    src = source.state_dict()
    loaded, fresh = [], []
    with torch.no_grad():
        for name, value in target.state_dict().items():
            if name in src and src[name].shape == value.shape and not name.startswith(skip):
                value.copy_(src[name])
                loaded.append(name)
            else:
                fresh.append(name)
    return loaded, fresh


def unnamed(names: list[str]) -> bool:
    """Whether ``names`` are the placeholders a model without a names file gets (class0, ...)."""
    return all(n == f"class{i}" for i, n in enumerate(names))


def class_sources(model_names: list[str], names: list[str]) -> list[int | None]:
    """For each of ``names``, the index of the same class among ``model_names`` (``class_key``:
    case, spacing and COCO's and Darknet's spellings aside), or None for a new class. A model
    whose classes are unnamed placeholders keeps them by position when the counts agree."""
    if unnamed(model_names) and len(model_names) == len(names):
        return list(range(len(names)))
    index: dict[str, int] = {}
    for i, name in enumerate(model_names):
        index.setdefault(class_key(name), i)
    return [index.get(class_key(name)) for name in names]


@torch.no_grad()
def copy_head_rows(source: nn.Module, target: nn.Module, sources: list[int | None]) -> None:
    """Copy, per level and anchor, ``source``'s box and objectness rows and the class rows that
    ``sources`` names into ``target``'s head (every tensor of the output conv's block whose
    first dimension is its rows: weight, bias, a batch norm's). Other rows keep their fresh
    values. Raises ValueError where the two heads' levels or anchors differ."""
    theirs, ours = source.head_convs(), target.head_convs()
    pairs = list(zip(theirs, ours))
    if len(theirs) != len(ours) or any(a[2] != b[2] for a, b in pairs):
        raise ValueError("the model's head and the rebuilt one differ in levels or anchors")
    no_src, no_dst = 5 + source.num_classes, 5 + len(sources)
    kept = [(c, k) for c, k in enumerate(sources) if k is not None]
    for (_, src, anchors), (_, dst, _) in pairs:
        rows_src, rows_dst = [], []
        for a in range(anchors):
            rows_src += [a * no_src + r for r in range(5)] + [a * no_src + 5 + k for _, k in kept]
            rows_dst += [a * no_dst + r for r in range(5)] + [a * no_dst + 5 + c for c, _ in kept]
        old = src.state_dict()
        for name, value in dst.state_dict().items():
            if value.ndim and value.shape[0] == anchors * no_dst and old[name].shape[1:] == value.shape[1:]:
                value[rows_dst] = old[name][rows_src].to(value.dtype)


def head_line(model_names: list[str], names: list[str], sources: list[int | None]) -> str:
    """"head: kept 3 of 3 classes from the model (person, car, dog), 0 new" (or by position)."""
    def listed(items: list[str]) -> str:
        return f" ({', '.join(items[:8])}{', ...' if len(items) > 8 else ''})" if items else ""

    kept = [n for n, k in zip(names, sources) if k is not None]
    new = [n for n, k in zip(names, sources) if k is None]
    if unnamed(model_names) and len(model_names) == len(names):
        return (f"head: the model's {len(names)} classes have no names (class0, ...); kept all of them by position "
                f"as{listed(names)}")
    return f"head: kept {len(kept)} of {len(names)} classes from the model{listed(kept)}, {len(new)} new{listed(new)}"


def with_classes(model: nn.Module, names: list[str]) -> tuple[nn.Module, list[str], list[str], str]:
    """``model`` with a head for ``names``: (model, loaded, rebuilt head tensors, head line).

    Every tensor outside the head is kept; in the head, the box and objectness rows and the
    rows of classes the model already knows (matched by name, ``class_sources``), so only new
    classes start afresh. Unchanged (all loaded) when the classes are the model's, in order."""
    sources = class_sources(list(model.names), list(names))
    line = head_line(list(model.names), list(names), sources)
    if model.num_classes == len(names) and sources == list(range(len(names))):
        return model, list(model.state_dict()), [], line
    new = model.with_classes(list(names))
    heads = tuple(prefix + "." for prefix, _, _ in new.head_convs())
    loaded, rebuilt = transfer_state(model, new, skip=heads)
    copy_head_rows(model, new, sources)
    return new, loaded, rebuilt, line


def initial_model(weights: str, cfg: str, names: list[str]) -> tuple[nn.Module, str | None]:
    """The model a new run starts from, and (when it starts from weights) lines saying how many
    tensors were loaded, how many head tensors rebuilt and which classes the head kept. The
    model's ``knows_classes`` says whether it starts from weights that know every class by name."""
    check_sources(weights, cfg)
    if not weights:
        model, _, _, _ = with_classes(load_detector(cfg), names)
        model.reset_head_bias()  # a Darknet cfg's head starts at the same prior as a YAML head
        model.knows_classes = False
        return model, None
    source = load_pretrained(weights, cfg)
    known = not unnamed(list(source.names)) and None not in class_sources(list(source.names), list(names))
    model, loaded, rebuilt, line = with_classes(source, names)
    model.knows_classes = known
    report = f"weights {weights}: {len(loaded)} tensors loaded, {len(rebuilt)} re-initialised"
    if rebuilt:
        report += (f" (the head for {len(names)} classes: {', '.join(rebuilt[:4])}"
                   f"{', ...' if len(rebuilt) > 4 else ''}; rows of known classes kept)")
    return model, f"{report}\n{line}"


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



def freeze_bn_stats(model: nn.Module) -> int:
    """``--freeze-bn``: every batch norm in eval mode (after ``model.train()``), so it normalises
    with its running statistics and never updates them; its weight and bias still train.
    Returns how many there are."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.eval()
    return len(norms)

"""Structured pruning: whole channels removed with Torch-Pruning's DependencyGraph (DepGraph, Fang
et al. 2023), which finds every layer a channel couples (convs, batch norms, concatenations,
routes, adds) and removes it everywhere at once.

What this module adds for cspdet's layers:

- **Maxout** (the EFM's channel compression) keeps 1 of every M interleaved channels: output g is
  the max of inputs g, g + N, ..., so those M inputs go together. Torch-Pruning sees Maxout's
  channel slices (their offsets map the indices) but cannot infer its channel counts through
  them, so Maxout is registered as a customized layer (``MaxoutPruner``) that reports N and M*N;
  its ``out_channels`` is set from its new input after pruning.
- **Darknet routes with ``groups``** (YOLOv4-tiny's CSP split, ``layers=-1 groups=2 group_id=1``)
  slice each source into equal parts, so the conv feeding one loses the same channels in every
  part (``out_channel_groups``).
- **Partial adds** of unequal widths (a Darknet ``[shortcut]`` adding the first min(C1, C2)
  channels) and grouped convolutions are left whole, and so are the head's output convs (their
  width is anchors x (5 + classes)). Each is listed in the result.

Every pruning is checked: the original model with the removed channels zeroed where they are
read must give the pruned model's outputs (``max_error``); a layer this module does not know,
pruned inconsistently, fails that check rather than producing a silently broken model. Channel
importance is the L2 norm of each coupled group's weights (``GroupMagnitudeImportance``): data-free,
so a model is pruned in seconds and recovers by fine-tuning (``cspdet train --weights``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..layers import Maxout
from ..models.profile import count_params, profile_model
from ..models.widths import channel_widths, sync_attributes

INSTALL = 'pruning needs Torch-Pruning: pip install "cspdet[prune]"'
TOLERANCE = 1e-4  # of the outputs' largest magnitude: float32 sums in another order (about 1e-7), no more


def require_torch_pruning():
    try:
        import torch_pruning
    except ImportError as e:
        raise ImportError(INSTALL) from e
    return torch_pruning


@dataclass
class PruneResult:
    """A pruned model with what it cost and saved: params (conv weights, as ``cspdet info``),
    GFLOPs at ``img_size``, the parts left whole, and the self-check's largest output error."""

    model: nn.Module
    img_size: int
    params: tuple[int, int]
    gflops: tuple[float, float]
    ratio: float
    left_whole: list[str] = field(default_factory=list)
    max_error: float = 0.0

    def line(self) -> str:
        (p0, p1), (g0, g1) = self.params, self.gflops
        return (f"channel ratio {self.ratio:g}: params {p0 / 1e6:.3f}M -> {p1 / 1e6:.3f}M ({100 * p1 / p0:.0f}%), "
                f"GFLOPs {g0:.3f} -> {g1:.3f} at {self.img_size} ({100 * g1 / g0:.0f}%); outputs match the "
                f"masked original to {self.max_error:.1e}")


def _maxout_pruner(tp, groups: dict):
    class MaxoutPruner(tp.pruner.BasePruningFunc):
        """Maxout as one layer: N outputs over M * N inputs; pruning output g removes inputs
        g, g + N, ... (its slices carry that mapping). Widths are fixed up after pruning."""

        def prune_out_channels(self, layer, idxs):
            return layer

        prune_in_channels = prune_out_channels  # in and out are coupled (intra-layer dependency)

        def get_out_channels(self, layer):
            return layer.out_channels

        def get_in_channels(self, layer):
            return layer.out_channels * groups[layer]

    return MaxoutPruner()


class WholeConv(nn.Conv2d):
    """The class a grouped convolution wears while pruning runs, so Torch-Pruning (which matches
    customized layers by type) leaves it whole; it is a plain ``nn.Conv2d`` again afterwards."""


def _whole_pruner(tp):
    class WholePruner(tp.pruner.BasePruningFunc):
        """A layer left whole (grouped convolutions): in and out coupled, so any group that would
        touch either side meets an ignored layer and is skipped."""

        def prune_out_channels(self, layer, idxs):
            return layer

        prune_in_channels = prune_out_channels

        def get_out_channels(self, layer):
            return layer.out_channels

        def get_in_channels(self, layer):
            return layer.in_channels

    return WholePruner()


def _shortcut_pruner(tp, widths: dict):
    class ShortcutPruner(tp.pruner.BasePruningFunc):
        """A Darknet [shortcut] as one layer; equal widths couple in and out one to one."""

        def prune_out_channels(self, layer, idxs):
            widths[layer] -= len(set(idxs))
            return layer

        prune_in_channels = prune_out_channels

        def get_out_channels(self, layer):
            return widths[layer]

        get_in_channels = get_out_channels

    return ShortcutPruner()


def _forward_with(model: nn.Module, x: torch.Tensor, modules, hook) -> None:
    """One forward pass of ``x`` with ``hook(module, inputs)`` run before each of ``modules``."""
    handles = [m.register_forward_pre_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def _inputs(model: nn.Module, x: torch.Tensor, kinds) -> dict[nn.Module, list[int]]:
    """Channel counts of every input of each module of ``kinds``, from one forward pass."""
    seen = {}
    _forward_with(model, x, [m for m in model.modules() if isinstance(m, kinds)],
                  lambda mod, inp: seen.__setitem__(mod, [int(t.shape[1]) for t in inp]))
    return seen


def plan(model: nn.Module, x: torch.Tensor) -> dict:
    """What the pruner must know of ``model``: layers left whole (with why), channel groups,
    Maxout group counts and the customized layers."""
    from ..darknet.ops import Shortcut

    names = {m: n for n, m in model.named_modules()}
    heads = list(model.head.convs) if hasattr(model, "head") else \
        [model.blocks[model.layers[y.index].sources[0]][0] for y in model.yolo]
    ignored = {m: "head output (anchors x (5 + classes))" for m in heads}
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    for m in grouped:
        m.__class__ = WholeConv
        ignored[m] = f"grouped convolution (groups={m.groups}), with what it reads and feeds"
    seen = _inputs(model, x, (Maxout, Shortcut))
    maxout = {m: c[0] // m.out_channels for m, c in seen.items() if isinstance(m, Maxout)}
    shortcut = {m: c[0] for m, c in seen.items() if isinstance(m, Shortcut)}
    for m, c in seen.items():
        if isinstance(m, Shortcut) and len(set(c)) > 1:
            ignored[m] = f"partial add of {c[1:]} channels into {c[0]}"
    return {"ignored": ignored, "names": names, "maxout": maxout, "shortcut": shortcut, "grouped": grouped,
            "groups": route_groups(model)}


def route_groups(model: nn.Module) -> dict[nn.Conv2d, int]:
    """For a Darknet model: each conv feeding a ``[route] groups=G`` -> G (through pools,
    upsamples and shortcuts, which keep channels in place)."""
    out: dict[nn.Conv2d, int] = {}
    for spec in getattr(model, "layers", []):
        groups = getattr(model.blocks[spec.index], "groups", 1) if spec.type == "route" else 1
        for src in spec.sources if groups > 1 else ():
            while model.layers[src].type in ("maxpool", "avgpool", "upsample", "shortcut"):
                src = model.layers[src].sources[0]
            if model.layers[src].type != "convolutional":
                raise ValueError(f"{model.cfg.source}:{spec.line}: [route] groups={groups} over a "
                                 f"[{model.layers[src].type}]: pruning supports grouped routes over convolutions")
            conv = model.blocks[src][0]
            out[conv] = max(out.get(conv, 1), groups)
    return out


def _record(group, DG, names, alive: dict) -> None:
    """Drop the channels ``group`` removes from ``alive``: (side, conv/BN name) -> the original
    indices still there. Torch-Pruning prunes group after group, so a group's indices count the
    channels left by the groups before it; ``alive`` maps them back to the original ones."""
    hit: dict = {}
    for dep, idxs in group:
        m = dep.target.module
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) and DG.is_out_channel_pruning_fn(dep.handler):
            side, size = "out", m.out_channels if isinstance(m, nn.Conv2d) else m.num_features
        elif isinstance(m, nn.Conv2d) and DG.is_in_channel_pruning_fn(dep.handler):
            side, size = "in", m.in_channels
        else:
            continue
        key = (side, names[m])
        alive.setdefault(key, list(range(size)))
        hit.setdefault(key, set()).update(idxs)
    for key, idxs in hit.items():
        alive[key] = [a for i, a in enumerate(alive[key]) if i not in idxs]


def _fix_maxouts(model: nn.Module, groups: dict, x: torch.Tensor) -> None:
    """Set each Maxout's ``out_channels`` from its pruned input (M groups kept)."""
    def pre(mod, inp):
        mod.out_channels = int(inp[0].shape[1]) // groups[mod]

    _forward_with(model, x, list(groups), pre)


def check(original: nn.Module, pruned: nn.Module, alive: dict, x: torch.Tensor) -> float:
    """The largest output difference, relative to the outputs' scale, between ``pruned`` and
    ``original`` with every removed input channel of every conv zeroed (so removed channels
    contribute nothing; ``alive`` as ``_record`` keeps it): 0 up to rounding when the pruning was
    consistent."""
    masked = copy.deepcopy(original)
    mods = dict(masked.named_modules())
    with torch.no_grad():
        for (side, name), kept in alive.items():
            if side == "in":
                gone = sorted(set(range(mods[name].in_channels)) - set(kept))
                mods[name].weight[:, gone] = 0
        a, b = masked(x), pruned(x)
    a, b = (a if isinstance(a, (list, tuple)) else [a]), (b if isinstance(b, (list, tuple)) else [b])
    if [t.shape for t in a] != [t.shape for t in b]:
        return float("inf")
    scale = max(float(t.abs().max()) for t in a) or 1.0
    return max(float((p - q).abs().max()) for p, q in zip(a, b)) / scale


def _pruner(tp, model: nn.Module, x: torch.Tensor, info: dict, ratio: float, steps: int, round_to: int | None):
    from ..darknet.ops import Shortcut

    return tp.pruner.MetaPruner(
        model, x, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=ratio,
        iterative_steps=steps, ignored_layers=list(info["ignored"]), out_channel_groups=dict(info["groups"]),
        round_to=round_to, customized_pruners={Maxout: _maxout_pruner(tp, info["maxout"]),
                                               Shortcut: _shortcut_pruner(tp, dict(info["shortcut"])),
                                               WholeConv: _whole_pruner(tp)})


def _step(pruner, model: nn.Module, info: dict, x: torch.Tensor) -> float:
    """One pruning step on ``model`` -> the self-check's error for it."""
    before = copy.deepcopy(model)
    alive: dict = {}
    for group in pruner.step(interactive=True):
        _record(group, pruner.DG, info["names"], alive)
        group.prune()
    _fix_maxouts(model, info["maxout"], x)
    sync_attributes(model)
    return check(before, model, alive, x)


def prune_model(model: nn.Module, *, ratio: float | None = None, target_gflops: float | None = None,
                img_size: int | None = None, round_to: int | None = None, steps: int = 20) -> PruneResult:
    """A pruned copy of ``model`` (a YAML ``YOLODetector`` or a ``DarknetDetector``; ``model`` is
    left as it is): ``ratio`` of the channels of every prunable layer removed, or as many as it
    takes (in ``steps`` increments of up to 90%) to reach ``target_gflops`` at ``img_size``
    (default: the model's). ``round_to`` keeps widths multiples of it. Raises ValueError when the
    pruned model would not compute what the original does without the removed channels."""
    tp = require_torch_pruning()
    if (ratio is None) == (target_gflops is None):
        raise ValueError("give a channel ratio or a GFLOPs target, not both")
    if ratio is not None and not 0 <= ratio < 1:
        raise ValueError(f"--ratio must be in [0, 1), got {ratio}")
    size = int(img_size or model.img_size)
    model = copy.deepcopy(model).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    g0, p0 = profile_model(model, size).gflops, count_params(model)[0]
    if target_gflops is not None and not 0 < target_gflops < g0:
        raise ValueError(f"--target-gflops {target_gflops:g}: the model has {g0:.3f} GFLOPs at {size}; give a "
                         "smaller positive target")
    info = plan(model, x)
    try:
        model, error, done = _prune(tp, model, x, info, ratio, target_gflops, size, steps, round_to)
    except (RuntimeError, IndexError) as e:  # Torch-Pruning met a layer it cannot map
        raise ValueError(f"pruning {_label(model)} failed: {str(e).splitlines()[0][:200]}") from None
    finally:
        for m in info["grouped"]:
            m.__class__ = nn.Conv2d
    if error > TOLERANCE:
        raise ValueError(f"pruning {_label(model)} broke it: the outputs differ from the masked original by "
                         f"{error:.2g} of their scale (a layer whose channels Torch-Pruning cannot map)")
    model = normalised(model)
    left = sorted({f"{info['names'][m]}: {why}" for m, why in info["ignored"].items()})
    return PruneResult(model, size, (p0, count_params(model)[0]), (g0, profile_model(model, size).gflops), done,
                       left, error)


def _label(model: nn.Module) -> str:
    cfg, config = getattr(model, "cfg", None), getattr(model, "config", None)
    return cfg.source if cfg is not None else config.name if config is not None else type(model).__name__


def _prune(tp, model, x, info, ratio, target_gflops, size, steps, round_to):
    """The pruning steps -> (model, largest self-check error, channel ratio removed)."""
    error, done = 0.0, 0.0
    if ratio:
        pruner = _pruner(tp, model, x, info, ratio, 1, round_to)
        error, done = _step(pruner, model, info, x), ratio
    elif target_gflops is not None:
        pruner = _pruner(tp, model, x, info, 0.9, steps, round_to)
        for k in range(1, steps + 1):
            error, done = max(error, _step(pruner, model, info, x)), 0.9 * k / steps
            if profile_model(model, size).gflops <= target_gflops:
                break
        else:
            raise ValueError(f"--target-gflops {target_gflops:g}: 90% of the prunable channels removed leave "
                             f"{profile_model(model, size).gflops:.3f} GFLOPs at {size}")
    return model, error, done


def normalised(model: nn.Module) -> nn.Module:
    """The pruned model rebuilt the way a checkpoint of it will be loaded: a Darknet model from its
    cfg with the new ``filters=``, a YAML model from its config plus ``widths`` (the same weights)."""
    from ..darknet.detector import DarknetDetector
    from ..darknet.edit import set_filters
    from ..models.detector import YOLODetector

    state = model.state_dict()
    if isinstance(model, DarknetDetector):
        filters = {s.index: model.blocks[s.index][0].out_channels for s in model.layers if s.type == "convolutional"}
        text = set_filters(model.cfg_text, filters, model.cfg.source)
        new = DarknetDetector(text, model.cfg.source, names=list(model.names))
    elif isinstance(model, YOLODetector):
        widths = channel_widths(model, YOLODetector(model.config))
        new = YOLODetector(model.config, widths)
        new.names = list(model.names)
    else:
        raise ValueError(f"cannot prune a {type(model).__name__}: a YAML or Darknet detector is needed")
    for key in ("category_ids",):
        if hasattr(model, key):
            setattr(new, key, getattr(model, key))
    new.load_state_dict(state)  # strict: the rebuilt layers must take every pruned tensor
    return new.eval()

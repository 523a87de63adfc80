"""Shape planning for a parsed cfg: what each layer consumes and produces, before any module exists.

``plan_layers`` walks the sections in order, checks them against Darknet's rules and returns one
``LayerSpec`` per layer (its sources and [C, H, W] output) plus a factory for its module, so a
model can be built from the plan and tools (FLOP tables, exporters) can read shapes without
building one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from detector.layers import ACTIVATIONS, ConvBNAct, Maxout

from . import ops
from .cfg import DarknetConfig, Section
from .keys import UNSUPPORTED_IF_SET
from .limits import check_cfg_limits

Shape = tuple[int, int, int]
NET_INPUT = -1  # source index meaning "the network input"


@dataclass(frozen=True)
class LayerSpec:
    """One cfg layer: index, type, cfg line, consumed layers and [C, H, W] shapes at plan size."""

    index: int
    type: str
    line: int
    sources: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    section: Section = field(repr=False, compare=False)


@dataclass
class _Ctx:
    input_shape: Shape
    shapes: list[Shape]

    def shape(self, index: int) -> Shape:
        return self.input_shape if index == NET_INPUT else self.shapes[index]


Planned = tuple[tuple[int, ...], Shape, Callable[[], nn.Module]]


def _layer_ref(sec: Section, key: str, index: int, value: int) -> int:
    ref = index + value if value < 0 else value
    if not 0 <= ref < index:
        raise sec.error(f"{key}={value} does not name an earlier layer (this is layer {index})",
                        key)
    return ref


def _act(sec: Section, default: str) -> str:
    name = sec.get_str("activation", default)
    if name not in ACTIVATIONS:
        raise sec.error(f"activation {name!r} is not supported (choose from "
                        f"{', '.join(sorted(ACTIVATIONS))})", "activation")
    return name


def _positive(sec: Section, key: str, value: int) -> int:
    if value < 1:
        raise sec.error(f"{key} must be >= 1, got {value}", key)
    return value


def _same_hw(sec: Section, key: str, ref: int, shape: Shape, expected: Shape, what: str) -> None:
    if shape[1:] != expected[1:]:
        raise sec.error(f"layer {ref} is {shape[1]}x{shape[2]} but {what} is "
                        f"{expected[1]}x{expected[2]}", key)


def _plan_conv(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c, h, w = ctx.shape(i - 1)
    filters = _positive(sec, "filters", sec.get_int("filters", 1))
    size = _positive(sec, "size", sec.get_int("size", 1))
    stride = sec.get_int("stride", 1)
    sx, sy = sec.get_int("stride_x", stride), sec.get_int("stride_y", stride)
    _positive(sec, "stride", min(sx, sy))
    dilation = 1 if size == 1 else sec.get_int("dilation", 1)  # Darknet ignores it for 1x1
    padding = size // 2 if sec.get_int("pad", 0) else sec.get_int("padding", 0)
    groups = _positive(sec, "groups", sec.get_int("groups", 1))
    if c % groups or filters % groups:
        raise sec.error(f"groups={groups} must divide input channels {c} and filters {filters}",
                        "groups")
    bn = bool(sec.get_int("batch_normalize", 0) or sec.get_int("cbn", 0))
    act = _act(sec, "logistic")  # Darknet's default; OpenCV's importer assumes linear
    pad = padding * dilation  # Darknet/cuDNN pad dilated kernels by padding * dilation
    oh = (h + 2 * pad - dilation * (size - 1) - 1) // sy + 1
    ow = (w + 2 * pad - dilation * (size - 1) - 1) // sx + 1
    if oh < 1 or ow < 1:
        raise sec.error(f"output would be {oh}x{ow} for a {h}x{w} input")

    def make() -> nn.Module:
        block = ConvBNAct(c, filters, size, sy, groups=groups, dilation=dilation, act=act, bn=bn)
        # ConvBNAct pads dilation * (size // 2) with one stride; Darknet allows any padding
        # and separate x/y strides.
        block[0].stride, block[0].padding = (sy, sx), (pad, pad)
        return block

    return (i - 1,), (filters, oh, ow), make


def _plan_connected(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c, h, w = ctx.shape(i - 1)
    out = _positive(sec, "output", sec.get_int("output", 1))
    act = _act(sec, "logistic")
    bn = bool(sec.get_int("batch_normalize", 0))
    return (i - 1,), (out, 1, 1), lambda: ops.Connected(c * h * w, out, act=act, bn=bn)


def _plan_maxpool(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c, h, w = ctx.shape(i - 1)
    if sec.get_int("maxpool_depth", 0):
        # Darknet's Maxout: ignores size/stride, keeps H x W, reduces channels.
        n = _positive(sec, "out_channels", sec.get_int("out_channels", 1))
        if c % n:
            raise sec.error(f"maxout needs input channels {c} to be a multiple of "
                            f"out_channels={n}", "out_channels")
        return (i - 1,), (n, h, w), lambda: Maxout(n)
    stride = _positive(sec, "stride", sec.get_int("stride", 1))
    sx, sy = sec.get_int("stride_x", stride), sec.get_int("stride_y", stride)
    _positive(sec, "stride", min(sx, sy))
    size = _positive(sec, "size", sec.get_int("size", stride))
    padding = sec.get_int("padding", size - 1)
    oh, ow = (h + padding - size) // sy + 1, (w + padding - size) // sx + 1
    if padding < 0 or oh < 1 or ow < 1:
        raise sec.error(f"padding={padding} gives a {oh}x{ow} output for a {h}x{w} input")
    return (i - 1,), (c, oh, ow), lambda: ops.MaxPool(size, sx, sy, padding)


def _plan_avgpool(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c = ctx.shape(i - 1)[0]
    return (i - 1,), (c, 1, 1), ops.GlobalAvgPool


def _plan_softmax(sec: Section, i: int, ctx: _Ctx) -> Planned:
    shape = ctx.shape(i - 1)
    groups = _positive(sec, "groups", sec.get_int("groups", 1))
    if (shape[0] * shape[1] * shape[2]) % groups:
        raise sec.error(f"groups={groups} does not divide the {shape} input", "groups")
    temperature = sec.get_float("temperature", 1.0)
    return (i - 1,), shape, lambda: ops.Softmax(groups, temperature)


def _plan_route(sec: Section, i: int, ctx: _Ctx) -> Planned:
    refs = tuple(_layer_ref(sec, "layers", i, v) for v in sec.get_ints("layers"))
    groups = _positive(sec, "groups", sec.get_int("groups", 1))
    group_id = sec.get_int("group_id", 0)
    if not 0 <= group_id < groups:
        raise sec.error(f"group_id={group_id} must be in [0, {groups})", "group_id")
    first = ctx.shape(refs[0])
    channels = 0
    for ref in refs:
        shape = ctx.shape(ref)
        _same_hw(sec, "layers", ref, shape, first, f"layer {refs[0]}")
        if shape[0] % groups:
            raise sec.error(f"layer {ref} has {shape[0]} channels, not divisible by "
                            f"groups={groups}", "groups")
        channels += shape[0] // groups
    return refs, (channels, first[1], first[2]), lambda: ops.Route(groups, group_id)


def _plan_shortcut(sec: Section, i: int, ctx: _Ctx) -> Planned:
    refs = tuple(_layer_ref(sec, "from", i, v) for v in sec.get_ints("from"))
    if sec.get_str("weights_type", "none") != "none":
        raise sec.error("weighted shortcuts (weights_type) are not supported", "weights_type")
    shape = ctx.shape(i - 1)
    for ref in refs:
        _same_hw(sec, "from", ref, ctx.shape(ref), shape, "the previous layer")
    act = _act(sec, "linear")
    return (i - 1,) + refs, shape, lambda: ops.Shortcut(act)


def _plan_upsample(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c, h, w = ctx.shape(i - 1)
    stride = sec.get_int("stride", 2)
    if stride < 1:
        raise sec.error(f"stride={stride}: Darknet's negative-stride downsampling is not "
                        f"supported", "stride")
    scale = sec.get_float("scale", 1.0)
    return (i - 1,), (c, h * stride, w * stride), lambda: ops.Upsample(stride, scale)


def _plan_scale(sec: Section, i: int, ctx: _Ctx) -> Planned:
    """``[sam]`` and ``[scale_channels]``: the previous output scales layer ``from``."""
    ref = _layer_ref(sec, "from", i, sec.get_int("from"))
    x, src = ctx.shape(i - 1), ctx.shape(ref)
    if sec.type == "sam":
        want = src
    elif sec.get_int("scale_wh", 0):
        want = (1, src[1], src[2])
    else:
        want = (src[0], 1, 1)
    if x != want:
        raise sec.error(f"input {x} cannot scale layer {ref} of shape {src} (needs {want})",
                        "from")
    act = _act(sec, "linear")
    return (i - 1, ref), src, lambda: ops.ScaleBy(act)


def _plan_dropout(sec: Section, i: int, ctx: _Ctx) -> Planned:
    return (i - 1,), ctx.shape(i - 1), nn.Identity  # Darknet's dropout is a no-op at inference


def _plan_reorg(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c, h, w = ctx.shape(i - 1)
    s = _positive(sec, "stride", sec.get_int("stride", 1))
    if h % s or w % s:
        raise sec.error(f"stride={s} does not divide the {h}x{w} input", "stride")
    return (i - 1,), (c * s * s, h // s, w // s), lambda: ops.Reorg(s)


def _plan_yolo(sec: Section, i: int, ctx: _Ctx) -> Planned:
    c, h, w = ctx.shape(i - 1)
    classes = _positive(sec, "classes", sec.get_int("classes", 20))
    num = _positive(sec, "num", sec.get_int("num", 1))
    mask = tuple(sec.get_ints("mask", list(range(num))))
    anchors = sec.get_floats("anchors")
    if len(anchors) < 2 * num or any(not 0 <= m < num for m in mask):
        raise sec.error(f"need num={num} anchor pairs covering mask {list(mask)}, got "
                        f"{len(anchors)} numbers", "anchors")
    if c != len(mask) * (5 + classes):
        raise sec.error(f"input has {c} channels, but mask {list(mask)} and classes={classes} "
                        f"need {len(mask) * (5 + classes)}")
    net_h, net_w = ctx.input_shape[1:]
    stride = net_w // w if net_w % w == 0 else net_w / w
    meta = dict(anchors=tuple((anchors[2 * m], anchors[2 * m + 1]) for m in mask), mask=mask,
                classes=classes, stride=stride, scale_x_y=sec.get_float("scale_x_y", 1.0),
                new_coords=bool(sec.get_int("new_coords", 0)))
    return (i - 1,), (c, h, w), lambda: ops.YoloOutput(**meta)


PLANNERS: dict[str, Callable[[Section, int, _Ctx], Planned]] = {
    "convolutional": _plan_conv, "connected": _plan_connected, "maxpool": _plan_maxpool,
    "avgpool": _plan_avgpool, "softmax": _plan_softmax, "route": _plan_route,
    "shortcut": _plan_shortcut, "upsample": _plan_upsample, "sam": _plan_scale,
    "scale_channels": _plan_scale, "dropout": _plan_dropout, "reorg": _plan_reorg,
    "yolo": _plan_yolo,
}


def _refuse_unsupported(sec: Section) -> None:
    for key, harmless in UNSUPPORTED_IF_SET.get(sec.type, {}).items():
        if key in sec.options and sec.options[key] != harmless:
            raise sec.error(f"{key}={sec.options[key]} is not supported", key)


def plan_layers(cfg: DarknetConfig, input_shape: Shape | None = None
                ) -> tuple[list[LayerSpec], list[Callable[[], nn.Module]]]:
    """Plan every layer of ``cfg`` for ``input_shape`` (C, H, W; default: the ``[net]`` size).

    Returns the specs and, index for index, zero-argument factories for their modules. Raises
    ValueError with ``file:line`` for anything Darknet would reject or this importer cannot run.
    """
    check_cfg_limits(cfg, input_shape)
    ctx = _Ctx(input_shape or cfg.input_shape, [])
    specs, factories = [], []
    yolo_layers = set()
    for i, sec in enumerate(cfg.layers):
        _refuse_unsupported(sec)
        sources, out_shape, factory = PLANNERS[sec.type](sec, i, ctx)
        if yolo_layers.intersection(sources):
            raise sec.error("reading a [yolo] layer's output is not supported (Darknet would "
                            "pass activated values, this importer passes raw maps)")
        if sec.type == "yolo":
            yolo_layers.add(i)
        specs.append(LayerSpec(i, sec.type, sec.line, sources,
                               tuple(ctx.shape(s) for s in sources), out_shape, sec))
        factories.append(factory)
        ctx.shapes.append(out_shape)
    if not specs:
        raise cfg.net.error("the cfg has no layers after [net]")
    return specs, factories

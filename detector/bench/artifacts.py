"""Files the bench makes once and reuses: ONNX exports of classifiers and backbones, and random
Darknet ``.weights`` for the baselines. All live in ``<tmp>/cspdet-bench``, named by a hash of
what they were made from, and are written atomically so parallel runs never read half a file."""
from __future__ import annotations

import hashlib
import math
import re
import tempfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

CACHE = Path(tempfile.gettempdir()) / "cspdet-bench"


def cached(stem: str, key: str, suffix: str, write: Callable[[Path], None]) -> Path:
    """``CACHE/<stem>-<hash(key)><suffix>``, created by ``write(tmp_path)`` when missing."""
    from ..io.files import atomic_output

    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = CACHE / f"{stem}-{digest}{suffix}"
    if not path.exists():
        with atomic_output(path) as tmp:
            write(tmp)
    return path


class AsTuple(nn.Module):
    """Wraps a backbone (an ordered dict of maps) so tracing sees a tuple of outputs."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor):
        out = self.inner(x)
        return tuple(out.values()) if isinstance(out, dict) else out


def net_onnx(module: nn.Module, name: str, size: int, batch: int = 1) -> Path:
    """A classifier or backbone (BN folded) as a static ONNX file [batch, 3, size, size]."""
    from ..export.onnx import trace_to_onnx
    from ..models.fuse import fold_bn

    def write(tmp: Path) -> None:
        net = AsTuple(fold_bn(module)).eval()
        with torch.no_grad():
            out = net(torch.zeros(1, 3, size, size))
        names = ["output"] if isinstance(out, torch.Tensor) else [f"out{i}" for i in range(len(out))]
        tmp.write_bytes(trace_to_onnx(net, torch.zeros(batch, 3, size, size), 12, names, None))

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)  # labels hold ':', '?', '=': not portable in names
    return cached(stem, f"{name}|{size}|{batch}|{torch.__version__}", ".onnx", write)


def random_init(model: nn.Module, x: torch.Tensor, seed: int = 0) -> None:
    """Random conv weights N(0, 2 / fan_in), then every batch norm's running statistics taken
    from its own input on ``x``: each map comes out at unit scale at any depth, as in a trained
    net, so a random network neither saturates its head nor runs on denormals (which would slow
    it artificially)."""
    gen = torch.Generator().manual_seed(seed)

    def calibrate(bn, args):
        (inp,) = args
        bn.running_mean.copy_(inp.mean((0, 2, 3)))
        bn.running_var.copy_(inp.var((0, 2, 3), unbiased=False) + bn.eps)

    hooks = []
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2 / m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                hooks.append(m.register_forward_pre_hook(calibrate))
        model.eval()(x)
    for h in hooks:
        h.remove()


def yolo_prior(model, x: torch.Tensor) -> None:
    """Scale each conv feeding a Darknet ``[yolo]`` layer to unit-std logits on ``x``, then give
    it the objectness/class bias prior our own YOLO head starts from (``YOLOHead.reset_bias``):
    random baselines and random cspdet models then hand NMS similarly few boxes, instead of the
    hundreds a saturated random head would."""
    h, w = model.input_size
    heads = {model.layers[y.index].sources[0]: y for y in model.yolo}
    convs = {i: model.blocks[i][0] for i in heads}

    def unit_std(conv, args, out):
        conv.weight.div_(out.std() + 1e-6)

    hooks = [c.register_forward_hook(unit_std) for c in convs.values()]
    with torch.no_grad():
        for c in convs.values():
            c.bias.zero_()
        model.eval()(x)
        for i, y in heads.items():
            b = convs[i].bias.view(y.num_anchors, 5 + y.classes)
            b[:, 4] = math.log(8 / (h * w / y.stride ** 2))
            b[:, 5:] = math.log(0.6 / (y.classes - 0.99))
    for hk in hooks:
        hk.remove()


def darknet_weights(cfg: str | Path, seed: int = 0) -> Path:
    """Random Darknet ``.weights`` for ``cfg`` (``random_init`` on a random image at the cfg's
    size, then ``yolo_prior``), written by ``save_weights``."""
    from ..darknet import DarknetModel, save_weights
    from ..io.text import read_text

    cfg = Path(cfg)
    text = read_text(cfg)

    def write(tmp: Path) -> None:
        model = DarknetModel(cfg)
        x = torch.rand(1, model.in_channels, *model.input_size, generator=torch.Generator().manual_seed(seed))
        random_init(model, x, seed)
        yolo_prior(model, x)
        save_weights(model, tmp)

    return cached(cfg.stem, f"{text}|{seed}|v3", ".weights", write)

"""Per-layer parameter, FLOP and CIO counts, counted the way the CSPNet paper and Darknet count.

- ``params``: conv and FC weights only (no BN, no bias), the paper's and Darknet's #Param.
- ``params_total``: every trainable tensor, what PyTorch users expect.
- ``flops``: 2 x multiply-accumulates of convs and matmuls, from torch's own FlopCounterMode;
  ``gflops`` = flops / 1e9 is Darknet's printed BFLOPs (Darknet adds pooling terms worth
  about 0.1% on these models, which are left out).
- ``cio``: HarDNet's convolutional input/output, sum of C*H*W of input and output over conv,
  FC, max/average pool and Maxout layers (activations and concats are fused or free).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from ..layers import Maxout

COMPUTE = (nn.Conv2d, nn.Linear)
MEMORY = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, Maxout)


@dataclass
class LayerStat:
    name: str
    kind: str
    out_shape: list[int]
    params: int
    flops: int
    cio: int


@dataclass
class Profile:
    input_shape: list[int]
    params: int
    params_total: int
    flops: int
    cio: int
    layers: list[LayerStat] = field(default_factory=list)

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gflops"] = self.gflops
        return d


def count_params(model: nn.Module) -> tuple[int, int]:
    """(conv + FC weights, all trainable parameters)."""
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, COMPUTE))
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return weights, total


@torch.no_grad()
def profile_model(model: nn.Module, img_size: int | tuple[int, int], channels: int = 3) -> Profile:
    """Run one [1, channels, H, W] forward pass and count every conv, FC, pool and Maxout."""
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    stats: dict[str, LayerStat] = {}
    hooks = []

    def hook(name):
        def fn(module, inputs, output):
            stat = stats.setdefault(name, LayerStat(name, type(module).__name__, [], 0, 0, 0))
            stat.out_shape = list(output.shape)
            stat.params = module.weight.numel() if isinstance(module, COMPUTE) else 0
            stat.cio += inputs[0][0].numel() + output[0].numel()
        return fn

    for name, module in model.named_modules():
        if isinstance(module, COMPUTE + MEMORY):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, channels, h, w))
    finally:
        model.train(was_training)
        for hk in hooks:
            hk.remove()
    per_module = counter.get_flop_counts()
    prefix = type(model).__name__ + "."
    for name, stat in stats.items():
        stat.flops = int(sum(per_module.get(prefix + name, {}).values()))
    params, params_total = count_params(model)
    layers = list(stats.values())
    return Profile([1, channels, h, w], params, params_total, int(counter.get_total_flops()),
                   sum(s.cio for s in layers), layers)

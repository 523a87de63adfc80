"""Batch norms fused into the convolutions before them, for inference (export, the torch backend, bench)."""
from __future__ import annotations

import copy

import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_weights


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A Conv2d with bias computing ``bn(conv(x))`` with bn's running statistics (eval mode)."""
    fused = copy.deepcopy(conv)
    # torch's formula, in float64: the folded weights round once, to conv's dtype.
    weight, bias = fuse_conv_bn_weights(
        conv.weight.detach().double(), None if conv.bias is None else conv.bias.detach().double(),
        bn.running_mean.double(), bn.running_var.double(), bn.eps, bn.weight.detach().double(),
        bn.bias.detach().double())
    fused.weight = nn.Parameter(weight.detach().to(conv.weight.dtype))
    fused.bias = nn.Parameter(bias.detach().to(conv.weight.dtype))
    return fused


def fold_bn(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode where every Conv2d directly followed by a BatchNorm2d
    inside an nn.Sequential (ConvBNAct and the like) becomes one biased conv; the BN becomes
    nn.Identity. BNs elsewhere, or without running statistics, are left as they are."""
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if (type(conv) is nn.Conv2d and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
                    and bn.running_var is not None and bn.affine and conv.out_channels == bn.num_features):
                seq._modules[a] = fuse_conv_bn(conv, bn)
                seq._modules[b] = nn.Identity()
    return model

"""Convolution + batch norm + activation, the unit every model here is built from."""
from __future__ import annotations

import torch.nn as nn

LEAKY_SLOPE = 0.1  # Darknet's leaky ReLU

# Darknet's names, so YAML configs and .cfg files speak the same words.
ACTIVATIONS = {
    "leaky": lambda: nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    "mish": lambda: nn.Mish(inplace=True),
    "swish": lambda: nn.SiLU(inplace=True),
    "relu": lambda: nn.ReLU(inplace=True),
    "logistic": nn.Sigmoid,
    "linear": nn.Identity,
}


def make_act(name: str) -> nn.Module:
    """Build an activation by its Darknet name (leaky is slope LEAKY_SLOPE, as in Darknet)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation; with ``bn=False`` the conv carries a bias.

    Padding is ``dilation * (k // 2)`` (Darknet's ``pad=1``), so a stride-1 conv keeps H x W.
    Input [B, c_in, H, W] -> output [B, c_out, ceil(H / s), ceil(W / s)].
    """

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, *, groups: int = 1,
                 dilation: int = 1, act: str = "leaky", bn: bool = True):
        layers = [nn.Conv2d(c_in, c_out, k, s, dilation * (k // 2), dilation=dilation,
                            groups=groups, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.03))
        layers.append(make_act(act))
        super().__init__(*layers)
        self.c_in, self.c_out = c_in, c_out

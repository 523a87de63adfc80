"""SGD parameter groups, warm-up + cosine/poly schedules, and EMA weights."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Conv/FC weights decay; BatchNorm weights and every bias do not (decaying them only
    shrinks the scale/shift BN exists to learn)."""
    decay, no_decay, biases = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                biases.append(p)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                no_decay.append(p)
            else:
                decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay, "kind": "weight"},
            {"params": no_decay, "weight_decay": 0.0, "kind": "bn"},
            {"params": biases, "weight_decay": 0.0, "kind": "bias"}]


def build_optimizer(model: nn.Module, lr: float, momentum: float, weight_decay: float,
                    nesterov: bool = True, name: str = "sgd") -> torch.optim.Optimizer:
    """SGD (Darknet's and the paper's) or AdamW (faster from scratch on small sets; ``momentum``
    is its beta1, as in yolov5)."""
    groups = param_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    raise ValueError(f"--optimizer {name!r}: choose sgd or adamw")


def lr_factor(progress: float, schedule: str, lrf: float, power: float = 4.0) -> float:
    """Multiplier of lr0 at ``progress`` in [0, 1]: cosine or polynomial decay to ``lrf``."""
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        return lrf + (1 - lrf) * (1 + math.cos(math.pi * progress)) / 2
    if schedule == "poly":  # Darknet's policy=poly (power 4 in the CSPNet ImageNet cfgs)
        return lrf + (1 - lrf) * (1 - progress) ** power
    if schedule == "linear":
        return lrf + (1 - lrf) * (1 - progress)
    raise ValueError(f"--schedule {schedule!r}: choose cosine, poly or linear")


def set_lr(optimizer: torch.optim.Optimizer, step: int, total: int, warmup: int, *, lr0: float,
           schedule: str, lrf: float, momentum: float, warmup_momentum: float, warmup_bias_lr: float) -> float:
    """Set every group's lr (and momentum during warm-up) for optimiser step ``step``; returns lr.

    Warm-up ramps weights from 0 and biases down from ``warmup_bias_lr`` (yolov5's recipe: a
    large early bias lr lets objectness find the background prior fast)."""
    target = lr0 * lr_factor(step / max(total, 1), schedule, lrf)
    if step < warmup:
        f = step / warmup
        for g in optimizer.param_groups:
            start = warmup_bias_lr if g.get("kind") == "bias" else 0.0
            g["lr"] = start + (target - start) * f
            set_momentum(g, warmup_momentum + (momentum - warmup_momentum) * f)
    else:
        for g in optimizer.param_groups:
            g["lr"] = target
            set_momentum(g, momentum)
    return optimizer.param_groups[0]["lr"]


def set_momentum(group: dict, value: float) -> None:
    if "betas" in group:  # AdamW: momentum is beta1
        group["betas"] = (value, group["betas"][1])
    else:
        group["momentum"] = value


class ModelEMA:
    """Exponential moving average of weights and buffers; ``decay`` ramps up over ``tau``
    updates so early, noisy weights are forgotten fast (yolov5's ModelEMA)."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0):
        self.ema = copy.deepcopy(unwrap(model)).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        state = unwrap(model).state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(state[k].detach(), alpha=1 - d)
            else:
                v.copy_(state[k])


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model

"""Seeded models the app and export tests share."""
import torch

from detector.models import build_model


def seeded_prn() -> torch.nn.Module:
    """A seeded csppeleenet-prn (the smallest config) in eval mode, with non-trivial BN statistics
    and the head's training prior dropped (scores ~1e-5), so that scores spread around 0.25."""
    torch.manual_seed(0)
    model = build_model("csppeleenet-prn").eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
    with torch.no_grad():
        for conv in model.head.convs:
            conv.bias.zero_()
            conv.weight.mul_(4)
    return model

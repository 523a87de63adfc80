"""Shared heads and inputs for the engine tests."""
import torch

from detector.geometry import HeadSpec

YOLOV3 = HeadSpec(strides=(8, 16, 32),
                  anchors=(((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)),
                           ((116, 90), (156, 198), (373, 326))),
                  scale_x_y=(1.0, 1.0, 1.0), num_classes=80)
# Two small levels with scale_x_y != 1 and unequal anchor counts, so mix-ups show.
SMALL = HeadSpec(strides=(8, 16), anchors=(((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45))),
                 scale_x_y=(1.2, 1.05), num_classes=3)


def zero_maps(spec, img=64, batch=1, requires_grad=False):
    """Raw maps of zeros [B, A * (5 + nc), img / s, img / s] per level."""
    return [torch.zeros(batch, len(a) * spec.num_outputs, img // s, img // s, requires_grad=requires_grad)
            for a, s in zip(spec.anchors, spec.strides)]


def random_maps(spec, img=64, batch=2, std=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, len(a) * spec.num_outputs, img // s, img // s, generator=g) * std)
            for a, s in zip(spec.anchors, spec.strides)]


def anchor_view(p, spec, level):
    """[B, A * no, H, W] -> [B, A, H, W, no], the loss's own view of a level."""
    b, _, h, w = p.shape
    return p.view(b, len(spec.anchors[level]), spec.num_outputs, h, w).permute(0, 1, 3, 4, 2)

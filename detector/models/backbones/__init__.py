"""Backbone factories by name: each returns a module with ``out_specs`` and a dict forward."""
from .base import Backbone, Classifier
from .darknet import CSPDarknet53, Darknet53
from .peleenet import CSPPeleeNet, PeleeNet
from .resnext import CSPResNeXt50, ResNeXt50

BACKBONES = {
    "peleenet": PeleeNet,
    "csppeleenet": CSPPeleeNet,
    "darknet53": Darknet53,
    "cspdarknet53": CSPDarknet53,
    "resnext50": ResNeXt50,
    "cspresnext50": CSPResNeXt50,
}

# The paper's ImageNet classifiers: PeleeNet-family at 224 with dropout, the Darknet ones at 256.
CLASSIFIER_DEFAULTS = {"peleenet": (224, 0.05), "csppeleenet": (224, 0.05)}


def build_classifier(name: str, num_classes: int = 1000, **kwargs) -> Classifier:
    """An ImageNet classifier (GAP -> FC) over backbone ``name``, as the paper counts it."""
    _, dropout = CLASSIFIER_DEFAULTS.get(name, (256, 0.0))
    return Classifier(BACKBONES[name](**kwargs), num_classes, dropout)


__all__ = ["BACKBONES", "Backbone", "Classifier", "build_classifier", *[c.__name__ for c in BACKBONES.values()]]

"""Building blocks shared by backbones, necks, heads and the Darknet importer."""
from .attention import SAM
from .conv import ACTIVATIONS, LEAKY_SLOPE, ConvBNAct, make_act
from .maxout import Maxout
from .pooling import SPP
from .shortcut import partial_add

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "ConvBNAct", "make_act", "Maxout", "SAM", "SPP", "partial_add"]

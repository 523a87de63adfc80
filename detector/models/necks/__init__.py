"""Neck factories by name: each is built from the backbone's ``out_specs``."""
from .base import Neck
from .efm import EFM
from .fpn import FPN, PANetSPP
from .prn import PRN

NECKS = {"efm": EFM, "fpn": FPN, "panet_spp": PANetSPP, "prn": PRN}

__all__ = ["NECKS", "Neck", "EFM", "FPN", "PANetSPP", "PRN"]

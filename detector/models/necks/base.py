"""What every neck promises: built from the backbone's specs, declares its own."""
from __future__ import annotations

import torch.nn as nn

from ..specs import FeatureSpec, spec_map


class Neck(nn.Module):
    """Takes the backbone's ordered dict {"c2".."c5"} and returns {"p3".."p5"} (or a subset),
    each described in ``out_specs`` before any forward pass."""

    out_specs: list[FeatureSpec]

    @staticmethod
    def require(in_specs: list[FeatureSpec], names: tuple[str, ...], neck: str) -> list[FeatureSpec]:
        """The specs for ``names``, or a one-line error naming what the backbone lacks."""
        specs = spec_map(in_specs)
        missing = [n for n in names if n not in specs]
        if missing:
            raise ValueError(f"neck {neck!r} needs backbone features {missing}; the backbone gives "
                             f"{[s.name for s in in_specs]}")
        return [specs[n] for n in names]


def upsample() -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode="nearest")

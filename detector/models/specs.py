"""The typed contract between model stages."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """One feature map a stage emits: its name (``c3``/``p3``: level k has stride 2**k),
    channel count and stride relative to the network input."""

    name: str
    channels: int
    stride: int


def spec_map(specs: list[FeatureSpec]) -> dict[str, FeatureSpec]:
    """Index specs by name, refusing duplicates."""
    out = {s.name: s for s in specs}
    if len(out) != len(specs):
        raise ValueError(f"duplicate feature names in {[s.name for s in specs]}")
    return out

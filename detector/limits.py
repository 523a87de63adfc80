"""Caps checked before anything is allocated, so a hostile or mistyped file fails in one line.

Each cap is far above any model or dataset cspdet is meant for, and far below what takes a
machine down:

- ``MAX_PIXELS``: width x height of one image, 8192 x 8192 (67 Mpx, a 200 MB BGR array) unless
  ``$CSPDET_MAX_PIXELS`` says otherwise; checked on the file's header before decoding;
- ``MAX_INPUT_SIZE``: a network input side (model YAML ``img_size``, Darknet ``width``/``height``);
- ``MAX_CHANNELS``: filters / outputs / input channels of one Darknet layer;
- ``MAX_CLASSES``: classes of a dataset or model (V3Det's 13,204 and LVIS's 1,203 fit);
- ``MAX_PARAMETERS``: parameters of a whole model (4 GB of float32), counted on PyTorch's meta
  device, where building a model allocates nothing.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

MAX_PIXELS_ENV = "CSPDET_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 8192 * 8192
MAX_INPUT_SIZE = 8192
MAX_CHANNELS = 65536
MAX_CLASSES = 100_000
MAX_PARAMETERS = 1_000_000_000


def max_pixels() -> int:
    """The image pixel cap: ``$CSPDET_MAX_PIXELS`` (a positive integer) or DEFAULT_MAX_PIXELS."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"${MAX_PIXELS_ENV}={raw!r}: must be a positive integer (pixels per image)")
    return value


def check_cap(value: int, cap: int, what: str) -> None:
    """Raise ``ValueError('{what}={value} exceeds the cap of {cap}')`` when value > cap."""
    if value > cap:
        raise ValueError(f"{what}={value:,} exceeds the cap of {cap:,} (see detector/limits.py)")


def check_parameter_count(build: Callable[[], Iterable], what: str) -> None:
    """Build the modules ``build()`` returns on the meta device (no memory), and refuse them when
    their parameters together exceed MAX_PARAMETERS; ``what`` names the source in the error."""
    import torch

    with torch.device("meta"):
        count = sum(p.numel() for module in build() for p in module.parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(f"{what}: the model would have {count:,} parameters, over the cap of "
                         f"{MAX_PARAMETERS:,} (a width, filters or class count far too large?)")

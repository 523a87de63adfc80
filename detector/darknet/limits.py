"""Caps on a Darknet cfg's sizes (``detector.limits``), checked before a layer is planned, so
``width=100000`` or ``filters=1000000000`` is a ``file:line`` error instead of an allocation
traceback. Parameter totals are checked by the model builder on the meta device."""
from __future__ import annotations

from ..limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIZE, check_cap
from .cfg import DarknetConfig

# section type -> {integer key: cap}
CAPS: dict[str, dict[str, int]] = {
    "net": {"width": MAX_INPUT_SIZE, "height": MAX_INPUT_SIZE, "channels": MAX_CHANNELS},
    "convolutional": {"filters": MAX_CHANNELS},
    "connected": {"output": MAX_CHANNELS},
    "maxpool": {"out_channels": MAX_CHANNELS},
    "yolo": {"classes": MAX_CLASSES},
}


def check_cfg_limits(cfg: DarknetConfig, input_shape: tuple[int, int, int] | None = None) -> None:
    """Raise ValueError('file:line: key=value exceeds the cap of N ...') for any capped key of
    ``cfg`` (or side of an ``input_shape`` (C, H, W) planned instead of ``[net]``'s) too large."""
    for sec in (cfg.net, *cfg.layers):
        for key, cap in CAPS.get(sec.type, {}).items():
            check_cap(sec.get_int(key, 0), cap, f"{sec.where(key)}: {key}")
    if input_shape is not None:
        for name, value, cap in zip(("channels", "height", "width"), input_shape,
                                    (MAX_CHANNELS, MAX_INPUT_SIZE, MAX_INPUT_SIZE)):
            check_cap(value, cap, f"{cfg.source}: input {name}")

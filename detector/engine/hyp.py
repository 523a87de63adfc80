"""Hyper-parameter files: the ``hyp.yaml`` a run saves, and yolov5's ``hyp.scratch-*.yaml``.

Both read back through ``--hyp``. yolov5 names the loss gains ``box``, ``obj`` and ``cls``; here
they are ``box_gain``, ``obj_gain`` and ``cls_gain`` (``box`` is the box loss, ``ciou``), with the
same defaults and the same scaling by levels, image size and classes, so a number under ``box``
is read as yolov5's gain. yolov5 keys for things cspdet does not do are named in one warning and
ignored; any other key is an error naming the file and the key.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..data import AugmentConfig

OPTIM_KEYS = ("lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr")
LOSS_KEYS = ("box", "box_gain", "obj_gain", "cls_gain", "iou_thresh", "label_smoothing")
YOLOV5_GAINS = {"box": "box_gain", "obj": "obj_gain", "cls": "cls_gain"}
# yolov5 hyp keys without a counterpart here. iou_t is unused by yolov5's own loss; anchor_t is
# its anchor-ratio assignment, where cspdet assigns as Darknet does (``iou_thresh``).
YOLOV5_UNUSED = ("cls_pw", "obj_pw", "iou_t", "anchor_t", "fl_gamma", "perspective", "mixup", "copy_paste",
                 "anchors")


@dataclass
class HypFile:
    """A parsed hyp file: ``augment`` (AugmentConfig overrides, mosaic aside), ``train``
    (TrainConfig fields: optimiser, loss and ``mosaic``) and the yolov5 keys left ``unused``."""

    augment: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)


def augment_keys() -> set[str]:
    return {f.name for f in fields(AugmentConfig)} - {"mosaic"}


def parse_hyp(hyp: object, source: str | Path) -> HypFile:
    """A hyp mapping -> HypFile; ValueError naming ``source`` for an unknown key or a bad value."""
    if not isinstance(hyp, dict):
        raise ValueError(f"{source}: expected a mapping of key: value")
    out = HypFile()
    for key, value in hyp.items():
        key = str(key)
        if key in augment_keys():
            out.augment[key] = value
        elif key in (*OPTIM_KEYS, *LOSS_KEYS, "mosaic") and not (key == "box" and is_number(value)):
            out.train[key] = value
        elif key in YOLOV5_GAINS:
            out.train[YOLOV5_GAINS[key]] = value
        elif key in YOLOV5_UNUSED:
            out.unused.append(key)
        else:
            known = sorted(augment_keys() | {*OPTIM_KEYS, *LOSS_KEYS, *YOLOV5_GAINS, "mosaic"})
            raise ValueError(f"{source}: unknown key '{key}'; it takes {', '.join(known)} (and yolov5's "
                             f"{', '.join(YOLOV5_UNUSED)}, which are ignored)")
    both = [k for k, v in YOLOV5_GAINS.items() if k in hyp and v in hyp and (k != "box" or is_number(hyp[k]))]
    if both:
        raise ValueError(f"{source}: '{both[0]}' (yolov5's name) and '{YOLOV5_GAINS[both[0]]}' are the same gain; "
                         "give one")
    try:
        AugmentConfig(**out.augment, mosaic=out.train.get("mosaic", 1.0))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{source}: {e}") from None
    return out


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def augment_config(cfg) -> AugmentConfig:
    """A TrainConfig's augmentation: AugmentConfig defaults, ``cfg.augment`` overrides, ``cfg.mosaic`` (0 with
    ``cfg.rect``: a mosaic has no aspect ratio to keep, as in yolov5)."""
    unknown = sorted(set(cfg.augment) - augment_keys())
    if unknown:
        hint = " (mosaic has its own --mosaic)" if "mosaic" in unknown else ""
        raise ValueError(f"augment: unknown key(s) {unknown}{hint}; known: {sorted(augment_keys())}")
    return AugmentConfig(**cfg.augment, mosaic=0.0 if getattr(cfg, "rect", False) else cfg.mosaic)  # --rect: no mosaic


def hyp_dict(cfg) -> dict:
    """A TrainConfig's optimiser, loss and augmentation settings in yolov5's hyp.yaml order
    (``--hyp`` reads it back)."""
    keys = [k for k in (*OPTIM_KEYS, *LOSS_KEYS) if getattr(cfg, k) is not None]  # None: the model's own
    return {**{k: getattr(cfg, k) for k in keys}, **asdict(augment_config(cfg))}

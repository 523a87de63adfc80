"""What a training run is asked to do: ``TrainConfig``, saved in every checkpoint.

Kept apart from the training loop so ``cspdet train --help`` reads its defaults without
importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ARCH = "csppeleenet-efm"
WEIGHT_SUFFIXES = (".pt", ".weights")
CACHE_MODES = ("", "ram", "disk")
LOSSES = ("yolov5", "darknet", "auto")


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint so ``--resume`` needs nothing else."""

    weights: str = ""             # start from: a .pt, a Darknet .weights (with cfg) or a name; "" = scratch
    cfg: str = ""                 # architecture: model YAML/name or Darknet .cfg; "" = the weights' own
    model: str = ""               # the old --model: a .pt/.weights goes to weights, anything else to cfg
    freeze: str = ""              # N (first N Darknet layers / backbone stages) or "backbone"
    freeze_bn: bool = False       # every BatchNorm in eval mode: running statistics stay as loaded
    data: str = ""
    epochs: int = 100
    batch_size: int = 16
    img_size: int = 416
    nbs: int = 64                 # nominal batch: gradients accumulate up to it
    optimizer: str = "sgd"
    lr0: float = 0.01
    lrf: float = 0.01
    schedule: str = "cosine"
    momentum: float = 0.937
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    loss: str = "yolov5"          # yolov5 (gains below), darknet (the cfg's [yolo] keys), auto (darknet for a .cfg)
    box: str = "ciou"
    box_gain: float = 0.05        # loss gains before yolov5's scaling by levels, size and classes
    obj_gain: float = 1.0
    cls_gain: float = 0.5
    iou_thresh: float | None = None  # None: a Darknet cfg's own (none when absent), 0.213 for YAML models
    label_smoothing: float = 0.0
    ema: bool = True
    amp: bool = True              # on CUDA only
    sync_bn: bool = False
    multi_scale: bool = False
    mosaic: float = 1.0
    augment: dict = field(default_factory=dict)  # AugmentConfig overrides (``--hyp``), mosaic aside
    workers: int = 2
    seed: int = 0
    device: str = ""              # yolov5's --device: '' is CUDA when present, else the CPU
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False        # reuse project/name instead of making name2, name3...
    val_interval: int = 1
    val_batch_size: int = 0       # 0: same as batch_size
    plots: bool = True            # labels.jpg, train_batch*.jpg, results.png, PR_curve.png (yolov5's --noplots)
    patience: int = 100           # stop after this many epochs without a better fitness (0: never)
    cache: str = ""               # decoded images kept in "ram" or on "disk" (.npy), as yolov5's --cache
    rect: bool = False            # batches grouped by aspect ratio, no mosaic (yolov5's --rect)

    def __post_init__(self):
        if self.model:  # --model stays an alias: a .pt/.weights is --weights, a YAML/name/.cfg is --cfg
            slot = "weights" if Path(self.model).suffix.lower() in WEIGHT_SUFFIXES else "cfg"
            if getattr(self, slot):
                raise ValueError(f"--model {self.model}: an alias of --{slot}, which is given too; give one")
            setattr(self, slot, self.model)
            self.model = ""
        if not self.weights and not self.cfg:
            self.cfg = DEFAULT_ARCH
        if self.cache not in CACHE_MODES:
            raise ValueError(f"--cache {self.cache}: choose ram or disk")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss}: choose {', '.join(LOSSES)}")
        if self.rect and self.multi_scale:
            raise ValueError("--rect and --multi-scale: choose one (rectangular batches have one shape each)")

    @property
    def label(self) -> str:
        """The model's name in messages: the weights' file stem, else the architecture's."""
        return Path(self.weights or self.cfg).stem

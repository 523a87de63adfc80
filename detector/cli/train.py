"""``cspdet train``: train a detector on a YOLO- or COCO-format dataset (CPU, GPU, torchrun DDP)."""
from __future__ import annotations

from dataclasses import fields

# flag -> (type, help); defaults come from TrainConfig so there is one source of truth.
FLAGS = {
    "model": (str, "model YAML/name to train from scratch, or a .pt to fine-tune"),
    "data": (str, "dataset YAML (YOLO layout or COCO JSON)"),
    "epochs": (int, "epochs"), "batch_size": (int, "batch size per process"),
    "img_size": (int, "training and validation size"), "nbs": (int, "nominal batch (gradient accumulation)"),
    "optimizer": (str, "sgd (paper, Darknet) or adamw"), "lr0": (float, "initial learning rate"), "lrf": (float, "final lr as a fraction of lr0"),
    "schedule": (str, "cosine, poly or linear"), "momentum": (float, "SGD momentum"),
    "weight_decay": (float, "weight decay (none on BN and biases)"),
    "warmup_epochs": (float, "warm-up epochs"), "box": (str, "box loss: ciou, giou or mse"),
    "box_gain": (float, "box loss gain"), "obj_gain": (float, "objectness gain (x (img/640)^2)"),
    "cls_gain": (float, "class gain (x classes/80)"),
    "iou_thresh": (float, "extra anchors above this IoU also learn a GT (Darknet iou_thresh)"),
    "label_smoothing": (float, "class label smoothing"), "mosaic": (float, "mosaic probability"),
    "workers": (int, "data loader workers"), "seed": (int, "random seed"), "device": (str, "cpu or cuda"),
    "project": (str, "parent folder of run folders"), "name": (str, "run folder name (never overwritten)"),
    "val_interval": (int, "validate every N epochs"),
}
SWITCHES = {"multi_scale": "random input size per batch (0.5-1.5x)", "sync_bn": "SyncBatchNorm under DDP (CUDA)",
            "no_ema": "train without EMA weights", "no_amp": "no mixed precision on CUDA",
            "no_nesterov": "plain momentum"}


def add_parser(sub) -> None:
    from ..engine.train import TrainConfig

    defaults = TrainConfig()
    p = sub.add_parser("train", help="train a detector (resumable; torchrun for DDP)",
                       description="Train on a dataset YAML. Writes runs/train/expN with weights/last.pt, "
                                   "weights/best.pt, results.csv, results.png and PR_curve.png.")
    for name, (typ, text) in FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, default=getattr(defaults, name),
                       help=f"{text} (default: {getattr(defaults, name)})")
    for name, text in SWITCHES.items():
        p.add_argument("--" + name.replace("_", "-"), action="store_true", help=text)
    p.add_argument("--hyp", metavar="HYP.yaml",
                   help="augmentation hyper-parameters overriding the defaults (yolov5's hsv_h, hsv_s, hsv_v, "
                        "degrees, translate, scale, shear, flipud, fliplr)")
    p.add_argument("--resume", metavar="LAST_PT", help="continue a run from its weights/last.pt")
    p.set_defaults(run=run)


def config_from_args(args):
    from ..engine.train import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values.update(ema=not args.no_ema, amp=not args.no_amp, nesterov=not args.no_nesterov)
    if getattr(args, "hyp", None):
        values["augment"] = read_hyp(args.hyp)
    return TrainConfig(**values)


def read_hyp(path: str) -> dict:
    """A hyp YAML -> {key: number}. yolov5's hyp files also hold optimiser and loss keys; those
    are named here so the user moves them to their flags instead of losing them silently."""
    from ..data import AugmentConfig
    from ..io.text import load_yaml
    from . import CLIError

    try:
        hyp = load_yaml(path) or {}
    except (OSError, ValueError) as e:
        raise CLIError(f"--hyp {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(hyp, dict):
        raise CLIError(f"--hyp {path}: expected a mapping of key: value")
    known = {f.name for f in fields(AugmentConfig)} - {"mosaic"}
    unknown = sorted(set(hyp) - known)
    if unknown:
        raise CLIError(f"--hyp {path}: unknown key(s) {unknown}; it takes {sorted(known)} "
                       "(learning rate, loss gains and mosaic have their own flags)")
    try:
        AugmentConfig(**hyp)
    except (TypeError, ValueError) as e:
        raise CLIError(f"--hyp {path}: {e}") from None
    return hyp


def run(args) -> int:
    from ..engine.train import Trainer
    from . import CLIError

    if args.resume:
        trainer = Trainer.resume(args.resume)
    else:
        if not args.data:
            raise CLIError("--data DATA.yaml is required (or --resume LAST_PT)")
        trainer = Trainer(config_from_args(args))
    trainer.fit()
    return 0

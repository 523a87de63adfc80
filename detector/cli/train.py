"""``cspdet train``: train a detector on a YOLO- or COCO-format dataset (CPU, GPU, torchrun DDP)."""
from __future__ import annotations

from dataclasses import fields

from .argtypes import (img_size, nonnegative_float, nonnegative_int, positive_float, positive_int,
                       probability)

# flag -> (type, help); defaults come from TrainConfig so there is one source of truth.
FLAGS = {
    "weights": (str, "start from these weights: a cspdet .pt, a Darknet .weights (with --cfg) or a model name; "
                     "a head is rebuilt when the data has other classes, and the run says how many tensors it "
                     "loaded and re-initialised. Not given: train --cfg from scratch"),
    "cfg": (str, "architecture: a model YAML or name, or a Darknet .cfg; alone it trains from scratch, with "
                 "--weights X.weights it is the cfg those weights belong to (its class count as trained)"),
    "model": (str, "the older spelling: a .pt/.weights is read as --weights, a YAML/name/.cfg as --cfg"),
    "freeze": (str, "N or 'backbone': keep the first N units fixed (no gradient, BN statistics kept). A unit is a "
                    "cfg layer for Darknet models (layers 0..N-1), a backbone stage (stem, stage1, ...) for YAML "
                    "models; 'backbone' is all of a YAML backbone, or a Darknet cfg's layers before its neck "
                    "branches off the deepest feature (SPP included: 116 for yolov4, 13 for yolov3-tiny)"),
    "data": (str, "dataset YAML (YOLO layout or COCO JSON)"),
    "epochs": (positive_int, "epochs"), "batch_size": (positive_int, "batch size per process"),
    "img_size": (img_size, "training and validation size"), "nbs": (positive_int, "nominal batch (gradient accumulation)"),
    "optimizer": (str, "sgd (paper, Darknet) or adamw"), "lr0": (positive_float, "initial learning rate"), "lrf": (positive_float, "final lr as a fraction of lr0"),
    "schedule": (str, "cosine, poly or linear"), "momentum": (probability, "SGD momentum"),
    "weight_decay": (nonnegative_float, "weight decay (none on BN and biases)"),
    "warmup_epochs": (nonnegative_float, "warm-up epochs"),
    "loss": (str, "yolov5: means over cells and targets with the gains below; darknet: Darknet's sums, target-1 "
                  "objectness, ignore_thresh and assignment, read from a Darknet cfg's [yolo] keys (iou_loss, "
                  "iou_normalizer, obj_normalizer, iou_thresh, ignore_thresh, label_smooth_eps; docs/training.md); "
                  "auto: darknet for Darknet models, else yolov5"),
    "box": (str, "box loss: ciou, giou or mse"),
    "box_gain": (nonnegative_float, "box loss gain"), "obj_gain": (nonnegative_float, "objectness gain (x (img/640)^2)"),
    "cls_gain": (nonnegative_float, "class gain (x classes/80)"),
    "iou_thresh": (probability, "extra anchors above this IoU also learn a GT (Darknet's iou_thresh); not given: "
                                "a Darknet cfg's own (best anchor only where it has none, as yolov4-tiny), 0.213 "
                                "for YAML models"),
    "label_smoothing": (probability, "class label smoothing"), "mosaic": (probability, "mosaic probability"),
    "workers": (nonnegative_int, "data loader workers"), "seed": (nonnegative_int, "random seed"), "device": (str, "'' (CUDA when present, else CPU), cpu, 0, 0,1 or cuda:N"),
    "project": (str, "parent folder of run folders"),
    "name": (str, "run folder name (an existing one gets a number: exp2, exp3...; see --exist-ok)"),
    "val_interval": (positive_int, "validate every N epochs"),
    "patience": (nonnegative_int, "stop after N epochs without a better fitness (0: never), as yolov5"),
}
SWITCHES = {"freeze_bn": "keep every BatchNorm's running mean and variance as loaded (BN layers in eval mode; "
                         "their scale and shift still train): small fine-tuning batches then cannot shift "
                         "the statistics a model was trained with",
            "multi_scale": "random input size per batch (0.5-1.5x)", "sync_bn": "SyncBatchNorm under DDP (CUDA)",
            "no_ema": "train without EMA weights", "no_amp": "no mixed precision on CUDA",
            "no_nesterov": "plain momentum", "noplots": "save no plots (labels.jpg, train_batch*.jpg, results.png, "
                                                         "PR_curve.png)",
            "exist_ok": "write into project/name even if it exists (its results.csv starts afresh)",
            "rect": "rectangular batches, as yolov5: images grouped by aspect ratio, each batch at its own shape "
                    "(no mosaic), and validation batched the same way"}
ALIASES = {"img_size": ["--imgsz", "--img"]}  # yolov5's spellings


def add_parser(sub) -> None:
    from ..engine.config import TrainConfig

    defaults = TrainConfig()
    p = sub.add_parser("train", help="train a detector (resumable; torchrun for DDP)",
                       description="Train on a dataset YAML, from scratch (--cfg) or from weights (--weights), as "
                                   "yolov5 does. Writes runs/train/expN with opt.yaml, hyp.yaml, weights/last.pt, "
                                   "weights/best.pt, results.csv (yolov5's columns), results.png, labels.jpg, "
                                   "train_batch0-2.jpg, and one line per epoch on screen; then validates "
                                   "best.pt as yolov5 does (per-class table, PR/F1/P/R curves, "
                                   "confusion_matrix.png, val_batch0-2_labels.jpg and _pred.jpg).")
    for name, (typ, text) in FLAGS.items():
        # default None: config_from_args tells a flag given from one left out (--hyp fills those)
        p.add_argument("--" + name.replace("_", "-"), *ALIASES.get(name, []), type=typ, default=None,
                       help=f"{text} (default: {'none' if getattr(defaults, name) == '' else getattr(defaults, name)})")
    for name, text in SWITCHES.items():
        p.add_argument("--" + name.replace("_", "-"), action="store_true", help=text)
    p.add_argument("--hyp", metavar="HYP.yaml",
                   help="optimiser, loss and augmentation hyper-parameters overriding the defaults, where a flag "
                        "given wins: a run's hyp.yaml, or yolov5's hyp.scratch-*.yaml (its box, obj, cls gains are "
                        "--box-gain, --obj-gain, --cls-gain; keys cspdet has no use for, such as mixup or anchor_t, "
                        "are named in a warning)")
    p.add_argument("--cache", nargs="?", const="ram", choices=["ram", "disk"], default=None,
                   help="decode the images once and keep them in RAM or as .npy files on disk, as yolov5 "
                        "(--cache alone: ram)")
    p.add_argument("--resume", metavar="LAST_PT", help="continue a run from its weights/last.pt")
    p.set_defaults(run=run)


def config_from_args(args):
    from ..engine.config import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    values.update(ema=not args.no_ema, amp=not args.no_amp, nesterov=not args.no_nesterov, plots=not args.noplots)
    if getattr(args, "hyp", None):
        augment, train = read_hyp(args.hyp)
        values["augment"] = augment
        values.update({k: v for k, v in train.items() if k not in values})  # a flag given wins
    try:
        return TrainConfig(**values)
    except ValueError as e:
        from . import CLIError

        raise CLIError(str(e)) from None


def read_hyp(path: str) -> tuple[dict, dict]:
    """A hyp YAML (a run's hyp.yaml or yolov5's) -> (augmentation {key: number}, TrainConfig values).
    A value is checked as its flag checks it; yolov5 keys not used here are named in one warning."""
    import argparse
    import warnings

    from ..engine.hyp import is_number, parse_hyp
    from ..io.text import load_yaml
    from . import CLIError

    try:
        hyp = parse_hyp(load_yaml(path) or {}, path)
    except (OSError, ValueError) as e:  # each message starts with the file's name
        raise CLIError(f"--hyp {str(e).splitlines()[0]}") from None
    for key, value in hyp.train.items():
        check = FLAGS[key][0] if key in FLAGS else nonnegative_float
        try:
            check(str(value) if is_number(value) or key == "box" else repr(value))
        except argparse.ArgumentTypeError as e:
            raise CLIError(f"--hyp {path}: {key}: {e}") from None
    if hyp.unused:
        warnings.warn(f"--hyp {path}: yolov5 key(s) {', '.join(hyp.unused)} have no counterpart in cspdet and "
                      "are ignored", UserWarning, stacklevel=2)
    return hyp.augment, hyp.train


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

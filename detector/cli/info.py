"""``cspdet info``: per-layer parameters, FLOPs and CIO of a detector or an ImageNet classifier."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .argtypes import img_size as img_size_arg

DEFAULT_CONFIG = "csppeleenet-efm-sam"


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="count parameters, FLOPs and CIO per layer",
                       description="Count a model's parameters (conv+FC weights, as the paper), "
                                   "GFLOPs (2 x MACs, Darknet's BFLOPs) and CIO, per layer and in total.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", help=f"model YAML path or name in configs/models (default: {DEFAULT_CONFIG})")
    src.add_argument("--backbone", help="a backbone name, e.g. csppeleenet (with --classifier: ImageNet classifier)")
    src.add_argument("--cfg", help="a Darknet .cfg (counted exactly as Darknet builds it)")
    src.add_argument("--weights", help="a cspdet .pt checkpoint or an official model by name (cspdet models)")
    p.add_argument("--classifier", action="store_true", help="with --backbone: add GAP + FC to 1000 classes")
    p.add_argument("--img-size", "--imgsz", "--img", type=img_size_arg, nargs="+", metavar="N",
                   help="input size N or H W (default: the config's, 224/256 for classifiers)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--no-layers", action="store_true", help="print totals only")
    p.add_argument("--plot", metavar="FILE.png", help="save per-layer FLOPs and CIO bars")
    p.set_defaults(run=run)


def build(args):
    """(model, title, default input size) for the chosen source."""
    from ..models import BACKBONES, build_classifier, build_model, load_config
    from ..models.backbones import CLASSIFIER_DEFAULTS
    from . import CLIError

    if args.backbone:
        if args.backbone not in BACKBONES:
            raise CLIError(f"--backbone {args.backbone!r} unknown; choose from {', '.join(BACKBONES)}")
        size = CLASSIFIER_DEFAULTS.get(args.backbone, (256, 0))[0]
        if args.classifier:
            return build_classifier(args.backbone), f"{args.backbone} classifier", size
        return BACKBONES[args.backbone](), f"{args.backbone} backbone", size
    if args.classifier:
        raise CLIError("--classifier needs --backbone NAME")
    if args.cfg or args.weights:
        from ..models.loading import load_detector

        model = load_detector(args.cfg or args.weights)
        return model, Path(args.cfg or args.weights).stem, model.img_size
    cfg = load_config(args.config or DEFAULT_CONFIG)
    return build_model(cfg), cfg.name, cfg.img_size


def img_size(args, default: int) -> tuple[int, int]:
    from . import CLIError

    size = args.img_size or [default]
    if len(size) > 2 or min(size) < 32:
        raise CLIError(f"--img-size takes N or H W of at least 32, got {size}")
    return (size[0], size[-1])


def print_table(prof, title: str, layers: bool, out=None) -> None:
    out = out or sys.stdout
    if layers:
        print(f"{'#':>4} {'layer':<48} {'type':<18} {'output':<20} {'params':>10} {'GFLOPs':>9} {'CIO':>11}", file=out)
        for i, s in enumerate(prof.layers):
            shape = "x".join(map(str, s.out_shape[1:]))
            print(f"{i:>4} {s.name[-48:]:<48} {s.kind:<18} {shape:<20} {s.params:>10,} "
                  f"{s.flops / 1e9:>9.4f} {s.cio:>11,}", file=out)
    h, w = prof.input_shape[2:]
    print(f"{title} @ {h}x{w}: params {prof.params / 1e6:.3f}M (conv+FC weights), "
          f"{prof.params_total / 1e6:.3f}M trainable, {prof.gflops:.3f} GFLOPs, CIO {prof.cio / 1e6:.2f}M, "
          f"{len(prof.layers)} counted layers", file=out)


def run(args) -> int:
    from ..models import profile_model

    model, title, default = build(args)
    prof = profile_model(model, img_size(args, default))
    if args.json:
        d = prof.to_dict()
        d["model"] = title
        print(json.dumps(d))
    else:
        print_table(prof, title, not args.no_layers)
    if args.plot:
        from .plots import plot_profile

        path = plot_profile(prof, title, args.plot)
        print(f"saved {path}", file=sys.stderr if args.json else sys.stdout)
    return 0

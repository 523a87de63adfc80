"""``cspdet prune``: remove whole channels from a model (Torch-Pruning's DependencyGraph) and
write an ordinary checkpoint that train, val, export, bench, info and every backend load."""
from __future__ import annotations

from .argtypes import float_in, img_size, positive_float, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="structured pruning: fewer channels, an ordinary smaller checkpoint",
                       description="Remove a share of the channels of every prunable layer (--ratio), or as many as "
                                   "it takes to reach --target-gflops, ranked by the L2 norm of the weights they "
                                   "couple (CSP splits, routes, concatenations, adds and Maxout groups are pruned "
                                   "together). The head's output convs, grouped convolutions and Darknet partial "
                                   "adds of unequal widths are left whole and listed. The result is checked against "
                                   "the original and written to runs/prune/expN/pruned.pt; fine-tune it with "
                                   "cspdet train --weights (docs/power.md).")
    p.add_argument("--weights", required=True,
                   help="a cspdet .pt, a YAML config or name (random weights), a Darknet .cfg or .weights (with "
                        "--cfg), or an official model by name")
    p.add_argument("--cfg", default=None, help="Darknet .cfg to go with --weights X.weights")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--ratio", type=float_in(0.0, 0.95), help="share of each layer's channels to remove (0..0.95)")
    how.add_argument("--target-gflops", type=positive_float, metavar="G",
                     help="remove channels until the model costs at most G GFLOPs at --img-size")
    p.add_argument("--img-size", type=img_size, default=None, help="size GFLOPs are counted at (default: the model's)")
    p.add_argument("--round-to", type=positive_int, default=None, metavar="N",
                   help="keep every pruned width a multiple of N (SIMD-friendly widths for CPUs)")
    p.add_argument("--project", default="runs/prune", help="parent folder of run folders")
    p.add_argument("--name", default="exp", help="run folder name (exp, exp2, ... never overwritten)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..compress.prune import INSTALL, prune_model
    from ..io.files import new_run_dir
    from ..models.checkpoint import save_checkpoint
    from ..models.loading import load_detector
    from . import CLIError

    try:
        import torch_pruning  # noqa: F401  (checked before the model loads)
    except ImportError:
        raise CLIError(INSTALL) from None
    model = load_detector(args.weights, cfg=args.cfg)
    if not hasattr(model, "with_classes"):
        raise CLIError(f"--weights {args.weights}: not a detector (a classifier cfg cannot be pruned here)")
    goal = f"--ratio {args.ratio:g}" if args.ratio is not None else f"--target-gflops {args.target_gflops:g}"
    print(f"pruning {args.weights} ({goal})...")
    result = prune_model(model, ratio=args.ratio, target_gflops=args.target_gflops, img_size=args.img_size,
                         round_to=args.round_to)
    out = new_run_dir(args.project, args.name) / "pruned.pt"
    save_checkpoint(out, result.model, pruned={"source": str(args.weights), "ratio": result.ratio,
                                                 "img_size": result.img_size, "gflops": list(result.gflops),
                                                 "params": list(result.params), "left_whole": result.left_whole})
    print(result.line())
    if result.left_whole:
        print(f"left whole ({len(result.left_whole)}): " + "; ".join(result.left_whole))
    print(f"wrote {out}; fine-tune it with: cspdet train --weights {out} --data DATA.yaml")
    return 0

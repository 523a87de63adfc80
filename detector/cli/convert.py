"""``cspdet convert``: Darknet .cfg + .weights -> cspdet .pt checkpoint, and back.

The .weights header (version major/minor/revision and ``seen``, the images trained on) goes into
the checkpoint as ``darknet_header`` and comes back out, so .weights -> .pt -> .weights gives the
same bytes whatever Darknet version wrote the file.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert Darknet .cfg/.weights to a cspdet .pt (and back)",
                       description="Write a cspdet checkpoint (model config, class names, weights) from an "
                                   "official Darknet model, or write a Darknet-architecture .pt back to "
                                   ".weights, with its .cfg and .names beside it (X.weights -> X.cfg, X.names: "
                                   "a fine-tuned model's cfg has its own class count). Loading checks the float "
                                   "count against the cfg exactly.")
    p.add_argument("--cfg", help="Darknet .cfg (needed with .weights input)")
    p.add_argument("--weights", required=True,
                   help="Darknet .weights, an official model by name (cspdet models), or a cspdet .pt to "
                        "export to .weights")
    p.add_argument("--names", help="class names file, one per line (e.g. coco.names)")
    p.add_argument("-o", "--output", required=True, help="output .pt or .weights")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..models.checkpoint import save_checkpoint
    from ..models.loading import load_detector, read_names
    from . import CLIError

    out = Path(args.output)
    if out.exists() and not args.force:
        raise CLIError(f"-o {out}: already exists (pass --force to overwrite)")
    names = read_names(args.names) if args.names else None
    model = load_detector(args.weights, cfg=args.cfg, names=names)
    if names is not None and len(names) != model.num_classes:
        raise CLIError(f"--names {args.names}: {len(names)} names but the model predicts {model.num_classes} classes")
    if out.suffix == ".weights":
        if not hasattr(model, "save_darknet_weights"):
            raise CLIError(f"-o {out}: only Darknet-architecture models can be written as .weights")
        companions = {out.with_suffix(".cfg"): model.cfg_text, out.with_suffix(".names"): "".join(
            f"{n}\n" for n in model.names)}
        for path, text in companions.items():  # the same text already there is no conflict
            if path.exists() and not args.force and path.read_text() != text:
                raise CLIError(f"-o {out}: {path.name} beside it exists with other content (pass --force to overwrite)")
        if getattr(model, "weights_header", None) is None and Path(args.weights).suffix == ".pt":
            model.weights_header = stored_header(Path(args.weights))
        model.save_darknet_weights(out)
        for path, text in companions.items():
            path.write_text(text)
    elif out.suffix == ".pt":
        header = getattr(model, "weights_header", None)
        save_checkpoint(out, model, **({"darknet_header": dataclasses.asdict(header)} if header else {}))
    else:
        raise CLIError(f"-o {out}: output must end in .pt or .weights")
    beside = f" and {out.stem}.cfg/.names beside it" if out.suffix == ".weights" else ""
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}{beside} ({model.num_classes} classes, {params:,} parameters)")
    return 0


def stored_header(path: Path):
    """The WeightsHeader ``convert`` kept in a checkpoint, or None (save_weights' default then)."""
    from ..darknet.weights import WeightsHeader
    from ..models.checkpoint import load_checkpoint

    fields = load_checkpoint(path).get("darknet_header")
    if fields is None:
        return None
    try:
        return WeightsHeader(**{k: int(fields[k]) for k in ("major", "minor", "revision", "seen")})
    except (TypeError, KeyError, ValueError):
        raise ValueError(f"{path}: checkpoint entry 'darknet_header' is malformed: {fields!r}") from None
